//! Password reset tokens: 256 bits from the operating system's generator, stored as
//! their SHA-256 digest. A digest without a salt is enough here: the token is random
//! and long, so there is no dictionary to precompute, and a lookup by digest must be
//! one indexed read.

use sha2::{Digest, Sha256};
use taskforge_domain::DomainError;
use taskforge_domain::auth::OneTimeTokens;

/// Random bytes per token (twice the 128 bits asked for).
const TOKEN_BYTES: usize = 32;

/// [`OneTimeTokens`] from the OS's random source and SHA-256.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomTokens;

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
            out
        })
}

impl OneTimeTokens for RandomTokens {
    fn generate(&self) -> Result<String, DomainError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| DomainError::unexpected(e.to_string()))?;
        Ok(to_hex(&bytes))
    }

    fn digest(&self, token: &str) -> String {
        to_hex(&Sha256::digest(token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_differ() {
        let (a, b) = (
            RandomTokens.generate().unwrap(),
            RandomTokens.generate().unwrap(),
        );
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_digest_is_sha256_hex_and_not_the_token() {
        assert_eq!(
            RandomTokens.digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
