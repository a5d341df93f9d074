//! CTranslate2 Whisper model -> whisper.cpp ggml model file.
//!
//! The Whisper weights we ship are in CTranslate2 format (the faster-whisper layout); whisper.cpp
//! only reads its own ggml container. Converting once at install/start-up lets us run the same
//! weights through whisper.cpp (reduced `audio_ctx`, one shared context for many calls) without a
//! Python step. `voxdial models install` runs it (the catalogue's `ggml` step); the recognizer
//! only loads and validates the result. The conversion is lossless for float16 sources: matrices are copied as float16,
//! the tensors whisper.cpp wants in float32 (biases, norms, conv biases, positional embeddings)
//! are widened.
//!
//! CTranslate2 `model.bin` (little-endian, binary versions 4 to 6):
//! `u32 version, str spec_name, u32 spec_revision, u32 n_vars,
//!  n_vars x (str name, u8 rank, rank x u32 dim, u8 dtype, u32 n_bytes, bytes),
//!  u32 n_aliases, n_aliases x (str alias, str target)`, where `str` is a u16 length that counts a
//! trailing NUL. The vocabulary is `vocabulary.txt` next to it, one byte-level BPE token a line.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use half::{bf16, f16};
use tracing::{debug, info, warn};

/// Why a model could not be converted or checked: the file is missing, is not a model of the
/// expected shape, or could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum GgmlError {
    /// The model file does not exist.
    #[error("Whisper model not found: {0} (run `voxdial models install`)")]
    ModelNotFound(PathBuf),
    /// The model file exists but is not a usable model.
    #[error("bad Whisper model {path}: {reason}")]
    BadModel {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What a conversion produced, for the start-up log and for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertReport {
    /// The ggml file written.
    pub out: PathBuf,
    /// Size of the ggml file in bytes.
    pub out_bytes: u64,
    /// Model dimensions as written into the ggml header.
    pub hparams: Hparams,
    /// Number of tensors written.
    pub n_tensors: usize,
    /// Number of text tokens written into the vocabulary section (special tokens are implied).
    pub n_text_tokens: usize,
    /// CTranslate2 data type of the source weights ("float16", "int8", ...).
    pub source_dtype: String,
    /// Wall time of the conversion.
    pub elapsed: Duration,
}

/// Whisper model dimensions, in whisper.cpp's header order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    /// Vocabulary size including special and timestamp tokens (51865 for multilingual).
    pub n_vocab: i32,
    /// Encoder positions (1500 = 30 s).
    pub n_audio_ctx: i32,
    /// Encoder width.
    pub n_audio_state: i32,
    /// Encoder attention heads.
    pub n_audio_head: i32,
    /// Encoder layers.
    pub n_audio_layer: i32,
    /// Decoder positions (448).
    pub n_text_ctx: i32,
    /// Decoder width.
    pub n_text_state: i32,
    /// Decoder attention heads.
    pub n_text_head: i32,
    /// Decoder layers.
    pub n_text_layer: i32,
    /// Mel bands of the input (80 before large-v3).
    pub n_mels: i32,
}

/// whisper.cpp's file magic, "ggml" read as a little-endian u32.
pub const GGML_MAGIC: u32 = 0x6767_6d6c;
/// ggml tensor type codes used in the tensor headers.
const GGML_TYPE_F32: i32 = 0;
const GGML_TYPE_F16: i32 = 1;
const GGML_TYPE_Q8_0: i32 = 8;
/// q8_0 block: one f16 scale and 32 int8 values.
const Q8_0_BLOCK: usize = 32;
const Q8_0_BYTES: usize = 2 + Q8_0_BLOCK;

/// How the big matrices are stored in the ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GgmlWeights {
    /// float16, bit-identical to the shipped weights (header ftype 1).
    #[default]
    F16,
    /// ggml q8_0 (blocks of 32 int8 with an f16 scale, header ftype 7): half the memory and
    /// faster matrix products on CPU, at a quantization error far below Whisper's own.
    Q8_0,
}

impl GgmlWeights {
    fn ftype(self) -> i32 {
        match self {
            GgmlWeights::F16 => 1,
            GgmlWeights::Q8_0 => 7,
        }
    }
}
/// Whisper's front end: 16 kHz, 25 ms FFT window, hence 201 frequency bins.
const SAMPLE_RATE: f64 = 16_000.0;
const N_FFT: usize = 400;

/// Converts the CTranslate2 Whisper model in `ct2_dir` (model.bin + vocabulary.txt) into a ggml
/// file at `out_ggml`. The file is written under a temporary name in the same directory and renamed
/// into place, so a crash never leaves a truncated model where the loader would find it.
pub fn convert(ct2_dir: &Path, out_ggml: &Path) -> Result<ConvertReport, GgmlError> {
    convert_with(ct2_dir, out_ggml, GgmlWeights::F16)
}

/// [`convert`] with a choice of matrix storage (q8_0 for speed and memory).
pub fn convert_with(
    ct2_dir: &Path,
    out_ggml: &Path,
    weights: GgmlWeights,
) -> Result<ConvertReport, GgmlError> {
    let started = Instant::now();
    let model_path = ct2_dir.join("model.bin");
    let vocab_path = ct2_dir.join("vocabulary.txt");
    let bytes = read_file(&model_path)?;
    let model = Ct2Model::parse(&bytes).map_err(|reason| GgmlError::BadModel {
        path: model_path.clone(),
        reason,
    })?;
    let vocab_text = fs::read_to_string(&vocab_path).map_err(|e| GgmlError::Io {
        path: vocab_path.clone(),
        source: e,
    })?;
    let bad_vocab = |reason: String| GgmlError::BadModel {
        path: vocab_path.clone(),
        reason,
    };
    let bad_model = |reason: String| GgmlError::BadModel {
        path: model_path.clone(),
        reason,
    };
    let vocab = parse_vocabulary(&vocab_text).map_err(bad_vocab)?;
    let plan = plan_tensors(&model, weights).map_err(bad_model)?;
    if vocab.len() != plan.hparams.n_vocab as usize {
        return Err(bad_vocab(format!(
            "{} tokens, but the model has {} embeddings",
            vocab.len(),
            plan.hparams.n_vocab
        )));
    }
    let text_tokens = text_token_bytes(&vocab).map_err(bad_vocab)?;
    let filters = mel_filters(SAMPLE_RATE, N_FFT, plan.hparams.n_mels as usize);

    let parent = out_ggml.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent).map_err(|e| GgmlError::Io {
        path: parent.to_path_buf(),
        source: e,
    })?;
    let tmp = temp_name(out_ggml);
    let io_err = |e: std::io::Error| GgmlError::Io {
        path: tmp.clone(),
        source: e,
    };
    let written = (|| -> Result<(), GgmlError> {
        let file = File::create(&tmp).map_err(io_err)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write_ggml(&mut w, &plan, &filters, &text_tokens, &model).map_err(|e| match e {
            WriteError::Io(e) => io_err(e),
            WriteError::Model(reason) => bad_model(reason),
        })?;
        let file = w.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, out_ggml).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        GgmlError::Io {
            path: out_ggml.to_path_buf(),
            source: e,
        }
    })?;
    let out_bytes = fs::metadata(out_ggml).map(|m| m.len()).unwrap_or(0);
    let report = ConvertReport {
        out: out_ggml.to_path_buf(),
        out_bytes,
        hparams: plan.hparams,
        n_tensors: plan.tensors.len(),
        n_text_tokens: text_tokens.len(),
        source_dtype: plan.source_dtype.clone(),
        elapsed: started.elapsed(),
    };
    info!(
        out = %out_ggml.display(),
        bytes = out_bytes,
        tensors = report.n_tensors,
        ms = report.elapsed.as_millis() as u64,
        "converted CTranslate2 Whisper model to ggml"
    );
    Ok(report)
}

