#!/usr/bin/env bash
# Builds the labelled CPD set: 8 kHz mono 16-bit WAVs + labels.tsv + transcripts.tsv.
# Reproducible: espeak-ng is deterministic and every sox call runs with -R (fixed seeds).
# Usage: ./make_set.sh [outdir]   (default: ./set)
set -euo pipefail
OUT=${1:-"$(dirname "$0")/../tests/data/cpd"}
rm -rf "$OUT"; mkdir -p "$OUT"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
SOX="sox -R -V1"
printf 'file\tlabel\tnotes\n' > "$OUT/labels.tsv"
printf 'file\tlocale\tspeech_start_ms\tspeech_end_ms\ttext\n' > "$OUT/transcripts.tsv"
N=0

# Telephone-band conversion of any input to 8 kHz mono 16-bit.
tel() { $SOX "$1" -r 8000 -c 1 -b 16 "$2" highpass 250 lowpass 3400; }

# clip NAME LABEL STAGE LOCALE "TRANSCRIPT" SEGMENTS...
# segments: sil D | tts VOICE SPEED PITCH "TEXT" | sine F D [AMP] | dual F1 F2 D [AMP]
#           | cad F1 F2 ON OFF COUNT [AMP]  (F2=0 for a single tone)
#           | gain DB | noise white|pink|brown DB | trim D
clip() {
  local name=$1 label=$2 stage=$3 loc=$4 text=$5; shift 5
  local k=0 t=0 s_start=-1 s_end=-1 gain=0 noise="" ndb=0 trim="" files=() d seen=()
  rm -f "$TMP"/seg_*.wav
  while (($#)); do
    local f; f=$(printf '%s/seg_%03d.wav' "$TMP" "$k"); k=$((k+1))
    case $1 in
      sil) $SOX -n -r 8000 -c 1 -b 16 "$f" trim 0 "$2"; shift 2 ;;
      tts) espeak-ng -v "$2" -s "$3" -p "$4" -w "$TMP/raw.wav" "$5"
           $SOX "$TMP/raw.wav" -r 8000 -c 1 -b 16 "$f" highpass 250 lowpass 3400 norm -3 \
             silence 1 0.02 0.3% reverse silence 1 0.02 0.3% reverse
           s_start=$( [ "$s_start" = -1 ] && echo "$t" || echo "$s_start")
           # A repeated announcement is one transcript: its span ends with the first copy.
           d=$(soxi -D "$f")
           if [[ " ${seen[*]:-} " != *" ${5// /_} "* ]]; then s_end=$(awk -v a="$t" -v b="$d" 'BEGIN{print a+b}'); fi
           seen+=("${5// /_}"); shift 5 ;;
      sine) $SOX -n -r 8000 -c 1 -b 16 "$f" synth "$3" sine "$2" vol "${4:-0.3}"; shift 3; [[ ${1:-} =~ ^0\.[0-9]+$ ]] && shift || true ;;
      dual) $SOX -n -r 8000 -c 1 -b 16 "$f" synth "$4" sine "$2" sine "$3" remix 1-2 vol "${5:-0.2}"; shift 4; [[ ${1:-} =~ ^0\.[0-9]+$ ]] && shift || true ;;
      cad) local f1=$2 f2=$3 on=$4 off=$5 cnt=$6 amp=0.25; shift 6
           if [[ ${1:-} =~ ^0\.[0-9]+$ ]]; then amp=$1; shift; fi
           local parts=() i
           for ((i=0;i<cnt;i++)); do
             if [ "$f2" = 0 ]; then $SOX -n -r 8000 -c 1 -b 16 "$TMP/c_on$i.wav" synth "$on" sine "$f1" vol "$amp"
             else $SOX -n -r 8000 -c 1 -b 16 "$TMP/c_on$i.wav" synth "$on" sine "$f1" sine "$f2" remix 1-2 vol "$amp"; fi
             $SOX -n -r 8000 -c 1 -b 16 "$TMP/c_off$i.wav" trim 0 "$off"
             parts+=("$TMP/c_on$i.wav" "$TMP/c_off$i.wav")
           done
           $SOX "${parts[@]}" "$f" ;;
      gain) gain=$2; shift 2; continue ;;
      noise) noise=$2; ndb=$3; shift 3; continue ;;
      trim) trim=$2; shift 2; continue ;;
      *) echo "bad segment $1 in $name" >&2; exit 1 ;;
    esac
    files+=("$f")
    t=$(awk -v a="$t" -v b="$(soxi -D "$f")" 'BEGIN{print a+b}')
  done
  local file; file=$(printf '%03d_%s.wav' "$N" "$name")
  $SOX "${files[@]}" "$TMP/cat.wav"
  # Per-class length caps keep the set near 6 MB; every decision lands well before them.
  local cap; case $name in m_*|a_*) cap=4.8 ;; t_*) cap=4.5 ;; f_*) cap=4.0 ;; s_*) cap=3.5 ;; h_*|hard_*) cap=4.5 ;; *) cap="" ;; esac
  if [ -n "$cap" ] && { [ -z "$trim" ] || awk -v a="$trim" -v b="$cap" 'BEGIN{exit !(a>b)}'; }; then trim=$cap; fi
  if [ -n "$trim" ]; then $SOX "$TMP/cat.wav" "$TMP/cat2.wav" trim 0 "$trim"; mv "$TMP/cat2.wav" "$TMP/cat.wav"; fi
  if [ "$gain" != 0 ]; then $SOX "$TMP/cat.wav" "$TMP/cat2.wav" gain "$gain"; mv "$TMP/cat2.wav" "$TMP/cat.wav"; fi
  if [ -n "$noise" ]; then
    d=$(soxi -D "$TMP/cat.wav")
    $SOX -n -r 8000 -c 1 -b 16 "$TMP/n.wav" synth "$d" "${noise}noise" gain "$ndb"
    $SOX -m "$TMP/cat.wav" "$TMP/n.wav" "$TMP/cat2.wav"; mv "$TMP/cat2.wav" "$TMP/cat.wav"
  fi
  $SOX "$TMP/cat.wav" -r 8000 -c 1 -b 16 "$OUT/$file"
  # Fixed split by clip number in pairs (0,1 tune; 2,3 held out; ...): clips are written in
  # en/zh pairs, so both halves get both languages of every class.
  local split; split=$( (((N / 2) % 2)) && echo heldout || echo tune )
  printf '%s\t%s\tsplit=%s stage=%s locale=%s%s\n' "$file" "$label" "$split" "$stage" "$loc" \
    "$( [ -n "$noise" ] && echo " noise=$noise$ndb" )" >> "$OUT/labels.tsv"
  if [ -n "$text" ] && [ "$s_start" != -1 ]; then
    printf '%s\t%s\t%d\t%d\t%s\n' "$file" "$loc" "$(awk -v a="$s_start" 'BEGIN{printf "%d", a*1000}')" \
      "$(awk -v a="$s_end" 'BEGIN{printf "%d", a*1000}')" "$text" >> "$OUT/transcripts.tsv"
  fi
  N=$((N+1))
}
EN=en-us; ZH=cmn-latn-pinyin
BEEP="sine 1000 0.5 0.4"

