//! API tokens: 32 random bytes shown once, kept only as their SHA-256.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix of every token, so a leaked one is recognisable in a secret scanner's rules.
pub const PREFIX: &str = "tk_";

/// A new token and its digest (what the store keeps).
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let digest = digest(&token);
    (token, digest)
}

/// The SHA-256 of a token, in lowercase hex: what the store looks tokens up by. Tokens are
/// random and long, so an unsalted fast hash is enough; comparison happens in the database by
/// equality of digests, so its timing says nothing about the token.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_hex_and_tokens_differ() {
        assert_eq!(
            digest("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let (a, digest_a) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43);
        assert_eq!(digest(&a), digest_a);
    }
}