/// Converts only when `out_ggml` is missing or older than the CTranslate2 files, so start-up can
/// call it every time. Returns the report when it converted, `None` when the file was current.
pub fn ensure_ggml(ct2_dir: &Path, out_ggml: &Path) -> Result<Option<ConvertReport>, GgmlError> {
    ensure_ggml_with(ct2_dir, out_ggml, GgmlWeights::F16)
}

/// [`ensure_ggml`] with a choice of matrix storage.
pub fn ensure_ggml_with(
    ct2_dir: &Path,
    out_ggml: &Path,
    weights: GgmlWeights,
) -> Result<Option<ConvertReport>, GgmlError> {
    let newest_source = ["model.bin", "vocabulary.txt"]
        .iter()
        .map(|f| modified(&ct2_dir.join(f)))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match fs::metadata(out_ggml).and_then(|m| m.modified()) {
        Ok(t) if t >= newest_source => {
            debug!(out = %out_ggml.display(), "ggml model is up to date");
            Ok(None)
        }
        _ => convert_with(ct2_dir, out_ggml, weights).map(Some),
    }
}

fn modified(path: &Path) -> Result<SystemTime, GgmlError> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| GgmlError::Io {
            path: path.to_path_buf(),
            source: e,
        })
}

fn read_file(path: &Path) -> Result<Vec<u8>, GgmlError> {
    fs::read(path).map_err(|e| GgmlError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

fn temp_name(out: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.ggml".into());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    out.with_file_name(format!(".{name}.tmp-{}-{seq}", std::process::id()))
}

// ---------------------------------------------------------------------------------------------
// CTranslate2 reader

/// CTranslate2's element types (`ctranslate2::DataType` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    /// 32-bit float.
    F32,
    /// 8-bit integer (quantized weights, with a `<name>_scale` companion).
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
}

impl Ct2Dtype {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F16 => "float16",
            Self::BF16 => "bfloat16",
        }
    }
}

/// One named variable of a CTranslate2 model, borrowing its bytes from the file buffer.
#[derive(Debug, Clone)]
pub struct Ct2Var<'a> {
    /// Dimensions, outermost first (row-major).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Ct2Dtype,
    /// Raw little-endian element bytes.
    pub data: &'a [u8],
}

/// A parsed CTranslate2 `model.bin`: variables by name, aliases already resolved.
#[derive(Debug)]
pub struct Ct2Model<'a> {
    /// Binary format version.
    pub version: u32,
    /// Model spec name, "WhisperSpec" for Whisper.
    pub spec: String,
    /// Spec revision.
    pub revision: u32,
    /// Variables (and aliases) by name.
    pub vars: HashMap<String, Ct2Var<'a>>,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("truncated file while reading {what} at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self, what: &str) -> Result<String, String> {
        let n = self.u16(what)? as usize;
        let b = self.take(n, what)?;
        // The length counts the C string's NUL terminator.
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }
}