# ---------- human greetings (answered) ----------
clip h_en_hello human answered en-US "Hello?" sil 0.5 tts $EN+m3 160 50 "Hello?" sil 1.5
clip h_zh_wei human answered zh-CN "喂？" sil 0.7 tts $ZH+m2 170 45 "wei2?" sil 1.5
clip h_en_whos human answered en-US "Hello, who's this?" sil 0.4 tts $EN+f2 175 60 "Hello, who's this?" sil 1.5
clip h_zh_weinihao human answered zh-CN "喂，你好" sil 0.6 tts $ZH+f2 160 55 "wei2, ni3 hao3" sil 1.5
clip h_en_yeah human answered en-US "Yeah, who's this?" sil 0.9 tts $EN+m1 185 40 "Yeah, who's this?" sil 1.5
clip h_zh_nawei human answered zh-CN "哪位？" sil 0.5 tts $ZH+m3 180 50 "na3 wei4?" sil 1.5
clip h_en_hi human answered en-US "Hi." sil 1.2 tts $EN+f4 150 70 "Hi." sil 1.5 noise white -42
clip h_zh_weinawei human answered zh-CN "喂，哪位？" sil 0.3 tts $ZH+f4 175 65 "wei2, na3 wei4?" sil 1.5 noise pink -38
clip h_en_yes human answered en-US "Yes?" sil 0.8 tts $EN+m7 140 35 "Yes?" sil 1.5 gain -8
clip h_zh_nihao human answered zh-CN "你好" sil 1.0 tts $ZH 150 50 "ni3 hao3" sil 1.5 gain -6
clip h_en_speaking human answered en-US "Speaking." sil 0.6 tts en-gb+m2 165 50 "Speaking." sil 1.5 noise brown -30
clip h_zh_shuia human answered zh-CN "喂，谁啊？" sil 0.5 tts $ZH+m4 190 40 "wei2, shui2 a5?" sil 1.5
clip h_en_hello2 human answered en-US "Hello? Hello?" sil 0.5 tts $EN+f3 170 55 "Hello?" sil 1.6 tts $EN+f3 170 60 "Hello?" sil 1.5
clip h_zh_wei2 human answered zh-CN "喂？喂？" sil 0.6 tts $ZH+f3 165 60 "wei2?" sil 1.5 tts $ZH+f3 165 62 "wei2?" sil 1.5
clip h_en_hey human answered en-US "Hey, what's up?" sil 0.4 tts en-us-nyc 180 50 "Hey, what's up?" sil 1.5 noise white -36
clip h_zh_shiwo human answered zh-CN "是我" sil 0.7 tts $ZH+m1 160 45 "shi4 wo3" sil 1.5 noise white -40
clip h_en_goodmorning human answered en-US "Good morning." sil 0.5 tts $EN+f1 160 65 "Good morning." sil 1.5 gain -4
clip h_zh_zenmele human answered zh-CN "喂，怎么了？" sil 0.4 tts $ZH+m2 185 50 "wei2, zen3 me5 le5?" sil 1.5
clip h_en_uhhello human answered en-US "Uh, hello?" sil 1.0 tts $EN+m2 150 45 "Uh," sil 0.35 tts $EN+m2 155 50 "hello?" sil 1.5
clip h_zh_aini human answered zh-CN "哎，你好" sil 0.5 tts $ZH+f1 170 60 "ai1, ni3 hao3" sil 1.5 noise pink -34
clip h_en_helloyes human answered en-US "Hello, yes?" sil 0.6 tts $EN+f5 165 55 "Hello, yes?" sil 1.5 gain -10
clip h_zh_duinishuo human answered zh-CN "对，你说" sil 0.8 tts $ZH+f5 175 55 "dui4, ni3 shuo1" sil 1.5
clip h_en_thisismike human answered en-US "Hello, this is Mike." sil 0.5 tts $EN+m4 175 48 "Hello, this is Mike." sil 1.5
clip h_zh_weiniyaozhaoshui human answered zh-CN "喂，你找谁？" sil 0.6 tts $ZH+m5 180 50 "wei2, ni3 zhao3 shui2?" sil 1.5 noise brown -28
# hard humans: long talker, late answer, noisy line
clip hard_en_longtalker human answered en-US "Hello, yes, this is Mike speaking, who is calling please?" sil 0.5 tts $EN+m3 170 50 "Hello, yes, this is Mike speaking, who is calling please?" sil 1.5
clip hard_zh_longtalker human answered zh-CN "喂，你好，我是张三，请问有什么事吗？" sil 0.5 tts $ZH+m2 175 50 "wei2, ni3 hao3, wo3 shi4 zhang1 san1, qing3 wen4 you3 shen2 me5 shi4 ma5?" sil 1.5
clip hard_en_late human answered en-US "Hello?" sil 2.2 tts $EN+f2 160 55 "Hello?" sil 1.5
clip hard_zh_noisy human answered zh-CN "喂，你好" sil 0.5 tts $ZH+f3 170 55 "wei2, ni3 hao3" sil 1.5 noise pink -22

