#!/usr/bin/env bash
# Regenerates the test utterances under clips/ (16 kHz mono 16-bit WAV) and clips.tsv.
# Mandarin is spoken from tone-numbered pinyin (espeak-ng's `cmn` voice misreads Han characters);
# third-tone sandhi is written as spoken (ni2 hao3) because espeak-ng does not apply it.
# Each clip gets 0.25 s of silence on both sides, as a VAD-cut turn would.
# TEL=1 also passes every clip through 8 kHz (phone band) and back.
set -euo pipefail
cd "$(dirname "$0")"
out=clips
mkdir -p "$out"
rm -f "$out"/*.wav
tsv="$out/clips.tsv"
: > "$tsv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

finish() { # raw.wav name locale reference
  local chain=(rate 16000 pad 0.25 0.25)
  if [[ "${TEL:-0}" == 1 ]]; then chain=(rate 8000 sinc 300-3400 rate 16000 pad 0.25 0.25); fi
  sox "$1" -r 16000 -c 1 -b 16 "$out/$2.wav" "${chain[@]}" norm -3
  printf '%s\t%s\t%s\n' "$2.wav" "$3" "$4" >> "$tsv"
}

zh() { # name pinyin reference
  espeak-ng -v cmn-latn-pinyin -s 150 -w "$tmp/raw.wav" "$2"
  finish "$tmp/raw.wav" "$1" zh-CN "$3"
}
en() { # name text
  espeak-ng -v en-us -s 160 -w "$tmp/raw.wav" "$2"
  finish "$tmp/raw.wav" "$1" en-US "$2"
}

zh zh01 "wo3 ming2 tian1 huan2 san1 qian1 wu3"            "我明天还三千五"
zh zh02 "wo3 xian4 zai4 bu4 fang1 bian4"                   "我现在不方便"
zh zh03 "ni3 men5 shi4 na3 li3"                            "你们是哪里"
zh zh04 "wo2 yi3 jing1 huan2 le5"                          "我已经还了"
zh zh05 "qing3 zhuan3 ren2 gong1"                          "请转人工"
zh zh06 "bu2 yao4 zai4 da3 le5"                            "不要再打了"
zh zh07 "ni2 hao3"                                         "你好"
zh zh08 "wo3 xia4 zhou1 wu3 huan2 qian2"                   "我下周五还钱"
zh zh09 "wo3 mei2 you3 qian2"                              "我没有钱"
zh zh10 "ni3 da3 cuo4 le5"                                 "你打错了"
zh zh11 "hao3 de5 mei2 wen4 ti2"                           "好的没问题"
zh zh12 "wo3 shi4 ben2 ren2"                               "我是本人"
zh zh13 "wo3 zai4 kai1 hui4"                               "我在开会"
zh zh14 "ke2 yi3 fen1 qi1 ma5"                             "可以分期吗"
zh zh15 "qing3 ming2 tian1 zai4 da3 lai2"                  "请明天再打来"
zh zh16 "wo3 bu2 ren4 shi5 zhe4 ge5 ren2"                  "我不认识这个人"

en en01 "yes I can pay tomorrow"
en en02 "who is calling"
en en03 "I already paid"
en en04 "please stop calling me"
en en05 "I want to speak to a person"
en en06 "I can't talk right now"
en en07 "call me back next week"
en en08 "how much do I owe"
en en09 "this is the wrong number"
en en10 "I will pay five hundred dollars on Friday"

# Non-speech turns: the guards must return an empty, rejected transcript for these.
sox -n -r 16000 -c 1 -b 16 "$out/none01_silence.wav" trim 0 2
printf '%s\t%s\t%s\n' none01_silence.wav none "" >> "$tsv"
sox -n -r 16000 -c 1 -b 16 "$out/none02_noise.wav" synth 2 whitenoise vol 0.3
printf '%s\t%s\t%s\n' none02_noise.wav none "" >> "$tsv"
sox -n -r 16000 -c 1 -b 16 "$out/none03_hum.wav" synth 2 sine 50 sine 150 vol 0.4
printf '%s\t%s\t%s\n' none03_hum.wav none "" >> "$tsv"
echo "wrote $(wc -l < "$tsv") clips to $out/"
