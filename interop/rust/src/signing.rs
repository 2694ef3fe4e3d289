//! The signing rule of spec §2 and Ed25519 keys (spec §1, §3).
//!
//! `signing_input = u8(len(domain)) || domain || u64be(len(body)) || body`.
//! Verification is strict (`verify_strict`: canonical `S`, no small-order `R`
//! or key, plus a canonical key encoding), as libsodium's
//! `crypto_sign_verify_detached`.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

pub const DOMAIN_MANIFEST: &str = "wdp/v1/manifest";
pub const DOMAIN_RECORD: &str = "wdp/v1/custody-record";
pub const DOMAIN_RECEIPT: &str = "wdp/v1/receipt";
pub const DOMAIN_LOCATOR: &str = "wdp/v1/locator";
pub const DOMAIN_FETCH: &str = "wdp/v1/fetch-request";
pub const DOMAIN_AUDIT: &str = "wdp/v1/audit-challenge";
/// The owner's grant of audit rights to another key (spec §18.2).
pub const DOMAIN_REPAIR_GRANT: &str = "wdp/v2/repair-grant";

/// `H(x)`: raw SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The bytes an Ed25519 key signs for `body` under `domain` (spec §2).
pub fn signing_input(domain: &str, body: &[u8]) -> Vec<u8> {
    let d = domain.as_bytes();
    assert!(d.len() <= 255, "domain longer than 255 bytes");
    let mut out = Vec::with_capacity(1 + d.len() + 8 + body.len());
    out.push(d.len() as u8);
    out.extend_from_slice(d);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Signs `body` under `domain` with `key`.
pub fn sign(key: &SigningKey, domain: &str, body: &[u8]) -> [u8; 64] {
    key.sign(&signing_input(domain, body)).to_bytes()
}

/// Verifies `signature` over the received `body` bytes with the 32-byte
/// public key `public`. False for a malformed key or signature.
pub fn verify(public: &[u8], domain: &str, body: &[u8], signature: &[u8]) -> bool {
    let Ok(public) = <[u8; 32]>::try_from(public) else {
        return false;
    };
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    if !is_canonical_key(&public) {
        return false;
    }
    let Ok(key) = VerifyingKey::from_bytes(&public) else {
        return false;
    };
    key.verify_strict(
        &signing_input(domain, body),
        &Signature::from_bytes(&signature),
    )
    .is_ok()
}

/// False for a key whose y coordinate (the low 255 bits) is ≥ p = 2^255 − 19:
/// libsodium refuses such non-canonical encodings (spec §1), while
/// `VerifyingKey::from_bytes` reduces y mod p and `verify_strict` accepts
/// them unless the point has small order.
pub fn is_canonical_key(key: &[u8; 32]) -> bool {
    let top = key[31] & 0x7f == 0x7f && key[1..31].iter().all(|&b| b == 0xff);
    !(top && key[0] >= 0xed)
}

/// The Ed25519 key pair of a 32-byte seed (RFC 8032 private key).
pub fn signing_key(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

/// The 32-byte public key of a seed.
pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// The libp2p PeerId bytes of an Ed25519 key: identity multihash of the
/// protobuf `PublicKey`, `00 24 08 01 12 20 || key` (spec §1).
pub fn peer_id_bytes(key: &[u8; 32]) -> [u8; 38] {
    let mut out = [0u8; 38];
    out[..6].copy_from_slice(&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
    out[6..].copy_from_slice(key);
    out
}

/// The Ed25519 key inside PeerId bytes, or `None` if they are not an
/// identity-multihashed Ed25519 key (such a peer fails check B8).
pub fn key_from_peer_id_bytes(bytes: &[u8]) -> Option<[u8; 32]> {
    if bytes.len() != 38 || bytes[..6] != [0x00, 0x24, 0x08, 0x01, 0x12, 0x20] {
        return None;
    }
    bytes[6..].try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_with_y_below_p_are_canonical() {
        let p_minus_1 = {
            let mut k = [0xff; 32];
            k[0] = 0xec;
            k[31] = 0x7f;
            k
        };
        assert!(is_canonical_key(&p_minus_1));
        for low in 0xed..=0xff {
            let mut k = p_minus_1;
            k[0] = low;
            assert!(!is_canonical_key(&k), "y = p + {}", low - 0xed);
            k[31] |= 0x80; // the sign bit does not make it canonical
            assert!(!is_canonical_key(&k));
            assert!(!verify(&k, DOMAIN_RECEIPT, b"", &[0u8; 64]));
        }
        assert!(is_canonical_key(&public_key(&[1u8; 32])));
        // A genuine signature still verifies.
        let seed = [9u8; 32];
        let sig = sign(&signing_key(&seed), DOMAIN_RECEIPT, b"body");
        assert!(verify(&public_key(&seed), DOMAIN_RECEIPT, b"body", &sig));
    }
}