# ---------- answering machines / voicemail (answered) ----------
clip m_en_john machine answered en-US "Hi, you've reached John. I can't come to the phone right now. Please leave a message after the tone." sil 0.4 tts $EN+m3 170 50 "Hi, you've reached John. I can't come to the phone right now. Please leave a message after the tone." sil 0.4 $BEEP sil 0.5 trim 9
clip m_zh_bufangbian machine answered zh-CN "您好，我现在不方便接听，请在嘀声后留言。" sil 0.5 tts $ZH+f2 165 55 "nin2 hao3, wo3 xian4 zai4 bu4 fang1 bian4 jie1 ting1, qing3 zai4 di1 sheng1 hou4 liu2 yan2." sil 0.3 $BEEP sil 0.5
clip m_en_sarah machine answered en-US "Hello, this is Sarah. Sorry I missed your call. Leave your name and number and I'll call you back." sil 0.3 tts $EN+f2 175 62 "Hello, this is Sarah. Sorry I missed your call. Leave your name and number and I'll call you back." sil 1.0 trim 8
clip m_zh_xiaowang machine answered zh-CN "你好，我是小王，请留下您的姓名和电话。" sil 0.6 tts $ZH+m3 170 45 "ni3 hao3, wo3 shi4 xiao3 wang2, qing3 liu2 xia4 nin2 de5 xing4 ming2 he2 dian4 hua4." sil 1.0
clip m_en_vmnumber machine answered en-US "You have reached the voicemail of five five five, one two three four. Please record your message at the tone." sil 0.5 tts $EN+f4 160 50 "You have reached the voicemail of five five five, one two three four. Please record your message at the tone." sil 0.3 sine 1000 0.6 0.3 sil 0.4 trim 9
clip m_zh_xinxiang machine answered zh-CN "欢迎使用语音信箱，请在嘀声后开始录音。" sil 0.4 tts $ZH+f4 160 60 "huan1 ying2 shi3 yong4 yu3 yin1 xin4 xiang1, qing3 zai4 di1 sheng1 hou4 kai1 shi3 lu4 yin1." sil 0.5 sine 1400 0.4 0.3 sil 0.5 noise white -45
clip m_en_acme machine answered en-US "Thank you for calling Acme Lending. Our office is now closed. Please leave a message." sil 0.7 tts en-gb+f3 165 55 "Thank you for calling Acme Lending. Our office is now closed. Please leave a message." sil 0.5 $BEEP sil 0.5 trim 9
clip m_zh_kaihui machine answered zh-CN "我现在正在开会，请稍后再拨，或者留言。" sil 0.5 tts $ZH+m1 180 50 "wo3 xian4 zai4 zheng4 zai4 kai1 hui4, qing3 shao1 hou4 zai4 bo1, huo4 zhe3 liu2 yan2." sil 1.0 gain -6
clip m_en_notavail machine answered en-US "The person you are calling is not available. Please leave a message after the beep." sil 0.4 tts $EN+m1 155 45 "The person you are calling is not available. Please leave a message after the beep." sil 0.3 sine 850 0.5 0.35 sil 0.4 trim 9
clip m_zh_wufajieting machine answered zh-CN "您拨打的用户现在无法接听，请在嘀声后留言。" sil 0.3 tts $ZH+f1 170 55 "nin2 bo1 da3 de5 yong4 hu4 xian4 zai4 wu2 fa3 jie1 ting1, qing3 zai4 di1 sheng1 hou4 liu2 yan2." sil 0.4 $BEEP sil 0.4
clip m_en_hey machine answered en-US "Hey, it's Dave. Can't talk right now, so text me or leave a voicemail." sil 0.5 tts en-us-nyc+m4 190 50 "Hey, it's Dave. Can't talk right now, so text me or leave a voicemail." sil 0.4 sine 1000 0.3 0.3 sil 0.5 noise pink -40
clip m_zh_liuyan machine answered zh-CN "你好，我暂时不能接电话，有事请留言，谢谢。" sil 0.8 tts $ZH+f5 165 60 "ni3 hao3, wo3 zan4 shi2 bu4 neng2 jie1 dian4 hua4, you3 shi4 qing3 liu2 yan2, xie4 xie4." sil 1.0 noise white -40
clip m_en_doctor machine answered en-US "You have reached the office of Doctor Smith. If this is an emergency, hang up and dial nine one one." sil 0.6 tts $EN+f1 150 50 "You have reached the office of Doctor Smith. If this is an emergency, hang up and dial nine one one." trim 8
clip m_zh_mishu machine answered zh-CN "您好，您拨打的用户已开通秘书服务，请在嘀声后留言。" sil 0.5 tts $ZH+f3 175 58 "nin2 hao3, nin2 bo1 da3 de5 yong4 hu4 yi3 kai1 tong1 mi4 shu1 fu2 wu4, qing3 zai4 di1 sheng1 hou4 liu2 yan2." sil 0.3 $BEEP trim 9
clip m_en_mailbox machine answered en-US "The mailbox you have reached is full and cannot accept new messages." sil 0.4 tts $EN+m7 165 40 "The mailbox you have reached is full and cannot accept new messages." sil 1.2
clip m_zh_huijia machine answered zh-CN "这里是李家，我们现在不在家，请在提示音后留言。" sil 0.5 tts $ZH+m4 160 48 "zhe4 li3 shi4 li3 jia1, wo3 men5 xian4 zai4 bu2 zai4 jia1, qing3 zai4 ti2 shi4 yin1 hou4 liu2 yan2." sil 0.4 sine 1000 0.8 0.3 sil 0.3 trim 9
# hard machines: short greetings
clip hard_en_shortvm machine answered en-US "Leave a message." sil 0.5 tts $EN+f2 170 55 "Leave a message." sil 0.4 $BEEP sil 1.5
clip hard_zh_shortvm machine answered zh-CN "请留言" sil 0.4 tts $ZH+f2 170 55 "qing3 liu2 yan2" sil 0.5 $BEEP sil 1.5
clip hard_en_shortnobeep machine answered en-US "Hi, leave a message." sil 0.5 tts $EN+m3 175 50 "Hi, leave a message." sil 3.0
clip hard_zh_shortnobeep machine answered zh-CN "有事请留言" sil 0.5 tts $ZH+m2 175 50 "you3 shi4 qing3 liu2 yan2" sil 3.0

