//! File digests: the importer keys idempotent re-imports by a list's SHA-256, and model
//! provisioning checks wheels against pinned SHA-256s.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The SHA-256 of a file's contents, in lowercase hex, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
