//! At-rest encryption of stored signing keys, free of HTTP and database: the key-encryption
//! key (KEK) file, the per-credential key derived from the KEK *and* the holder's PIN, and
//! AES-256-GCM. Why this shape: docs/SIGNING.md, "Signing credentials".

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use openssl::md::Md;
use openssl::pkey::Id;
use openssl::pkey_ctx::PkeyCtx;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

/// Bytes in the KEK file.
pub const KEK_LEN: usize = 32;
/// Bytes of the per-credential salt of the PIN derivation.
pub const SALT_LEN: usize = 16;
/// Bytes of an AES-GCM nonce (96 bits, random per encryption).
pub const NONCE_LEN: usize = 12;
/// Bytes of the AES-GCM tag, stored after the ciphertext.
pub const TAG_LEN: usize = 16;
/// The derivation stored with each key, so that parameters can change later without guessing.
pub const KDF: &str = "argon2id-v19-m19456-t2-p1+hkdf-sha256";
/// The HKDF `info`: binds the derived key to this one use.
const HKDF_INFO: &[u8] = b"docflow signing credential key v1";

/// Secret bytes, wiped when dropped and never printed.
pub struct Secret(Vec<u8>);

impl Secret {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }
    /// The bytes, for the one call that needs them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Overwrites `bytes` with zeros in a way the optimiser does not remove.
fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference into the slice.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Why the KEK cannot be used; the message names the file and what to do.
#[derive(Debug, thiserror::Error)]
#[error("signing_kek_path (DOCFLOW_SIGNING_KEK_PATH): {0}")]
pub struct KekError(pub String);

/// The key-encryption key: 32 bytes read once at start, wiped on drop, never printed.
pub struct Kek {
    bytes: [u8; KEK_LEN],
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek(id {})", self.id())
    }
}

impl Drop for Kek {
    fn drop(&mut self) {
        wipe(&mut self.bytes);
    }
}

/// Where the KEK comes from, as `startup` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// Read from the configured `signing_kek_path`.
    Configured(PathBuf),
    /// Read from `{data_dir}/signing.kek`, made by an earlier start.
    Embedded(PathBuf),
    /// Generated now at `{data_dir}/signing.kek`.
    Generated(PathBuf),
}

impl Kek {
    /// A KEK from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Kek, KekError> {
        let bytes: [u8; KEK_LEN] = bytes.try_into().map_err(|_| {
            KekError(format!(
                "the key-encryption key must be exactly {KEK_LEN} bytes, not {}",
                bytes.len()
            ))
        })?;
        Ok(Kek { bytes })
    }

    /// Reads the KEK of the configuration: `configured` when set (it must exist), otherwise
    /// `{data_dir}/signing.kek`, generated with mode 0600 when missing.
    pub fn load_or_create(configured: &str, data_dir: &Path) -> Result<(Kek, KekSource), KekError> {
        if !configured.is_empty() {
            let path = PathBuf::from(configured);
            return Ok((Kek::load(&path)?, KekSource::Configured(path)));
        }
        let path = data_dir.join("signing.kek");
        if path.exists() {
            return Ok((Kek::load(&path)?, KekSource::Embedded(path)));
        }
        let mut bytes = [0u8; KEK_LEN];
        openssl::rand::rand_bytes(&mut bytes)
            .map_err(|e| KekError(format!("cannot generate a key: {e}")))?;
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(&bytes)?;
                f.sync_all()
            });
        wipe(&mut bytes);
        written.map_err(|e| KekError(format!("cannot create {}: {e}", path.display())))?;
        Ok((Kek::load(&path)?, KekSource::Generated(path)))
    }

    /// Reads a KEK file: a regular file of exactly 32 bytes that neither group nor others may
    /// read or write.
    pub fn load(path: &Path) -> Result<Kek, KekError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| KekError(format!("cannot read {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(KekError(format!("{} is not a file", path.display())));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KekError(format!(
                "{} has mode {mode:03o}: group and others must have no access (chmod 600)",
                path.display()
            )));
        }
        if meta.len() != KEK_LEN as u64 {
            return Err(KekError(format!(
                "{} holds {} bytes; it must hold exactly {KEK_LEN} random bytes \
                 (head -c 32 /dev/urandom)",
                path.display(),
                meta.len()
            )));
        }
        let bytes = Secret::new(
            std::fs::read(path)
                .map_err(|e| KekError(format!("cannot read {}: {e}", path.display())))?,
        );
        Kek::from_bytes(bytes.expose())
    }

    /// A short public fingerprint (HKDF of the KEK, 8 bytes hex), stored beside each key so a
    /// replaced KEK is told apart from a wrong PIN.
    pub fn id(&self) -> String {
        let mut out = [0u8; 8];
        match hkdf(&self.bytes, b"", b"docflow kek id v1", &mut out) {
            Ok(()) => crate::audit::service::hex(&out),
            Err(_) => "unknown".into(),
        }
    }
}

