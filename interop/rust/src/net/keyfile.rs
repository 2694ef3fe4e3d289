//! The peer's Ed25519 identity: one key is both the libp2p identity and the WDP peer key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use libp2p::identity::{ed25519, Keypair};

/// Load the 32-byte Ed25519 secret from `path`, or create it (mode 0600) if missing.
///
/// The file holds the raw 32-byte seed (RFC 8032 private key), nothing else.
pub fn load_or_create(path: &Path) -> Result<(Keypair, [u8; 32]), String> {
    if path.exists() {
        let meta =
            fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "{} is readable by other users; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
        let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "{} holds {} bytes, expected a 32-byte Ed25519 secret; delete it to create a new identity",
                path.display(),
                bytes.len()
            )
        })?;
        return Ok((keypair_of(seed)?, seed));
    }
    let seed: [u8; 32] = rand::random();
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(&seed)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((keypair_of(seed)?, seed))
}

fn keypair_of(seed: [u8; 32]) -> Result<Keypair, String> {
    let mut bytes = seed;
    let secret = ed25519::SecretKey::try_from_bytes(&mut bytes)
        .map_err(|e| format!("invalid Ed25519 secret: {e}"))?;
    Ok(Keypair::from(ed25519::Keypair::from(secret)))
}
