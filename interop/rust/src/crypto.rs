//! Keys, payload AEAD and sealing to the owner (coding-and-crypto.md §1-§4),
//! version 2's repair seed and locator seeds included, and the segment and
//! index seeds of a file of segments (§2, README §19.1).
//!
//! Every function is deterministic in its inputs: randomness (AEAD nonce,
//! ephemeral seed) is a parameter the caller draws from a CSPRNG.

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use crypto_box::SalsaBox;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use hkdf::Hkdf;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{fail, Result};
use crate::limits::MANIFEST_VERSIONS;
use crate::proto::RejectCode;

pub use crate::objects::wanderer_id;

fn hkdf32(seed: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(None, seed)
        .expand(info, &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    okm
}

/// The payload key: HKDF(seed, "wdp/v1/data-key") (§2).
pub fn data_key(owner_seed: &[u8; 32]) -> [u8; 32] {
    hkdf32(owner_seed, b"wdp/v1/data-key")
}

/// The locator seed of (shard_index, generation) of a version 1 wanderer
/// (§2); its Ed25519 public key is the record's `locator_key`.
pub fn locator_seed(owner_seed: &[u8; 32], shard_index: u32, generation: u32) -> [u8; 32] {
    let mut info = b"wdp/v1/locator-key".to_vec();
    info.extend_from_slice(&shard_index.to_be_bytes());
    info.extend_from_slice(&generation.to_be_bytes());
    hkdf32(owner_seed, &info)
}

/// Version 2: the repair seed, HKDF(owner seed, "wdp/v2/repair-seed") (§2).
/// Its Ed25519 public key is the manifest's `repair_key`; it finds, audits
/// and relaunches shards, and cannot decrypt.
pub fn repair_seed(owner_seed: &[u8; 32]) -> [u8; 32] {
    hkdf32(owner_seed, b"wdp/v2/repair-seed")
}

/// Version 2: the locator seed of (shard_index, generation), from the
/// **repair seed** (§2).
pub fn locator_seed_v2(repair_seed: &[u8; 32], shard_index: u32, generation: u32) -> [u8; 32] {
    let mut info = b"wdp/v2/locator-key".to_vec();
    info.extend_from_slice(&shard_index.to_be_bytes());
    info.extend_from_slice(&generation.to_be_bytes());
    hkdf32(repair_seed, &info)
}

/// A file of segments (README §19.1, §2 "Files of several segments"): the
/// owner seed of segment `index` (0-based), HKDF(file seed,
/// "wdp/v2/segment-seed" || u32be(index)). Segment `index` is a version 2
/// wanderer with this owner seed.
pub fn segment_seed(file_seed: &[u8; 32], index: u32) -> [u8; 32] {
    let mut info = b"wdp/v2/segment-seed".to_vec();
    info.extend_from_slice(&index.to_be_bytes());
    hkdf32(file_seed, &info)
}

/// A file of segments: the owner seed of its index wanderer, HKDF(repair
/// seed of the file seed, "wdp/v2/file-index-seed") (README §19.1, §2).
/// Takes the file's **repair seed** (`repair_seed(&file_seed)`), so that a
/// keeper holding only that can read the index.
pub fn file_index_seed(file_repair_seed: &[u8; 32]) -> [u8; 32] {
    hkdf32(file_repair_seed, b"wdp/v2/file-index-seed")
}

/// The wanderer version a ticket or manifest names, refusing any other:
/// only 1 and 2 name one wanderer whose seed is an owner seed. A version 3
/// ticket's seed is a *file seed* (README §16, §19): using it as an owner
/// seed would open nothing, so it is refused here rather than read as
/// version 2 (its seeds are in [`crate::segments`]).
fn wanderer_version(version: u32) -> Result<u32> {
    if MANIFEST_VERSIONS.contains(&version) {
        Ok(version)
    } else {
        Err(fail(
            RejectCode::UnsupportedVersion,
            format!(
                "version {version} does not name one wanderer with an owner seed \
                 (version 3 is a file seed: see segments)"
            ),
        ))
    }
}

/// The locator seed of a wanderer of manifest `version`, from the owner
/// seed (spec §3): version 1 from the owner seed, version 2 through the
/// repair seed. `UNSUPPORTED_VERSION` for any other version, a version 3
/// ticket's included (its seed is a file seed, not an owner seed).
pub fn locator_seed_for(
    version: u32,
    owner_seed: &[u8; 32],
    shard_index: u32,
    generation: u32,
) -> Result<[u8; 32]> {
    Ok(match wanderer_version(version)? {
        1 => locator_seed(owner_seed, shard_index, generation),
        _ => locator_seed_v2(&repair_seed(owner_seed), shard_index, generation),
    })
}

/// The seed whose key is the sealing key of a manifest `version` (spec
/// §4.1): the owner seed in version 1, the repair seed in version 2. It
/// opens that wanderer's locators ([`open`]). `UNSUPPORTED_VERSION` for any
/// other version, a version 3 ticket's included.
pub fn sealing_seed(version: u32, owner_seed: &[u8; 32]) -> Result<[u8; 32]> {
    Ok(match wanderer_version(version)? {
        1 => *owner_seed,
        _ => repair_seed(owner_seed),
    })
}

/// ChaCha20-Poly1305 (RFC 8439): `ciphertext || tag` (§3).
pub fn aead_encrypt(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("ChaCha20-Poly1305 encryption does not fail below 2^38 bytes")
}

/// Opens `ciphertext || tag`; `MALFORMED` if the tag does not verify.
pub fn aead_decrypt(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>> {
    ChaCha20Poly1305::new(key.into())
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .map_err(|_| {
            fail(
                RejectCode::Malformed,
                "payload does not decrypt (wrong key, nonce or data)",
            )
        })
}

/// The X25519 form of an Ed25519 public key (§4.1), `None` for a key that
/// is not a prime-order-subgroup point (libsodium rejects those too).
pub fn x25519_public(ed25519_public: &[u8; 32]) -> Option<[u8; 32]> {
    let point = CompressedEdwardsY(*ed25519_public).decompress()?;
    if point.is_small_order() || !point.is_torsion_free() {
        return None;
    }
    Some(point.to_montgomery().to_bytes())
}

/// The X25519 private key of an Ed25519 seed: clamped SHA-512(seed)[0..32] (§4.1).
pub fn x25519_secret(seed: &[u8; 32]) -> [u8; 32] {
    let h = Sha512::digest(seed);
    let mut sk = [0u8; 32];
    sk.copy_from_slice(&h[..32]);
    sk[0] &= 248;
    sk[31] &= 127;
    sk[31] |= 64;
    sk
}

fn x25519(scalar: &[u8; 32], point: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint(*point).mul_clamped(*scalar).to_bytes()
}

fn x25519_base(scalar: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*scalar).to_bytes()
}

fn seal_nonce(epk: &[u8; 32], rpk: &[u8; 32]) -> [u8; 24] {
    let mut hasher = Blake2bVar::new(24).expect("24 is a valid BLAKE2b length");
    hasher.update(epk);
    hasher.update(rpk);
    let mut nonce = [0u8; 24];
    hasher
        .finalize_variable(&mut nonce)
        .expect("buffer is 24 bytes");
    nonce
}

/// The deterministic sealed box of §4.2: `epk || tag || c`, `len(m) + 48`
/// bytes, to `owner_public` (a manifest's sealing key: the owner key in
/// version 1, the repair key in version 2).
pub fn seal(
    owner_public: &[u8; 32],
    plaintext: &[u8],
    ephemeral_seed: &[u8; 32],
) -> Result<Vec<u8>> {
    let rpk = x25519_public(owner_public)
        .ok_or_else(|| fail(RejectCode::Malformed, "owner key has no X25519 form"))?;
    let epk = x25519_base(ephemeral_seed);
    if x25519(ephemeral_seed, &rpk) == [0u8; 32] {
        return Err(fail(RejectCode::Malformed, "X25519 shared secret is zero"));
    }
    let nonce = seal_nonce(&epk, &rpk);
    let sbox = SalsaBox::new(
        &crypto_box::PublicKey::from(rpk),
        &crypto_box::SecretKey::from(*ephemeral_seed),
    );
    let boxed = sbox
        .encrypt(&nonce.into(), plaintext)
        .map_err(|_| fail(RejectCode::Malformed, "sealing failed"))?;
    let mut out = epk.to_vec();
    out.extend_from_slice(&boxed);
    Ok(out)
}

/// Opens a sealed box with the owner seed (§4.3), or the repair seed for a
/// version 2 wanderer ([`sealing_seed`]); `MALFORMED` if it does not open.
pub fn open(owner_seed: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < 48 {
        return Err(fail(
            RejectCode::Malformed,
            "sealed box shorter than 48 bytes",
        ));
    }
    let rsk = x25519_secret(owner_seed);
    let rpk = x25519_base(&rsk);
    let epk: [u8; 32] = sealed[..32].try_into().expect("32 bytes");
    if x25519(&rsk, &epk) == [0u8; 32] {
        return Err(fail(RejectCode::Malformed, "X25519 shared secret is zero"));
    }
    let nonce = seal_nonce(&epk, &rpk);
    let sbox = SalsaBox::new(
        &crypto_box::PublicKey::from(epk),
        &crypto_box::SecretKey::from(rsk),
    );
    sbox.decrypt(&nonce.into(), &sealed[32..]).map_err(|_| {
        fail(
            RejectCode::Malformed,
            "sealed box does not open with this owner seed",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wanderer_versions_have_locator_and_sealing_seeds() {
        let seed = [5u8; 32];
        assert_eq!(sealing_seed(1, &seed).unwrap(), seed);
        assert_eq!(sealing_seed(2, &seed).unwrap(), repair_seed(&seed));
        assert_eq!(
            locator_seed_for(1, &seed, 2, 3).unwrap(),
            locator_seed(&seed, 2, 3)
        );
        assert_eq!(
            locator_seed_for(2, &seed, 2, 3).unwrap(),
            locator_seed_v2(&repair_seed(&seed), 2, 3)
        );
        // A version 3 ticket's seed is a file seed: never an owner seed.
        for version in [0, 3, 4, 255] {
            assert_eq!(
                sealing_seed(version, &seed).unwrap_err().code,
                RejectCode::UnsupportedVersion
            );
            assert_eq!(
                locator_seed_for(version, &seed, 0, 0).unwrap_err().code,
                RejectCode::UnsupportedVersion
            );
        }
    }
}