/// Failures of sealing and opening.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The PIN (or, equivalently for the cipher, the KEK or the bound ids) does not open it.
    #[error("the PIN does not open this key")]
    WrongPin,
    /// The stored fields are not of the expected sizes.
    #[error("the stored key is malformed: {0}")]
    Malformed(&'static str),
    /// A primitive failed.
    #[error("cryptographic failure: {0}")]
    Primitive(String),
}

fn primitive(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::Primitive(e.to_string())
}

fn hkdf(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    let mut ctx = PkeyCtx::new_id(Id::HKDF).map_err(primitive)?;
    ctx.derive_init().map_err(primitive)?;
    ctx.set_hkdf_md(Md::sha256()).map_err(primitive)?;
    ctx.set_hkdf_key(ikm).map_err(primitive)?;
    if !salt.is_empty() {
        ctx.set_hkdf_salt(salt).map_err(primitive)?;
    }
    ctx.add_hkdf_info(info).map_err(primitive)?;
    ctx.derive(Some(out)).map_err(primitive)?;
    Ok(())
}

/// argon2id of the PIN (m = 19 MiB, t = 2, p = 1: OWASP's minimum, ~tens of ms here).
fn pin_key(pin: &str, salt: &[u8]) -> Result<Secret, CryptoError> {
    let params = argon2::Params::new(19 * 1024, 2, 1, Some(32)).map_err(primitive)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Secret::new(vec![0u8; 32]);
    argon
        .hash_password_into(pin.as_bytes(), salt, &mut out.0)
        .map_err(primitive)?;
    Ok(out)
}

/// The AES-256 key of one credential: HKDF-SHA256 over KEK ‖ argon2id(PIN, salt), salted with
/// the credential's salt. Neither secret alone gives it.
fn wrapping_key(kek: &Kek, pin: &str, salt: &[u8]) -> Result<Secret, CryptoError> {
    let pin = pin_key(pin, salt)?;
    let mut ikm = Secret::new(Vec::with_capacity(KEK_LEN + 32));
    ikm.0.extend_from_slice(&kek.bytes);
    ikm.0.extend_from_slice(pin.expose());
    let mut out = Secret::new(vec![0u8; 32]);
    hkdf(ikm.expose(), salt, HKDF_INFO, &mut out.0)?;
    Ok(out)
}

/// A key as stored: the derivation's salt, the GCM nonce, ciphertext ‖ tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub salt: Vec<u8>,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

/// The associated data binding a sealed key to its credential and owner: moving the
/// ciphertext to another row (or another owner) makes it fail to open.
pub fn aad(credential_id: &str, owner: &str) -> Vec<u8> {
    format!("docflow-credential-v1\0{credential_id}\0{owner}").into_bytes()
}