# ---------- carrier announcements (mostly early media) ----------
ZH_KONG="nin2 bo1 da3 de5 hao4 ma3 shi4 kong1 hao4, qing3 he2 dui4 hou4 zai4 bo1."
clip a_zh_konghao announcement/not_in_service early zh-CN "您拨打的号码是空号，请核对后再拨。" sil 0.3 tts $ZH+f2 160 55 "$ZH_KONG" sil 0.8 tts $ZH+f2 160 55 "$ZH_KONG" trim 8
clip a_en_notinservice announcement/not_in_service early en-US "We're sorry, the number you have dialed is not in service. Please check the number and try again." sil 0.3 sine 913.8 0.274 0.3 sine 1370.6 0.274 0.3 sine 1776.7 0.380 0.3 sil 0.2 tts $EN+f2 165 55 "We're sorry, the number you have dialed is not in service. Please check the number and try again." trim 8
clip a_zh_guanji announcement/powered_off early zh-CN "您拨打的电话已关机。" sil 0.4 tts $ZH+f4 165 60 "nin2 bo1 da3 de5 dian4 hua4 yi3 guan1 ji1." sil 1.0 tts $ZH+f4 165 60 "nin2 bo1 da3 de5 dian4 hua4 yi3 guan1 ji1." sil 1.0
clip a_en_disconnected announcement/not_in_service early en-US "The number you have reached has been disconnected or is no longer in service." sil 0.5 sine 913.8 0.274 0.25 sine 1370.6 0.274 0.25 sine 1776.7 0.380 0.25 sil 0.3 tts $EN+m3 160 45 "The number you have reached has been disconnected or is no longer in service." trim 8
clip a_zh_wufajietong announcement/unreachable early zh-CN "您拨打的用户暂时无法接通，请稍后再拨。" sil 0.3 tts $ZH+f1 170 55 "nin2 bo1 da3 de5 yong4 hu4 zan4 shi2 wu2 fa3 jie1 tong1, qing3 shao1 hou4 zai4 bo1." sil 0.8 trim 7
clip a_en_wireless announcement/unreachable early en-US "The wireless customer you are calling is not available. Please try your call again later." sil 0.3 tts $EN+f4 165 60 "The wireless customer you are calling is not available. Please try your call again later." sil 0.5 trim 7
clip a_zh_fuwuqu announcement/unreachable early zh-CN "您拨打的电话不在服务区。" sil 0.4 tts $ZH+m2 160 50 "nin2 bo1 da3 de5 dian4 hua4 bu2 zai4 fu2 wu4 qu1." sil 1.0 tts $ZH+m2 160 50 "nin2 bo1 da3 de5 dian4 hua4 bu2 zai4 fu2 wu4 qu1." sil 0.5 noise white -45
clip a_en_poweredoff announcement/powered_off early en-US "The mobile phone you are calling is powered off. Please call again later." sil 0.4 tts en-gb+f2 160 55 "The mobile phone you are calling is powered off. Please call again later." sil 0.6 trim 7
clip a_zh_tonghuazhong announcement/busy early zh-CN "您拨打的电话正在通话中，请稍后再拨。" sil 0.3 tts $ZH+f3 170 60 "nin2 bo1 da3 de5 dian4 hua4 zheng4 zai4 tong1 hua4 zhong1, qing3 shao1 hou4 zai4 bo1." sil 0.6 trim 7
clip a_en_busy announcement/busy early en-US "The number you have dialed is busy. Please try again later." sil 0.3 tts $EN+m1 160 50 "The number you have dialed is busy. Please try again later." sil 0.8 tts $EN+m1 160 50 "The number you have dialed is busy. Please try again later." trim 7
clip a_zh_tingji announcement/suspended early zh-CN "您拨打的电话已停机。" sil 0.4 tts $ZH+f5 165 55 "nin2 bo1 da3 de5 dian4 hua4 yi3 ting2 ji1." sil 1.0 tts $ZH+f5 165 55 "nin2 bo1 da3 de5 dian4 hua4 yi3 ting2 ji1." sil 0.5
clip a_en_changed announcement/number_changed answered en-US "The number you have called has been changed. Please check the number and dial again." sil 0.5 sine 913.8 0.274 0.3 sine 1370.6 0.274 0.3 sine 1776.7 0.380 0.3 sil 0.2 tts $EN+f3 160 50 "The number you have called has been changed. Please check the number and dial again." trim 8
clip a_zh_bucunzai announcement/not_in_service early zh-CN "对不起，您拨打的号码不存在。" sil 0.3 sine 950 0.33 0.3 sine 1400 0.33 0.3 sine 1800 0.33 0.3 sil 0.3 tts $ZH+m3 165 50 "dui4 bu4 qi3, nin2 bo1 da3 de5 hao4 ma3 bu4 cun2 zai4." sil 0.8 trim 7
clip a_en_cannotbereached announcement/unreachable early en-US "The subscriber you have dialed cannot be reached at this time." sil 0.3 sine 913.8 0.380 0.3 sine 1370.6 0.380 0.3 sine 1776.7 0.380 0.3 sil 0.2 tts $EN+m2 165 45 "The subscriber you have dialed cannot be reached at this time." sil 0.5 trim 7
clip a_zh_gaihao announcement/number_changed answered zh-CN "您拨打的号码已改号，请查询后再拨。" sil 0.5 tts $ZH+f2 155 55 "nin2 bo1 da3 de5 hao4 ma3 yi3 gai3 hao4, qing3 cha2 xun2 hou4 zai4 bo1." sil 0.8 trim 7
clip a_en_completed announcement/not_in_service early en-US "Your call cannot be completed as dialed. Please check the number and dial again." sil 0.3 sine 913.8 0.274 0.3 sine 1370.6 0.274 0.3 sine 1776.7 0.380 0.3 sil 0.3 tts $EN+f5 170 60 "Your call cannot be completed as dialed. Please check the number and dial again." trim 8 noise pink -40
clip a_zh_konghao_en announcement/not_in_service early zh-CN "您拨打的号码是空号。Sorry, the number you dialed does not exist." sil 0.4 tts $ZH+f3 170 58 "nin2 bo1 da3 de5 hao4 ma3 shi4 kong1 hao4." sil 0.4 tts $EN+f3 165 58 "Sorry, the number you dialed does not exist." sil 0.5 trim 7
clip a_en_suspended announcement/suspended early en-US "The number you have dialed has been temporarily suspended." sil 0.3 tts $EN+m4 160 50 "The number you have dialed has been temporarily suspended." sil 0.8 trim 6
clip a_zh_guanji_sit announcement/powered_off early zh-CN "您拨打的电话已关机，请稍后再拨。" sil 0.3 sine 950 0.33 0.25 sine 1400 0.33 0.25 sine 1800 0.33 0.25 sil 0.4 tts $ZH+m1 165 50 "nin2 bo1 da3 de5 dian4 hua4 yi3 guan1 ji1, qing3 shao1 hou4 zai4 bo1." sil 0.5 trim 7
clip a_en_switchedoff announcement/powered_off answered en-US "The subscriber you have dialed is switched off." sil 0.5 tts $EN+f1 155 55 "The subscriber you have dialed is switched off." sil 0.8 tts $EN+f1 155 55 "The subscriber you have dialed is switched off." trim 7
clip a_zh_konghao_fast announcement/not_in_service early zh-CN "空号" sil 0.3 tts $ZH+m4 200 45 "kong1 hao4" sil 0.8 tts $ZH+m4 200 45 "kong1 hao4" sil 0.8 tts $ZH+m4 200 45 "kong1 hao4" sil 0.8
clip a_en_notavailable_sit announcement/unreachable early en-US "The number you are calling is not available at this time. Please try again later." sil 0.3 sine 985.2 0.380 0.3 sine 1428.5 0.380 0.3 sine 1776.7 0.380 0.3 sil 0.2 tts $EN+m7 160 45 "The number you are calling is not available at this time. Please try again later." trim 7

