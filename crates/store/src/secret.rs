//! Secrets kept for re-planting, encrypted at rest with XChaCha20-Poly1305.
//!
//! The sealed form is `version (1 byte) || nonce (24 bytes) || ciphertext and tag`. Each secret
//! gets a random nonce (XChaCha's 192-bit nonces make random ones safe for any number of
//! secrets), and the canary id is authenticated as associated data, so a sealed secret copied
//! onto another canary's row fails to open instead of planting the wrong credentials.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::model::CanaryId;

const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 24;

/// A secret access key. Its `Debug` output is `[redacted]`, so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret access key.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for planting it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The key that encrypts kept secrets, 32 bytes given in configuration as base64.
///
/// Generate one with `openssl rand -base64 32`. Its `Debug` output is `[redacted]`.
#[derive(Clone)]
pub struct SecretKey(Key);

/// Why a configured secret key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretKeyError {
    /// The text is not base64.
    #[error(
        "the secret key is not valid base64 ({0}); generate one with `openssl rand -base64 32`"
    )]
    NotBase64(String),
    /// The decoded key has the wrong length.
    #[error(
        "the secret key decodes to {0} bytes, but 32 are needed; generate one with `openssl rand -base64 32`"
    )]
    WrongLength(usize),
}

impl SecretKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(Key::from(bytes))
    }

    /// A new random key, e.g. for `tripkey` to offer when none is configured.
    pub fn generate() -> SecretKey {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        SecretKey::from_bytes(bytes)
    }

    /// The key as standard base64, the form configuration holds.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.as_slice())
    }

    /// Encrypts `secret` for the canary `id`.
    pub(crate) fn seal(&self, id: &CanaryId, secret: &Secret) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.expose().as_bytes(),
            aad: id.as_str().as_bytes(),
        };
        let ciphertext = XChaCha20Poly1305::new(&self.0)
            .encrypt(&XNonce::from(nonce), payload)
            // Encryption fails only for messages of gigabytes; a secret key is 40 bytes.
            .expect("a secret access key is far below the AEAD's size limit");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(SEALED_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts what [`SecretKey::seal`] produced for the same canary; `None` when this is not
    /// the key it was sealed with, or the bytes were altered.
    pub(crate) fn open(&self, id: &CanaryId, sealed: &[u8]) -> Option<Secret> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEALED_V1 || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).ok()?;
        let payload = Payload {
            msg: ciphertext,
            aad: id.as_str().as_bytes(),
        };
        let plain = XChaCha20Poly1305::new(&self.0)
            .decrypt(&nonce, payload)
            .ok()?;
        String::from_utf8(plain).ok().map(Secret)
    }
}

impl FromStr for SecretKey {
    type Err = SecretKeyError;

    fn from_str(text: &str) -> Result<Self, SecretKeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| SecretKeyError::NotBase64(e.to_string()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| SecretKeyError::WrongLength(bytes.len()))?;
        Ok(SecretKey::from_bytes(bytes))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn seal_open_round_trip_and_fresh_nonces() {
        let key = SecretKey::generate();
        let id = CanaryId::generate();
        let sealed = key.seal(&id, &Secret::new(SECRET));
        assert_eq!(key.open(&id, &sealed).unwrap().expose(), SECRET);
        assert_ne!(sealed, key.seal(&id, &Secret::new(SECRET)));
        assert!(!sealed
            .windows(8)
            .any(|w| SECRET.as_bytes().windows(8).any(|s| s == w)));
    }

    #[test]
    fn wrong_key_other_canary_or_tampering_fail_to_open() {
        let key = SecretKey::generate();
        let id = CanaryId::generate();
        let sealed = key.seal(&id, &Secret::new(SECRET));
        assert!(SecretKey::generate().open(&id, &sealed).is_none());
        assert!(key.open(&CanaryId::generate(), &sealed).is_none());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&id, &tampered).is_none());
        assert!(key.open(&id, &sealed[..10]).is_none());
        assert!(key.open(&id, &[]).is_none());
    }

    #[test]
    fn keys_parse_from_base64_with_clear_errors() {
        let key = SecretKey::generate();
        let parsed: SecretKey = key.to_base64().parse().unwrap();
        let id = CanaryId::generate();
        let sealed = key.seal(&id, &Secret::new(SECRET));
        assert_eq!(parsed.open(&id, &sealed).unwrap().expose(), SECRET);

        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let err = short.parse::<SecretKey>().unwrap_err();
        assert_eq!(err, SecretKeyError::WrongLength(16));
        assert!(err.to_string().contains("32 are needed"));
        let err = "not base64!".parse::<SecretKey>().unwrap_err();
        assert!(matches!(err, SecretKeyError::NotBase64(_)));
        assert!(err.to_string().contains("openssl rand -base64 32"));
    }

    #[test]
    fn debug_output_is_redacted() {
        let secret = Secret::new(SECRET);
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        let key = SecretKey::generate();
        let shown = format!("{key:?}");
        assert_eq!(shown, "SecretKey([redacted])");
        assert!(!shown.contains(&key.to_base64()));
    }
}