/// Encrypts `plaintext` under the key derived from `kek` and `pin`, with a fresh salt and nonce.
pub fn seal(kek: &Kek, pin: &str, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, CryptoError> {
    let mut salt = vec![0u8; SALT_LEN];
    let mut nonce = vec![0u8; NONCE_LEN];
    openssl::rand::rand_bytes(&mut salt).map_err(primitive)?;
    openssl::rand::rand_bytes(&mut nonce).map_err(primitive)?;
    let key = wrapping_key(kek, pin, &salt)?;
    let mut tag = [0u8; TAG_LEN];
    let mut ciphertext = encrypt_aead(
        Cipher::aes_256_gcm(),
        key.expose(),
        Some(&nonce),
        aad,
        plaintext,
        &mut tag,
    )
    .map_err(primitive)?;
    ciphertext.extend_from_slice(&tag);
    Ok(Sealed {
        salt,
        nonce,
        ciphertext,
    })
}

/// Decrypts a sealed key; a wrong PIN (or KEK, or binding) is [`CryptoError::WrongPin`].
pub fn open(kek: &Kek, pin: &str, aad: &[u8], sealed: &Sealed) -> Result<Secret, CryptoError> {
    if sealed.salt.len() != SALT_LEN {
        return Err(CryptoError::Malformed("salt"));
    }
    if sealed.nonce.len() != NONCE_LEN {
        return Err(CryptoError::Malformed("nonce"));
    }
    let Some(split) = sealed.ciphertext.len().checked_sub(TAG_LEN) else {
        return Err(CryptoError::Malformed("ciphertext"));
    };
    let (data, tag) = sealed.ciphertext.split_at(split);
    let key = wrapping_key(kek, pin, &sealed.salt)?;
    decrypt_aead(
        Cipher::aes_256_gcm(),
        key.expose(),
        Some(&sealed.nonce),
        aad,
        data,
        tag,
    )
    .map(Secret::new)
    .map_err(|_| CryptoError::WrongPin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(fill: u8) -> Kek {
        Kek::from_bytes(&[fill; KEK_LEN]).unwrap()
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_pin_and_binding() {
        let plain = b"PKCS#8 DER of a private key".to_vec();
        let binding = aad("cred-1", "user-1");
        let sealed = seal(&kek(7), "123456", &binding, &plain).unwrap();
        assert_eq!(sealed.ciphertext.len(), plain.len() + TAG_LEN);
        assert!(!sealed
            .ciphertext
            .windows(plain.len())
            .any(|w| w == plain.as_slice()));
        let opened = open(&kek(7), "123456", &binding, &sealed).unwrap();
        assert_eq!(opened.expose(), plain.as_slice());
        for (k, pin, b) in [
            (kek(7), "123457", binding.clone()),
            (kek(8), "123456", binding.clone()),
            (kek(7), "123456", aad("cred-2", "user-1")),
            (kek(7), "123456", aad("cred-1", "user-2")),
        ] {
            assert!(matches!(
                open(&k, pin, &b, &sealed),
                Err(CryptoError::WrongPin)
            ));
        }
        // A fresh salt and nonce each time: the same key never gives the same bytes twice.
        let again = seal(&kek(7), "123456", &binding, &plain).unwrap();
        assert_ne!(again.ciphertext, sealed.ciphertext);
        assert_ne!(again.nonce, sealed.nonce);
    }

    #[test]
    fn a_kek_file_must_be_32_private_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let write = |bytes: &[u8], mode: u32| {
            std::fs::write(&path, bytes).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(&[1u8; 31], 0o600);
        assert!(Kek::load(&path)
            .unwrap_err()
            .to_string()
            .contains("31 bytes"));
        write(&[1u8; 33], 0o600);
        assert!(Kek::load(&path).is_err());
        write(&[1u8; 32], 0o644);
        assert!(Kek::load(&path).unwrap_err().to_string().contains("644"));
        write(&[1u8; 32], 0o600);
        let k = Kek::load(&path).unwrap();
        assert_eq!(k.id(), kek(1).id());
        assert!(!format!("{k:?}").contains("1, 1"));
    }

    #[test]
    fn the_embedded_kek_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = Kek::load_or_create("", dir.path()).unwrap();
        let path = dir.path().join("signing.kek");
        assert_eq!(source, KekSource::Generated(path.clone()));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let (second, source) = Kek::load_or_create("", dir.path()).unwrap();
        assert_eq!(source, KekSource::Embedded(path));
        assert_eq!(first.id(), second.id());
        let missing = dir.path().join("nope").display().to_string();
        assert!(Kek::load_or_create(&missing, dir.path()).is_err());
    }
}