# ---------- fax ----------
clip f_ced fax answered "" "" sil 0.4 sine 2100 3.0 0.3 sil 1.0
clip f_cng fax answered "" "" sil 0.5 cad 1100 0 0.5 3.0 2 0.3
clip f_ced_quiet fax answered "" "" sil 0.8 sine 2100 2.6 0.05 sil 0.8 noise white -50
clip f_cng_noise fax answered "" "" sil 0.3 cad 1100 0 0.5 3.0 2 0.2 noise white -35
clip f_ced_late fax answered "" "" sil 1.5 sine 2100 3.3 0.2 sil 0.5
clip f_cng_quiet fax answered "" "" sil 1.0 cad 1100 0 0.5 3.0 2 0.06

# ---------- tones as early media ----------
clip t_cn_ringback tone/ringback early "" "" sil 0.2 cad 450 0 1.0 4.0 2 0.25 trim 7
clip t_us_ringback tone/ringback early "" "" sil 0.3 cad 440 480 2.0 4.0 2 0.15 trim 8
clip t_cn_busy tone/busy early "" "" sil 0.1 cad 450 0 0.35 0.35 6 0.3
clip t_us_busy tone/busy early "" "" sil 0.2 cad 480 620 0.5 0.5 4 0.2
clip t_cn_ringback_noise tone/ringback early "" "" sil 0.8 cad 450 0 1.0 4.0 2 0.1 trim 7 noise white -40
clip t_us_reorder tone/reorder early "" "" sil 0.1 cad 480 620 0.25 0.25 6 0.2
clip t_cn_busy_quiet tone/busy early "" "" sil 0.5 cad 450 0 0.35 0.35 6 0.05 noise pink -45
clip t_us_ringback_late tone/ringback early "" "" sil 1.2 cad 440 480 2.0 4.0 2 0.1 trim 8
clip t_modem tone/modem answered "" "" sil 0.4 sine 2225 3.0 0.2 sil 0.5
clip t_cn_congestion tone/reorder early "" "" sil 0.2 cad 450 0 0.7 0.7 3 0.25

