//! The box's evidence key: an Ed25519 key pair made on the box the first
//! time it records evidence (or by `watchpost evidence-key`), kept under the
//! state directory (`evidence/box.key`, readable by the service only) with
//! its public half beside it (`evidence/box.pub`, hex) for the office to
//! verify clips with. The private key never leaves the box.

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};

/// The private key's file name, under the evidence folder.
pub const PRIVATE: &str = "box.key";
/// The public key's file name, under the evidence folder.
pub const PUBLIC: &str = "box.pub";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an Ed25519 key (64 hex digits expected)")]
    Malformed { path: PathBuf },
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

/// The box's key pair, made and stored when `dir` has none.
pub fn load_or_create(dir: &Path) -> Result<SigningKey, KeyError> {
    let path = dir.join(PRIVATE);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io { path, source }
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let seed = from_hex::<32>(text.trim()).ok_or(KeyError::Malformed { path: path.clone() })?;
            let key = SigningKey::from_bytes(&seed);
            // the public half is written again if it went missing
            let public = dir.join(PUBLIC);
            if !public.exists() {
                std::fs::write(&public, format!("{}\n", hex(key.verifying_key().as_bytes()))).map_err(io(&public))?;
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
            let key = SigningKey::from_bytes(&seed);
            write_private(&path, &format!("{}\n", hex(&seed))).map_err(io(&path))?;
            let public = dir.join(PUBLIC);
            std::fs::write(&public, format!("{}\n", hex(key.verifying_key().as_bytes()))).map_err(io(&public))?;
            tracing::info!(public_key = %hex(key.verifying_key().as_bytes()), path = %public.display(),
                "made the box's evidence signing key");
            Ok(key)
        }
        Err(source) => Err(KeyError::Io { path, source }),
    }
}

/// A public key file (hex, as `box.pub` holds it).
pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let malformed = || KeyError::Malformed {
        path: path.to_path_buf(),
    };
    let bytes = from_hex::<32>(text.trim()).ok_or_else(malformed)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| malformed())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `N` bytes from `2N` hex digits.
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let made = load_or_create(dir.path()).unwrap();
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(made.to_bytes(), again.to_bytes());
        let public = read_public(&dir.path().join(PUBLIC)).unwrap();
        assert_eq!(public, made.verifying_key());
        assert_eq!(from_hex::<2>("0aff"), Some([10, 255]));
        assert_eq!(from_hex::<2>("0ag0"), None);
    }
}
