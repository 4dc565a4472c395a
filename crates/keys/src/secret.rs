//! Secret access keys: the format, and minting for tests and the offline issuer.

use rand::Rng;

/// The characters of a secret access key: the base64 alphabet without padding.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const SECRET_LEN: usize = 40;

/// Mints a secret access key: 40 characters drawn uniformly from `[A-Za-z0-9+/]`.
///
/// Only for tests and the offline issuer: it has the format of a real secret and nothing else.
pub fn mint_secret_access_key(rng: &mut (impl Rng + ?Sized)) -> String {
    (0..SECRET_LEN)
        .map(|_| char::from(SECRET_ALPHABET[rng.random_range(0..SECRET_ALPHABET.len())]))
        .collect()
}

/// Whether `text` has the format of a secret access key: 40 characters of `[A-Za-z0-9+/]`.
///
/// A format check only; it cannot tell a live secret from a minted one.
pub fn looks_like_secret_access_key(text: &str) -> bool {
    text.len() == SECRET_LEN && text.bytes().all(|b| SECRET_ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_documented_example() {
        assert!(looks_like_secret_access_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
    }

    #[test]
    fn rejects_other_formats() {
        assert!(!looks_like_secret_access_key(""));
        assert!(!looks_like_secret_access_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE"
        ));
        assert!(!looks_like_secret_access_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYY"
        ));
        assert!(!looks_like_secret_access_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE="
        ));
        assert!(!looks_like_secret_access_key(
            "wJalrXUtnFEMI-K7MDENG_bPxRfiCYEXAMPLEKEY"
        ));
        // 40 bytes but 39 characters: multi-byte text must not pass on byte length.
        assert!(!looks_like_secret_access_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEé"
        ));
    }
}