# ---------- silence / dead air ----------
clip s_zero silence answered "" "" sil 6.0
clip s_hiss silence answered "" "" sil 6.0 noise white -45
clip s_pink silence answered "" "" sil 6.0 noise pink -50
clip s_early silence early "" "" sil 6.0 noise brown -40

# ---------- a second round of humans/machines with other voices/speeds ----------
clip h_en_hello_fast human answered en-US "Hello?" sil 0.3 tts $EN+f5 210 65 "Hello?" sil 1.5 noise white -38
clip h_zh_wei_slow human answered zh-CN "喂？" sil 0.9 tts $ZH+f1 130 60 "wei2?" sil 1.5 gain -12
clip h_en_yeah2 human answered en-US "Yeah?" sil 0.6 tts en-gb-x-rp+m1 160 40 "Yeah?" sil 1.5
clip h_zh_nawei2 human answered zh-CN "哪位啊？" sil 0.4 tts $ZH+m5 150 40 "na3 wei4 a5?" sil 1.5 noise brown -30
clip m_en_long machine answered en-US "Hi, this is the Johnson family. We can't answer the phone right now. Please leave your name, number and a short message." sil 0.5 tts $EN+f3 180 58 "Hi, this is the Johnson family. We can't answer the phone right now. Please leave your name, number and a short message." trim 8
clip m_zh_long machine answered zh-CN "您好，您所拨打的电话暂时无人接听，请在嘀声后留下您的口信。" sil 0.4 tts $ZH+m1 150 50 "nin2 hao3, nin2 suo3 bo1 da3 de5 dian4 hua4 zan4 shi2 wu2 ren2 jie1 ting1, qing3 zai4 di1 sheng1 hou4 liu2 xia4 nin2 de5 kou3 xin4." sil 0.3 $BEEP trim 9
clip m_en_fast machine answered en-US "You've reached Mark, leave it at the beep." sil 0.3 tts $EN+m5 220 50 "You've reached Mark, leave it at the beep." sil 0.3 sine 1000 0.4 0.3 sil 1.0
clip m_zh_fast machine answered zh-CN "我现在不方便接电话，请稍后联系。" sil 0.6 tts $ZH+f4 210 62 "wo3 xian4 zai4 bu4 fang1 bian4 jie1 dian4 hua4, qing3 shao1 hou4 lian2 xi4." sil 1.5

echo "wrote $N clips to $OUT ($(du -sh "$OUT" | cut -f1))"