impl<'a> Ct2Model<'a> {
    /// Parses a whole `model.bin` held in memory. Errors are plain reasons; the caller adds the path.
    pub fn parse(buf: &'a [u8]) -> Result<Self, String> {
        let mut c = Cursor { buf, pos: 0 };
        let version = c.u32("version")?;
        if !(4..=6).contains(&version) {
            return Err(format!(
                "not a supported CTranslate2 model (binary version {version}, expected 4 to 6)"
            ));
        }
        let spec = c.string("spec name")?;
        let revision = c.u32("spec revision")?;
        let n_vars = c.u32("variable count")? as usize;
        if n_vars > 100_000 {
            return Err(format!("implausible variable count {n_vars}"));
        }
        let mut vars = HashMap::with_capacity(n_vars);
        for _ in 0..n_vars {
            let name = c.string("variable name")?;
            let rank = c.u8("rank")? as usize;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(c.u32("dimension")? as usize);
            }
            let code = c.u8("dtype")?;
            let dtype = Ct2Dtype::from_code(code)
                .ok_or_else(|| format!("variable {name}: unknown dtype code {code}"))?;
            let n_bytes = c.u32("byte count")? as usize;
            let n_elems = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| format!("variable {name}: shape overflows"))?;
            if n_elems.checked_mul(dtype.size()) != Some(n_bytes) {
                return Err(format!(
                    "variable {name}: {n_bytes} bytes do not match shape {shape:?} of {}",
                    dtype.name()
                ));
            }
            let data = c.take(n_bytes, &name)?;
            vars.insert(name, Ct2Var { shape, dtype, data });
        }
        let n_aliases = c.u32("alias count")? as usize;
        for _ in 0..n_aliases {
            let alias = c.string("alias")?;
            let target = c.string("alias target")?;
            match vars.get(&target).cloned() {
                Some(v) => {
                    vars.insert(alias, v);
                }
                None => return Err(format!("alias {alias} points to missing {target}")),
            }
        }
        if c.pos != buf.len() {
            return Err(format!(
                "{} unexpected bytes after the last alias",
                buf.len() - c.pos
            ));
        }
        Ok(Self {
            version,
            spec,
            revision,
            vars,
        })
    }

    fn var(&self, name: &str) -> Result<&Ct2Var<'a>, String> {
        self.vars
            .get(name)
            .ok_or_else(|| format!("missing variable {name}"))
    }

    /// A scalar integer setting such as `encoder/num_heads`.
    fn scalar_int(&self, name: &str) -> Result<i64, String> {
        let v = self.var(name)?;
        let d = v.data;
        match (v.dtype, d.len()) {
            (Ct2Dtype::I8, 1) => Ok(d[0] as i8 as i64),
            (Ct2Dtype::I16, 2) => Ok(i16::from_le_bytes([d[0], d[1]]) as i64),
            (Ct2Dtype::I32, 4) => Ok(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64),
            _ => Err(format!("{name} is not an integer scalar")),
        }
    }

    /// Values of a variable as f32, dequantizing int8 rows with their `<name>_scale`.
    fn values_f32(&self, name: &str) -> Result<Vec<f32>, String> {
        let v = self.var(name)?;
        let d = v.data;
        Ok(match v.dtype {
            Ct2Dtype::F32 => d
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Ct2Dtype::F16 => d
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Ct2Dtype::BF16 => d
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Ct2Dtype::I8 => {
                // CTranslate2 stores round(w * scale) with one scale per output row.
                let scale = self.values_f32(&format!("{name}_scale"))?;
                let rows = v.shape.first().copied().unwrap_or(1).max(1);
                if scale.len() != rows && scale.len() != 1 {
                    return Err(format!(
                        "{name}_scale has {} values for {rows} rows",
                        scale.len()
                    ));
                }
                let cols = d.len() / rows;
                d.iter()
                    .enumerate()
                    .map(|(i, &q)| {
                        let s = if scale.len() == 1 {
                            scale[0]
                        } else {
                            scale[i / cols]
                        };
                        (q as i8) as f32 / s
                    })
                    .collect()
            }
            other => return Err(format!("{name}: unsupported weight type {}", other.name())),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Tensor plan: which CTranslate2 variable (or slice of one) becomes which whisper.cpp tensor.

/// Where a ggml tensor's values come from.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    var: String,
    /// Row range of the (fused) CTranslate2 variable; `None` = all of it.
    rows: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
struct TensorPlan {
    name: String,
    /// ggml dims, innermost first (the reverse of the row-major shape).
    ne: Vec<usize>,
    ggml_type: i32,
    src: Source,
}

#[derive(Debug)]
struct Plan {
    hparams: Hparams,
    ftype: i32,
    tensors: Vec<TensorPlan>,
    source_dtype: String,
}

fn count_layers(model: &Ct2Model<'_>, prefix: &str) -> usize {
    (0..)
        .take_while(|i| {
            model
                .vars
                .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/bias"))
        })
        .count()
}

fn plan_tensors(model: &Ct2Model<'_>, weights: GgmlWeights) -> Result<Plan, String> {
    if model.spec != "WhisperSpec" {
        return Err(format!("spec is {:?}, not a Whisper model", model.spec));
    }
    let shape = |name: &str| -> Result<Vec<usize>, String> { Ok(model.var(name)?.shape.clone()) };
    let two = |name: &str| -> Result<(usize, usize), String> {
        match shape(name)?.as_slice() {
            [a, b] => Ok((*a, *b)),
            s => Err(format!("{name} has shape {s:?}, expected 2 dimensions")),
        }
    };
    let (n_vocab, n_text_state) = two("decoder/embeddings/weight")?;
    let (n_text_ctx, pos_w) = two("decoder/position_encodings/encodings")?;
    let (n_audio_ctx, n_audio_state) = two("encoder/position_encodings/encodings")?;
    let conv1 = shape("encoder/conv1/weight")?;
    let n_mels = match conv1.as_slice() {
        [out, mels, 3] if *out == n_audio_state => *mels,
        s => return Err(format!("encoder/conv1/weight has shape {s:?}")),
    };
    if pos_w != n_text_state || n_text_state != n_audio_state {
        return Err(format!(
            "encoder width {n_audio_state}, decoder width {n_text_state} and positional width {pos_w} differ"
        ));
    }
    let n_audio_layer = count_layers(model, "encoder");
    let n_text_layer = count_layers(model, "decoder");
    if n_audio_layer == 0 || n_text_layer == 0 {
        return Err("no encoder or decoder layers".into());
    }
    let n_audio_head = model.scalar_int("encoder/num_heads")?;
    let n_text_head = model.scalar_int("decoder/num_heads")?;
    let to_i32 = |v: usize, what: &str| i32::try_from(v).map_err(|_| format!("{what} too large"));
    let hparams = Hparams {
        n_vocab: to_i32(n_vocab, "n_vocab")?,
        n_audio_ctx: to_i32(n_audio_ctx, "n_audio_ctx")?,
        n_audio_state: to_i32(n_audio_state, "n_audio_state")?,
        n_audio_head: n_audio_head as i32,
        n_audio_layer: to_i32(n_audio_layer, "n_audio_layer")?,
        n_text_ctx: to_i32(n_text_ctx, "n_text_ctx")?,
        n_text_state: to_i32(n_text_state, "n_text_state")?,
        n_text_head: n_text_head as i32,
        n_text_layer: to_i32(n_text_layer, "n_text_layer")?,
        n_mels: to_i32(n_mels, "n_mels")?,
    };
    let d = n_audio_state;
    let mut t = Vec::new();
    let mut add =
        |name: String, dims: Vec<usize>, ty: i32, var: String, rows: Option<(usize, usize)>| {
            t.push(TensorPlan {
                name,
                ne: dims.into_iter().rev().collect(),
                ggml_type: ty,
                src: Source { var, rows },
            });
        };
    // whisper.cpp keeps 1-D tensors, conv biases and positional embeddings in f32, matrices and
    // conv kernels in the header's ftype (f16 here).
    let (f32_, f16_) = (GGML_TYPE_F32, GGML_TYPE_F16);
    add(
        "encoder.positional_embedding".into(),
        vec![n_audio_ctx, d],
        f32_,
        "encoder/position_encodings/encodings".into(),
        None,
    );
    add(
        "encoder.conv1.weight".into(),
        vec![d, n_mels, 3],
        f16_,
        "encoder/conv1/weight".into(),
        None,
    );
    add(
        "encoder.conv1.bias".into(),
        vec![d, 1],
        f32_,
        "encoder/conv1/bias".into(),
        None,
    );
    add(
        "encoder.conv2.weight".into(),
        vec![d, d, 3],
        f16_,
        "encoder/conv2/weight".into(),
        None,
    );
    add(
        "encoder.conv2.bias".into(),
        vec![d, 1],
        f32_,
        "encoder/conv2/bias".into(),
        None,
    );
    add(
        "encoder.ln_post.weight".into(),
        vec![d],
        f32_,
        "encoder/layer_norm/gamma".into(),
        None,
    );
    add(
        "encoder.ln_post.bias".into(),
        vec![d],
        f32_,
        "encoder/layer_norm/beta".into(),
        None,
    );

    // Block pieces shared by encoder and decoder. CTranslate2 fuses self-attention q/k/v into
    // linear_0 (rows q, then k, then v) and cross-attention k/v into linear_1. Whisper's key
    // projection has no bias (CTranslate2 stores zeros there); dropping it is exact anyway, since a
    // key bias adds the same q.b to every score of a query and softmax ignores constant shifts.
    let mut blocks = Vec::new();
    for (side, n_layers) in [("encoder", n_audio_layer), ("decoder", n_text_layer)] {
        for i in 0..n_layers {
            let c = format!("{side}/layer_{i}");
            let g = format!("{side}.blocks.{i}");
            blocks.push((
                format!("{g}.attn_ln.weight"),
                vec![d],
                f32_,
                format!("{c}/self_attention/layer_norm/gamma"),
                None,
            ));
            blocks.push((
                format!("{g}.attn_ln.bias"),
                vec![d],
                f32_,
                format!("{c}/self_attention/layer_norm/beta"),
                None,
            ));
            let qkv_w = format!("{c}/self_attention/linear_0/weight");
            let qkv_b = format!("{c}/self_attention/linear_0/bias");
            blocks.push((
                format!("{g}.attn.query.weight"),
                vec![d, d],
                f16_,
                qkv_w.clone(),
                Some((0, d)),
            ));
            blocks.push((
                format!("{g}.attn.query.bias"),
                vec![d],
                f32_,
                qkv_b.clone(),
                Some((0, d)),
            ));
            blocks.push((
                format!("{g}.attn.key.weight"),
                vec![d, d],
                f16_,
                qkv_w.clone(),
                Some((d, 2 * d)),
            ));
            blocks.push((
                format!("{g}.attn.value.weight"),
                vec![d, d],
                f16_,
                qkv_w,
                Some((2 * d, 3 * d)),
            ));
            blocks.push((
                format!("{g}.attn.value.bias"),
                vec![d],
                f32_,
                qkv_b,
                Some((2 * d, 3 * d)),
            ));
            blocks.push((
                format!("{g}.attn.out.weight"),
                vec![d, d],
                f16_,
                format!("{c}/self_attention/linear_1/weight"),
                None,
            ));
            blocks.push((
                format!("{g}.attn.out.bias"),
                vec![d],
                f32_,
                format!("{c}/self_attention/linear_1/bias"),
                None,
            ));
            if side == "decoder" {
                blocks.push((
                    format!("{g}.cross_attn_ln.weight"),
                    vec![d],
                    f32_,
                    format!("{c}/attention/layer_norm/gamma"),
                    None,
                ));
                blocks.push((
                    format!("{g}.cross_attn_ln.bias"),
                    vec![d],
                    f32_,
                    format!("{c}/attention/layer_norm/beta"),
                    None,
                ));
                blocks.push((
                    format!("{g}.cross_attn.query.weight"),
                    vec![d, d],
                    f16_,
                    format!("{c}/attention/linear_0/weight"),
                    None,
                ));
                blocks.push((
                    format!("{g}.cross_attn.query.bias"),
                    vec![d],
                    f32_,
                    format!("{c}/attention/linear_0/bias"),
                    None,
                ));
                let kv_w = format!("{c}/attention/linear_1/weight");
                let kv_b = format!("{c}/attention/linear_1/bias");
                blocks.push((
                    format!("{g}.cross_attn.key.weight"),
                    vec![d, d],
                    f16_,
                    kv_w.clone(),
                    Some((0, d)),
                ));
                blocks.push((
                    format!("{g}.cross_attn.value.weight"),
                    vec![d, d],
                    f16_,
                    kv_w,
                    Some((d, 2 * d)),
                ));
                blocks.push((
                    format!("{g}.cross_attn.value.bias"),
                    vec![d],
                    f32_,
                    kv_b,
                    Some((d, 2 * d)),
                ));
                blocks.push((
                    format!("{g}.cross_attn.out.weight"),
                    vec![d, d],
                    f16_,
                    format!("{c}/attention/linear_2/weight"),
                    None,
                ));
                blocks.push((
                    format!("{g}.cross_attn.out.bias"),
                    vec![d],
                    f32_,
                    format!("{c}/attention/linear_2/bias"),
                    None,
                ));
            }
            blocks.push((
                format!("{g}.mlp_ln.weight"),
                vec![d],
                f32_,
                format!("{c}/ffn/layer_norm/gamma"),
                None,
            ));
            blocks.push((
                format!("{g}.mlp_ln.bias"),
                vec![d],
                f32_,
                format!("{c}/ffn/layer_norm/beta"),
                None,
            ));
            blocks.push((
                format!("{g}.mlp.0.weight"),
                vec![4 * d, d],
                f16_,
                format!("{c}/ffn/linear_0/weight"),
                None,
            ));
            blocks.push((
                format!("{g}.mlp.0.bias"),
                vec![4 * d],
                f32_,
                format!("{c}/ffn/linear_0/bias"),
                None,
            ));
            blocks.push((
                format!("{g}.mlp.2.weight"),
                vec![d, 4 * d],
                f16_,
                format!("{c}/ffn/linear_1/weight"),
                None,
            ));
            blocks.push((
                format!("{g}.mlp.2.bias"),
                vec![d],
                f32_,
                format!("{c}/ffn/linear_1/bias"),
                None,
            ));
        }
        if side == "encoder" {
            // The decoder's own tensors sit between the two block lists, as whisper.cpp lists them.
            blocks.push((
                "decoder.positional_embedding".into(),
                vec![n_text_ctx, d],
                f32_,
                "decoder/position_encodings/encodings".into(),
                None,
            ));
            blocks.push((
                "decoder.token_embedding.weight".into(),
                vec![n_vocab, d],
                f16_,
                "decoder/embeddings/weight".into(),
                None,
            ));
            blocks.push((
                "decoder.ln.weight".into(),
                vec![d],
                f32_,
                "decoder/layer_norm/gamma".into(),
                None,
            ));
            blocks.push((
                "decoder.ln.bias".into(),
                vec![d],
                f32_,
                "decoder/layer_norm/beta".into(),
                None,
            ));
        }
    }
    for (name, dims, ty, var, rows) in blocks {
        add(name, dims, ty, var, rows);
    }

    // Check every source now, so a wrong model fails before anything is written.
    for tp in &t {
        let v = model.var(&tp.src.var)?;
        let want: usize = tp.ne.iter().product();
        let rows_total = v.shape.first().copied().unwrap_or(1);
        let per_row = v
            .shape
            .iter()
            .product::<usize>()
            .checked_div(rows_total)
            .unwrap_or(0);
        let have = match tp.src.rows {
            Some((a, b)) if b <= rows_total && a < b => (b - a) * per_row,
            Some((a, b)) => {
                return Err(format!(
                    "{} has {rows_total} rows, cannot take rows {a}..{b} for {}",
                    tp.src.var, tp.name
                ))
            }
            None => v.shape.iter().product(),
        };
        if have != want {
            return Err(format!(
                "{} has shape {:?}, which does not fit {} {:?}",
                tp.src.var, v.shape, tp.name, tp.ne
            ));
        }
    }
    if weights == GgmlWeights::Q8_0 {
        // whisper.cpp quantizes the 2-D matrices (token embedding included); conv kernels stay f16.
        for tp in t
            .iter_mut()
            .filter(|tp| tp.ggml_type == GGML_TYPE_F16 && tp.ne.len() == 2)
        {
            if tp.ne[0] % Q8_0_BLOCK != 0 {
                return Err(format!(
                    "{} rows of {} do not fit q8_0 blocks",
                    tp.name, tp.ne[0]
                ));
            }
            tp.ggml_type = GGML_TYPE_Q8_0;
        }
    }
    let source_dtype = model
        .var("decoder/embeddings/weight")?
        .dtype
        .name()
        .to_string();
    Ok(Plan {
        hparams,
        ftype: weights.ftype(),
        tensors: t,
        source_dtype,
    })
}

/// Takes rows `a..b` of a row-major variable whose first dimension is `rows_total`.
fn slice_rows(values: Vec<f32>, rows_total: usize, range: Option<(usize, usize)>) -> Vec<f32> {
    match range {
        None => values,
        Some((a, b)) => {
            let per_row = values.len() / rows_total.max(1);
            values[a * per_row..b * per_row].to_vec()
        }
    }
}

enum WriteError {
    Io(std::io::Error),
    Model(String),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

fn write_i32(w: &mut impl Write, v: i32) -> std::io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn write_ggml(
    w: &mut impl Write,
    plan: &Plan,
    filters: &[f32],
    text_tokens: &[Vec<u8>],
    model: &Ct2Model<'_>,
) -> Result<(), WriteError> {
    let h = &plan.hparams;
    w.write_all(&GGML_MAGIC.to_le_bytes())?;
    for v in [
        h.n_vocab,
        h.n_audio_ctx,
        h.n_audio_state,
        h.n_audio_head,
        h.n_audio_layer,
        h.n_text_ctx,
        h.n_text_state,
        h.n_text_head,
        h.n_text_layer,
        h.n_mels,
        plan.ftype,
    ] {
        write_i32(w, v)?;
    }
    write_i32(w, h.n_mels)?;
    write_i32(w, (N_FFT / 2 + 1) as i32)?;
    for f in filters {
        w.write_all(&f.to_le_bytes())?;
    }
    write_i32(w, text_tokens.len() as i32)?;
    for tok in text_tokens {
        write_i32(w, tok.len() as i32)?;
        w.write_all(tok)?;
    }
    let mut cache: Option<(String, Vec<f32>)> = None;
    for tp in &plan.tensors {
        let var = model.var(&tp.src.var).map_err(WriteError::Model)?;
        // Fused variables are read once for their two or three slices.
        let values = match &cache {
            Some((name, v)) if *name == tp.src.var => v.clone(),
            _ => {
                let v = model.values_f32(&tp.src.var).map_err(WriteError::Model)?;
                if tp.src.rows.is_some() {
                    cache = Some((tp.src.var.clone(), v.clone()));
                }
                v
            }
        };
        let rows_total = var.shape.first().copied().unwrap_or(1);
        let values = slice_rows(values, rows_total, tp.src.rows);
        if tp.name.ends_with("attn.key.weight") {
            check_zero_key_bias(model, &tp.src.var, tp.src.rows);
        }
        let name = tp.name.as_bytes();
        write_i32(w, tp.ne.len() as i32)?;
        write_i32(w, name.len() as i32)?;
        write_i32(w, tp.ggml_type)?;
        for &n in &tp.ne {
            write_i32(w, n as i32)?;
        }
        w.write_all(name)?;
        if tp.ggml_type == GGML_TYPE_F16 && var.dtype == Ct2Dtype::F16 && tp.src.rows.is_none() {
            // Straight copy keeps the bits exactly as shipped.
            w.write_all(var.data)?;
        } else if tp.ggml_type == GGML_TYPE_Q8_0 {
            w.write_all(&quantize_q8_0(&values))?;
        } else if tp.ggml_type == GGML_TYPE_F16 {
            let mut buf = Vec::with_capacity(values.len() * 2);
            for v in values {
                buf.extend_from_slice(&f16::from_f32(v).to_le_bytes());
            }
            w.write_all(&buf)?;
        } else {
            let mut buf = Vec::with_capacity(values.len() * 4);
            for v in values {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            w.write_all(&buf)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// ggml's reference q8_0: per block of 32, scale = max|x| / 127, q = round(x / scale).
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / Q8_0_BLOCK * Q8_0_BYTES);
    for block in values.chunks(Q8_0_BLOCK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        for i in 0..Q8_0_BLOCK {
            let x = block.get(i).copied().unwrap_or(0.0);
            out.push((x * id).round() as i8 as u8);
        }
    }
    out
}

/// Logs when a fused bias carries a non-zero key part; harmless (see above) but unexpected.
fn check_zero_key_bias(model: &Ct2Model<'_>, weight_var: &str, rows: Option<(usize, usize)>) {
    let bias_var = weight_var.replace("/weight", "/bias");
    let Ok(bias) = model.values_f32(&bias_var) else {
        return;
    };
    let key = match rows {
        Some((a, b)) if b <= bias.len() => &bias[a..b],
        _ => return,
    };
    let max = key.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max > 0.0 {
        debug!(var = %bias_var, max, "dropping a non-zero key bias (softmax-invariant)");
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

/// Reads vocabulary.txt: one token per line, in id order. Lines are split on '\n' only: byte-level
/// BPE tokens never contain raw whitespace, but one multilingual token is the empty string.
pub fn parse_vocabulary(text: &str) -> Result<Vec<String>, String> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return Err("empty vocabulary".into());
    }
    Ok(body.split('\n').map(|l| l.to_string()).collect())
}

/// GPT-2's byte <-> printable-character table, inverted: printable bytes stand for themselves,
/// the other 68 bytes were moved to U+0100 and up in byte order.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u8> = (b'!'..=b'~').collect();
    printable.extend(0xA1u8..=0xAC);
    printable.extend(0xAEu8..=0xFF);
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u8..=255 {
        let ch = if printable.contains(&b) {
            char::from(b)
        } else {
            let c = char::from_u32(256 + extra).unwrap_or('\u{FFFD}');
            extra += 1;
            c
        };
        map.insert(ch, b);
    }
    map
}

/// Raw bytes of the text tokens, i.e. everything before `<|endoftext|>`. whisper.cpp derives the
/// special and timestamp tokens from n_vocab itself, exactly as with OpenAI's converter.
pub fn text_token_bytes(vocab: &[String]) -> Result<Vec<Vec<u8>>, String> {
    let n_text = vocab
        .iter()
        .position(|t| t == "<|endoftext|>")
        .ok_or("no <|endoftext|> token in the vocabulary")?;
    let table = unicode_to_byte();
    vocab[..n_text]
        .iter()
        .enumerate()
        .map(|(id, tok)| {
            tok.chars()
                .map(|c| {
                    table
                        .get(&c)
                        .copied()
                        .ok_or_else(|| format!("token {id} {tok:?} is not byte-level BPE"))
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Mel filters

fn hz_to_mel_slaney(f: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= MIN_LOG_HZ {
        min_log_mel + (f / MIN_LOG_HZ).ln() / logstep
    } else {
        f / F_SP
    }
}

fn mel_to_hz_slaney(m: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        MIN_LOG_HZ * (logstep * (m - min_log_mel)).exp()
    } else {
        F_SP * m
    }
}

/// Slaney-style, Slaney-normalised triangular mel filters, `n_mels x (n_fft/2+1)` row-major:
/// what `librosa.filters.mel(sr, n_fft, n_mels)` returns and OpenAI ships as mel_filters.npz.
/// whisper.cpp takes the filter bank from the model file, so it must match training exactly.
pub fn mel_filters(sr: f64, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * (sr / 2.0) / (n_bins - 1) as f64)
        .collect();
    let max_mel = hz_to_mel_slaney(sr / 2.0);
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz_slaney(max_mel * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let (lo, mid, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (hi - lo);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - lo) / (mid - lo);
            let upper = (hi - f) / (hi - mid);
            out[m * n_bins + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    out
}

/// Used by the recognizer to refuse a garbage ggml file before whisper.cpp sees it (its loader
/// trusts header sizes and can abort the process on absurd values). Walks the header, filters,
/// vocabulary and every tensor header, checking sizes against the file length.
pub fn validate_ggml(path: &Path) -> Result<Hparams, GgmlError> {
    use std::io::Read;
    let bad = |reason: String| GgmlError::BadModel {
        path: path.to_path_buf(),
        reason,
    };
    let io = |e: std::io::Error| GgmlError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            GgmlError::ModelNotFound(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    let len = file.metadata().map_err(io)?.len();
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    let mut pos: u64 = 0;
    let read_i32 = |r: &mut std::io::BufReader<File>, pos: &mut u64, what: &str| {
        let mut b = [0u8; 4];
        r.read_exact(&mut b)
            .map_err(|_| bad(format!("truncated at {what} (byte {pos})")))?;
        *pos += 4;
        Ok::<i32, GgmlError>(i32::from_le_bytes(b))
    };
    let magic = read_i32(&mut r, &mut pos, "magic")? as u32;
    if magic != GGML_MAGIC {
        return Err(bad(format!(
            "not a whisper.cpp ggml model (magic {magic:#010x})"
        )));
    }
    let mut hp = [0i32; 11];
    for v in hp.iter_mut() {
        *v = read_i32(&mut r, &mut pos, "hparams")?;
    }
    let h = Hparams {
        n_vocab: hp[0],
        n_audio_ctx: hp[1],
        n_audio_state: hp[2],
        n_audio_head: hp[3],
        n_audio_layer: hp[4],
        n_text_ctx: hp[5],
        n_text_state: hp[6],
        n_text_head: hp[7],
        n_text_layer: hp[8],
        n_mels: hp[9],
    };
    let sane = |v: i32, max: i32| v > 0 && v <= max;
    if !(sane(h.n_vocab, 1 << 20)
        && sane(h.n_audio_ctx, 1 << 14)
        && sane(h.n_audio_state, 1 << 14)
        && sane(h.n_audio_head, 256)
        && sane(h.n_audio_layer, 256)
        && sane(h.n_text_ctx, 1 << 14)
        && sane(h.n_text_state, 1 << 14)
        && sane(h.n_text_head, 256)
        && sane(h.n_text_layer, 256)
        && sane(h.n_mels, 1024))
    {
        return Err(bad(format!("implausible header {h:?}")));
    }
    let n_mel = read_i32(&mut r, &mut pos, "filters")?;
    let n_fft = read_i32(&mut r, &mut pos, "filters")?;
    if !sane(n_mel, 1024) || !sane(n_fft, 1 << 14) {
        return Err(bad(format!(
            "implausible mel filter size {n_mel} x {n_fft}"
        )));
    }
    let skip = |r: &mut std::io::BufReader<File>, pos: &mut u64, n: u64, what: &str| {
        if *pos + n > len {
            return Err(bad(format!("truncated in {what}")));
        }
        r.seek_relative(n as i64).map_err(io)?;
        *pos += n;
        Ok(())
    };
    skip(
        &mut r,
        &mut pos,
        n_mel as u64 * n_fft as u64 * 4,
        "mel filters",
    )?;
    let n_tokens = read_i32(&mut r, &mut pos, "vocabulary size")?;
    if !(0..=h.n_vocab).contains(&n_tokens) {
        return Err(bad(format!(
            "vocabulary of {n_tokens} tokens for n_vocab {}",
            h.n_vocab
        )));
    }
    for _ in 0..n_tokens {
        let l = read_i32(&mut r, &mut pos, "token length")?;
        if !(0..=1024).contains(&l) {
            return Err(bad(format!("token length {l}")));
        }
        skip(&mut r, &mut pos, l as u64, "vocabulary")?;
    }
    let mut n_tensors = 0usize;
    while pos < len {
        let n_dims = read_i32(&mut r, &mut pos, "tensor header")?;
        let name_len = read_i32(&mut r, &mut pos, "tensor header")?;
        let ttype = read_i32(&mut r, &mut pos, "tensor header")?;
        if !(1..=4).contains(&n_dims) || !(1..=256).contains(&name_len) {
            return Err(bad(format!("corrupt tensor header #{n_tensors}")));
        }
        // (bytes, elements) per block; other quantized types are valid for whisper.cpp, but we
        // only size-check the ones we write.
        let (block_bytes, block_elems) = match ttype {
            GGML_TYPE_F32 => (4u64, 1u64),
            GGML_TYPE_F16 => (2, 1),
            GGML_TYPE_Q8_0 => (Q8_0_BYTES as u64, Q8_0_BLOCK as u64),
            _ => (0, 1),
        };
        let mut n_elems = 1u64;
        for _ in 0..n_dims {
            let d = read_i32(&mut r, &mut pos, "tensor dims")?;
            if d <= 0 {
                return Err(bad(format!("tensor #{n_tensors} has dimension {d}")));
            }
            n_elems = n_elems.saturating_mul(d as u64);
        }
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name)
            .map_err(|_| bad("truncated tensor name".into()))?;
        pos += name_len as u64;
        if block_bytes == 0 {
            return Ok(h); // cannot size further tensors; whisper.cpp checks the rest
        }
        skip(
            &mut r,
            &mut pos,
            n_elems.div_ceil(block_elems) * block_bytes,
            &String::from_utf8_lossy(&name),
        )?;
        n_tensors += 1;
    }
    let expected = 7 + 4 + 15 * h.n_audio_layer as usize + 24 * h.n_text_layer as usize;
    if n_tensors != expected {
        return Err(bad(format!("{n_tensors} tensors, expected {expected}")));
    }
    if h.n_audio_state != h.n_text_state {
        warn!(path = %path.display(), "encoder and decoder widths differ");
    }
    Ok(h)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn mel_filters_match_hand_computed_points() {
        let f = mel_filters(16_000.0, 400, 80);
        assert_eq!(f.len(), 80 * 201);
        let at = |m: usize, k: usize| f[m * 201 + k];
        // Values from the Slaney formulas evaluated by hand (and OpenAI's mel_filters.npz [0][1]).
        for (m, k, want) in [
            (0, 1, 0.024_862_594f32),
            (1, 2, 0.022_871_772),
            (10, 10, 0.019_908_22),
            (10, 11, 0.004_954_375),
            (40, 43, 0.014_735_566),
            (79, 187, 0.000_833_070),
            (79, 198, 0.000_897_518),
        ] {
            assert!(
                (at(m, k) - want).abs() < 1e-7,
                "[{m}][{k}] = {} want {want}",
                at(m, k)
            );
        }
        for (m, k) in [(0, 0), (10, 12), (40, 60), (79, 200)] {
            assert_eq!(at(m, k), 0.0, "[{m}][{k}]");
        }
    }

    #[test]
    fn q8_0_blocks_round_trip() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.01).collect();
        let q = quantize_q8_0(&x);
        assert_eq!(q.len(), 2 * Q8_0_BYTES);
        for (b, block) in q.chunks(Q8_0_BYTES).zip(x.chunks(32)) {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!((d - amax / 127.0).abs() < 1e-5);
            for (k, &v) in block.iter().enumerate() {
                let back = (b[2 + k] as i8) as f32 * d;
                assert!((back - v).abs() <= d * 0.51 + 1e-6, "{v} -> {back}");
            }
        }
        // An all-zero block has scale 0 and zero codes.
        assert!(quantize_q8_0(&[0.0; 32]).iter().all(|&b| b == 0));
    }

    #[test]
    fn byte_level_tokens_decode_to_bytes() {
        let vocab: Vec<String> = ["a", "Ġb", "Ċ", "ä½ł", "", "<|endoftext|>", "<|zh|>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = text_token_bytes(&vocab).expect("decodes");
        assert_eq!(t.len(), 5);
        assert_eq!(t[1], b" b");
        assert_eq!(t[2], b"\n");
        assert_eq!(t[3], "你".as_bytes());
        assert!(t[4].is_empty());
        assert!(text_token_bytes(&["中".to_string(), "<|endoftext|>".to_string()]).is_err());
        // The empty token of multilingual models must keep its line.
        assert_eq!(
            parse_vocabulary("a\n\nb\n").expect("parses"),
            ["a", "", "b"]
        );
    }

    /// Builds a CTranslate2 model.bin in memory (binary version 6).
    struct Ct2Writer {
        vars: Vec<(String, Vec<u32>, u8, Vec<u8>)>,
        aliases: Vec<(String, String)>,
    }

    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    impl Ct2Writer {
        fn f16(&mut self, name: &str, shape: &[u32], f: impl Fn(usize) -> f32) {
            let n: u32 = shape.iter().product();
            let data = (0..n as usize)
                .flat_map(|i| f16::from_f32(f(i)).to_le_bytes())
                .collect();
            self.vars.push((name.into(), shape.to_vec(), 4, data));
        }
        fn i16(&mut self, name: &str, v: i16) {
            self.vars
                .push((name.into(), vec![], 2, v.to_le_bytes().to_vec()));
        }
        fn bytes(&self) -> Vec<u8> {
            let mut out = 6u32.to_le_bytes().to_vec();
            put_str(&mut out, "WhisperSpec");
            out.extend_from_slice(&3u32.to_le_bytes());
            out.extend_from_slice(&(self.vars.len() as u32).to_le_bytes());
            for (name, shape, dtype, data) in &self.vars {
                put_str(&mut out, name);
                out.push(shape.len() as u8);
                for d in shape {
                    out.extend_from_slice(&d.to_le_bytes());
                }
                out.push(*dtype);
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(data);
            }
            out.extend_from_slice(&(self.aliases.len() as u32).to_le_bytes());
            for (a, t) in &self.aliases {
                put_str(&mut out, a);
                put_str(&mut out, t);
            }
            out
        }
    }

    #[test]
    fn ct2_reader_parses_synthetic_file() {
        let mut w = Ct2Writer {
            vars: vec![],
            aliases: vec![],
        };
        w.i16("encoder/num_heads", 8);
        w.f16("m", &[2, 3], |i| i as f32 * 0.5);
        w.aliases.push(("alias/m".into(), "m".into()));
        let bytes = w.bytes();
        let m = Ct2Model::parse(&bytes).expect("parses");
        assert_eq!(
            (m.version, m.spec.as_str(), m.revision),
            (6, "WhisperSpec", 3)
        );
        assert_eq!(m.scalar_int("encoder/num_heads"), Ok(8));
        assert_eq!(m.var("m").map(|v| v.shape.clone()), Ok(vec![2, 3]));
        assert_eq!(
            m.values_f32("alias/m"),
            Ok(vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
        );
        // Truncation, trailing bytes and unknown versions are refused with a reason.
        assert!(Ct2Model::parse(&bytes[..bytes.len() - 3]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Ct2Model::parse(&longer)
            .unwrap_err()
            .contains("unexpected bytes"));
        let mut v9 = bytes.clone();
        v9[0] = 9;
        assert!(Ct2Model::parse(&v9)
            .unwrap_err()
            .contains("binary version 9"));
        assert!(Ct2Model::parse(b"").is_err());
    }

    /// A one-layer Whisper with width 2 whose every value is 32 * variable number + index (all
    /// exact in f16), so the ggml tensors can be traced back to the rows they came from.
    pub(crate) fn tiny_whisper(dir: &Path) {
        let d = 2u32;
        let mut w = Ct2Writer {
            vars: vec![],
            aliases: vec![],
        };
        let mut id = 0f32;
        let mut next = |w: &mut Ct2Writer, name: &str, shape: &[u32]| {
            id += 1.0;
            let base = id * 32.0;
            w.f16(name, shape, move |i| base + i as f32);
        };
        next(&mut w, "decoder/embeddings/weight", &[6, d]);
        next(&mut w, "decoder/position_encodings/encodings", &[8, d]);
        next(&mut w, "encoder/position_encodings/encodings", &[10, d]);
        next(&mut w, "encoder/conv1/weight", &[d, 2, 3]);
        next(&mut w, "encoder/conv1/bias", &[d]);
        next(&mut w, "encoder/conv2/weight", &[d, d, 3]);
        next(&mut w, "encoder/conv2/bias", &[d]);
        for side in ["encoder", "decoder"] {
            next(&mut w, &format!("{side}/layer_norm/gamma"), &[d]);
            next(&mut w, &format!("{side}/layer_norm/beta"), &[d]);
            w.i16(&format!("{side}/num_heads"), 1);
            let c = format!("{side}/layer_0");
            for ln in ["self_attention", "ffn"] {
                next(&mut w, &format!("{c}/{ln}/layer_norm/gamma"), &[d]);
                next(&mut w, &format!("{c}/{ln}/layer_norm/beta"), &[d]);
            }
            next(
                &mut w,
                &format!("{c}/self_attention/linear_0/weight"),
                &[3 * d, d],
            );
            next(
                &mut w,
                &format!("{c}/self_attention/linear_0/bias"),
                &[3 * d],
            );
            next(
                &mut w,
                &format!("{c}/self_attention/linear_1/weight"),
                &[d, d],
            );
            next(&mut w, &format!("{c}/self_attention/linear_1/bias"), &[d]);
            next(&mut w, &format!("{c}/ffn/linear_0/weight"), &[4 * d, d]);
            next(&mut w, &format!("{c}/ffn/linear_0/bias"), &[4 * d]);
            next(&mut w, &format!("{c}/ffn/linear_1/weight"), &[d, 4 * d]);
            next(&mut w, &format!("{c}/ffn/linear_1/bias"), &[d]);
            if side == "decoder" {
                next(&mut w, &format!("{c}/attention/layer_norm/gamma"), &[d]);
                next(&mut w, &format!("{c}/attention/layer_norm/beta"), &[d]);
                next(&mut w, &format!("{c}/attention/linear_0/weight"), &[d, d]);
                next(&mut w, &format!("{c}/attention/linear_0/bias"), &[d]);
                next(
                    &mut w,
                    &format!("{c}/attention/linear_1/weight"),
                    &[2 * d, d],
                );
                next(&mut w, &format!("{c}/attention/linear_1/bias"), &[2 * d]);
                next(&mut w, &format!("{c}/attention/linear_2/weight"), &[d, d]);
                next(&mut w, &format!("{c}/attention/linear_2/bias"), &[d]);
            }
        }
        w.aliases.push((
            "decoder/projection/weight".into(),
            "decoder/embeddings/weight".into(),
        ));
        fs::write(dir.join("model.bin"), w.bytes()).expect("write model");
        fs::write(
            dir.join("vocabulary.txt"),
            "a\nĠb\nä½ł\n\n<|endoftext|>\n<|startoftranscript|>\n",
        )
        .expect("write vocab");
    }

    /// Reads back the tensors of a ggml file: name -> (ne, type, f32 values).
    fn read_ggml_tensors(bytes: &[u8]) -> HashMap<String, (Vec<usize>, i32, Vec<f32>)> {
        let i32_at =
            |p: usize| i32::from_le_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]]);
        let mut p = 4 + 11 * 4;
        let (n_mel, n_fft) = (i32_at(p) as usize, i32_at(p + 4) as usize);
        p += 8 + n_mel * n_fft * 4;
        let n_tok = i32_at(p) as usize;
        p += 4;
        for _ in 0..n_tok {
            p += 4 + i32_at(p) as usize;
        }
        let mut out = HashMap::new();
        while p < bytes.len() {
            let (n_dims, len, ty) = (i32_at(p) as usize, i32_at(p + 4) as usize, i32_at(p + 8));
            p += 12;
            let ne: Vec<usize> = (0..n_dims).map(|i| i32_at(p + 4 * i) as usize).collect();
            p += 4 * n_dims;
            let name = String::from_utf8(bytes[p..p + len].to_vec()).expect("utf8");
            p += len;
            let n: usize = ne.iter().product();
            let vals: Vec<f32> = if ty == GGML_TYPE_F32 {
                (0..n)
                    .map(|i| {
                        f32::from_le_bytes(bytes[p + 4 * i..p + 4 * i + 4].try_into().expect("4"))
                    })
                    .collect()
            } else {
                (0..n)
                    .map(|i| f16::from_le_bytes([bytes[p + 2 * i], bytes[p + 2 * i + 1]]).to_f32())
                    .collect()
            };
            p += n * if ty == GGML_TYPE_F32 { 4 } else { 2 };
            out.insert(name, (ne, ty, vals));
        }
        out
    }

    #[test]
    fn converts_tiny_model_and_splits_fused_weights() {
        let dir = tempfile::tempdir().expect("tempdir");
        tiny_whisper(dir.path());
        let out = dir.path().join("ggml.bin");
        let report = convert(dir.path(), &out).expect("converts");
        assert_eq!(report.n_tensors, 11 + 15 + 24);
        assert_eq!(report.n_text_tokens, 4);
        assert_eq!(report.hparams.n_mels, 2);
        assert_eq!(report.hparams.n_audio_ctx, 10);
        assert_eq!(validate_ggml(&out).expect("valid").n_vocab, 6);

        let bytes = fs::read(&out).expect("read");
        assert_eq!(&bytes[..4], &GGML_MAGIC.to_le_bytes());
        let t = read_ggml_tensors(&bytes);
        assert_eq!(t.len(), report.n_tensors);
        let first = |name: &str| -> f32 { t[name].2[0] };
        // Self-attention: q = rows 0..2, k = rows 2..4, v = rows 4..6 of the fused [6, 2].
        let q = first("encoder.blocks.0.attn.query.weight");
        assert_eq!(q % 32.0, 0.0);
        assert_eq!(first("encoder.blocks.0.attn.key.weight"), q + 4.0);
        assert_eq!(first("encoder.blocks.0.attn.value.weight"), q + 8.0);
        assert_eq!(
            t["encoder.blocks.0.attn.value.weight"].2,
            [q + 8.0, q + 9.0, q + 10.0, q + 11.0]
        );
        let qb = first("encoder.blocks.0.attn.query.bias");
        assert_eq!(
            t["encoder.blocks.0.attn.value.bias"].2,
            [qb + 4.0, qb + 5.0]
        );
        // The decoder's self-attention comes from its own fused variable.
        assert_ne!(first("decoder.blocks.0.attn.query.weight"), q);
        // Cross-attention: k = rows 0..2, v = rows 2..4 of the fused [4, 2].
        let k = first("decoder.blocks.0.cross_attn.key.weight");
        assert_eq!(first("decoder.blocks.0.cross_attn.value.weight"), k + 4.0);
        assert_eq!(t["decoder.blocks.0.cross_attn.value.bias"].2[0] % 32.0, 2.0);
        assert_eq!(
            first("decoder.blocks.0.cross_attn.query.weight") + 32.0 * 2.0,
            k
        );
        // Types and shapes whisper.cpp expects.
        let (ne, ty, _) = &t["encoder.conv1.bias"];
        assert_eq!((ne.clone(), *ty), (vec![1, 2], GGML_TYPE_F32));
        let (ne, ty, _) = &t["encoder.conv1.weight"];
        assert_eq!((ne.clone(), *ty), (vec![3, 2, 2], GGML_TYPE_F16));
        let (ne, ty, v) = &t["encoder.positional_embedding"];
        assert_eq!((ne.clone(), *ty), (vec![2, 10], GGML_TYPE_F32));
        assert_eq!(v[5] % 32.0, 5.0);
        let (ne, ty, _) = &t["decoder.token_embedding.weight"];
        assert_eq!((ne.clone(), *ty), (vec![2, 6], GGML_TYPE_F16));
        let (ne, ty, _) = &t["decoder.blocks.0.mlp.0.weight"];
        assert_eq!((ne.clone(), *ty), (vec![2, 8], GGML_TYPE_F16));
        assert!(!t.contains_key("decoder.blocks.0.attn.key.bias"));

        // q8_0 needs rows in blocks of 32, which width 2 is not: refused, nothing written.
        let q8 = dir.path().join("q8.bin");
        assert!(matches!(
            convert_with(dir.path(), &q8, GgmlWeights::Q8_0),
            Err(GgmlError::BadModel { reason, .. }) if reason.contains("q8_0")
        ));
        assert!(!q8.exists());

        // ensure_ggml leaves a current file alone and converts a missing one.
        assert!(ensure_ggml(dir.path(), &out).expect("ensure").is_none());
        fs::remove_file(&out).expect("rm");
        assert!(ensure_ggml(dir.path(), &out).expect("ensure").is_some());
        // No temporary files are left behind.
        let leftovers = fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn wrong_inputs_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("ggml.bin");
        match convert(dir.path(), &out) {
            Err(GgmlError::Io { path, .. }) => assert!(path.ends_with("model.bin")),
            other => panic!("{other:?}"),
        }
        fs::write(dir.path().join("model.bin"), b"garbage").expect("write");
        fs::write(dir.path().join("vocabulary.txt"), "a\n").expect("write");
        match convert(dir.path(), &out) {
            Err(GgmlError::BadModel { path, .. }) => assert!(path.ends_with("model.bin")),
            other => panic!("{other:?}"),
        }
        assert!(!out.exists());
        // Vocabulary size must agree with the embeddings.
        tiny_whisper(dir.path());
        fs::write(dir.path().join("vocabulary.txt"), "a\n<|endoftext|>\n").expect("write");
        match convert(dir.path(), &out) {
            Err(GgmlError::BadModel { path, reason }) => {
                assert!(path.ends_with("vocabulary.txt"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
