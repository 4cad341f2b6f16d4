//! This node's static key pair: `/etc/muros-ha/peer.key` (under the root), mode 0600,
//! generated on first start. The private half is never logged and never in status;
//! the public half is shown as `peer.local_key` for the admin to paste into the peer's
//! `option peer_key`.
//!
//! The file holds both halves, but only the private one is read: the public key is
//! derived from it on every load, so a file whose `public` line was edited or damaged
//! cannot make us announce (or pin into the handshake hash) a key we do not hold. The
//! `public` line is still written, for the admin and for older releases, which read it.

use super::noise::{self, Key, SecretKey};
use crate::model::peer::{base64_decode, base64_encode};
use crate::paths::Paths;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

pub const KEY_FILE: &str = "/etc/muros-ha/peer.key";

#[derive(Clone)]
pub struct KeyPair {
    /// Wiped when dropped.
    pub private: SecretKey,
    /// Always `noise::public_key(private)`.
    pub public: Key,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair {{ public: {}, private: *** }}", self.public_b64())
    }
}

impl KeyPair {
    pub fn public_b64(&self) -> String {
        base64_encode(&self.public)
    }
}

pub fn key_file(paths: &Paths) -> PathBuf {
    paths.join(KEY_FILE)
}

/// Read the key pair, or create it (0600, atomically) when the file does not exist.
/// A file that exists but is unreadable or malformed is an error, never overwritten:
/// replacing it would silently break the pairing the peer has pinned.
pub fn load_or_generate(paths: &Paths) -> Result<KeyPair, String> {
    let path = key_file(paths);
    let label = path.display().to_string();
    match crate::fsutil::read_to_string(&path) {
        Ok(text) => {
            let text = zeroize::Zeroizing::new(text);
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            if mode & 0o077 != 0 {
                log::warn!("{}: mode {:o} lets others read the private key; setting 0600", label, mode);
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| format!("{}: {}", label, e))?;
            }
            parse(&text).map_err(|e| format!("{}: {}", label, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (private, public) = super::session::generate_keypair()?;
            let kp = KeyPair { private, public };
            if let Some(dir) = path.parent() {
                crate::fsutil::create_dirs(dir).map_err(|e| format!("{}: {}", dir.display(), e))?;
            }
            crate::fsutil::write_atomic(&path, render(&kp).as_bytes(), 0o600).map_err(|e| format!("{}: {}", label, e))?;
            log::info!("generated the peer-link key pair in {} (public key {})", label, kp.public_b64());
            Ok(kp)
        }
        Err(e) => Err(format!("{}: {}", label, e)),
    }
}

/// The file's text; it holds the private key, so it is wiped when dropped too.
fn render(kp: &KeyPair) -> zeroize::Zeroizing<String> {
    let private = zeroize::Zeroizing::new(base64_encode(&*kp.private));
    zeroize::Zeroizing::new(format!("# muros-ha peer-link key pair; keep private\nprivate {}\npublic {}\n", *private, kp.public_b64()))
}

fn parse(text: &str) -> Result<KeyPair, String> {
    let v = text.lines().find_map(|l| l.trim_ascii().strip_prefix("private ").map(str::trim_ascii)).ok_or("no 'private' line")?;
    let bytes = zeroize::Zeroizing::new(base64_decode(v).ok_or("'private' is not base64")?);
    let mut private = SecretKey::default();
    if bytes.len() != private.len() {
        return Err("'private' is not 32 bytes".into());
    }
    private.copy_from_slice(&bytes);
    let public = noise::public_key(&private);
    Ok(KeyPair { private, public })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_generated_once_with_mode_0600_and_read_back_the_same() {
        let dir = std::env::temp_dir().join(format!("muros-peer-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = Paths::new(&dir);
        let a = load_or_generate(&paths).unwrap();
        let mode = std::fs::metadata(key_file(&paths)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_generate(&paths).unwrap();
        assert_eq!(a.public, b.public);
        assert_eq!(*a.private, *b.private);
        assert!(!format!("{:?}", a).contains(&base64_encode(&*a.private)));
        // A `public` line that does not belong to the private key is not believed.
        let text = std::fs::read_to_string(key_file(&paths)).unwrap();
        let (_, stranger) = noise::generate_keypair().unwrap();
        std::fs::write(key_file(&paths), text.replace(&a.public_b64(), &base64_encode(&stranger))).unwrap();
        assert_eq!(load_or_generate(&paths).unwrap().public, a.public);
        std::fs::write(key_file(&paths), text.replace(&format!("public {}\n", a.public_b64()), "")).unwrap();
        assert_eq!(load_or_generate(&paths).unwrap().public, a.public, "the public line is not needed");
        std::fs::write(key_file(&paths), "garbage").unwrap();
        assert!(load_or_generate(&paths).is_err(), "a damaged key file is reported, not replaced");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
