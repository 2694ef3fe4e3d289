//! Locator records in the DHT (spec §9, §4.5, §4.6): key derivation, the
//! namespace validator, the select rule, building (signing) a record with a
//! sealed HolderInfo, and opening it as the owner.
//!
//! The DHT key is `"/wdp/" || base64url(locator_key)` (unpadded, canonical,
//! 48 bytes), as in §9 "Key" and `locator.json`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use prost::Message;

use crate::crypto;
use crate::error::{fail, Result};
use crate::limits::*;
use crate::objects::{parse_holder_info, parse_locator, sign_body, Locator};
use crate::proto::{HolderInfo, LocatorBody, RejectCode, Signed};
use crate::signing::{signing_key, DOMAIN_LOCATOR};

pub const NAMESPACE: &str = "wdp";
const PREFIX: &str = "/wdp/";

/// The DHT key of a locator key.
pub fn dht_key(locator_key: &[u8; 32]) -> Vec<u8> {
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(locator_key)).into_bytes()
}

/// The locator key named by a DHT key (validator step 1), `MALFORMED` unless
/// it is exactly `/wdp/` + 43 canonical unpadded base64url characters.
pub fn key_from_dht_key(key: &[u8]) -> Result<[u8; 32]> {
    let bad = || {
        fail(
            RejectCode::Malformed,
            "key is not /wdp/ + 43 canonical base64url characters",
        )
    };
    let rest = key.strip_prefix(PREFIX.as_bytes()).ok_or_else(bad)?;
    if rest.len() != 43 {
        return Err(bad());
    }
    let raw = URL_SAFE_NO_PAD.decode(rest).map_err(|_| bad())?;
    let out: [u8; 32] = raw.as_slice().try_into().map_err(|_| bad())?;
    if URL_SAFE_NO_PAD.encode(out).as_bytes() != rest {
        return Err(bad());
    }
    Ok(out)
}

/// The validator of spec §9 (steps 1-6) at `now_ms`. The codes are the
/// reference's (informative); what matters is valid or not.
pub fn validate(key: &[u8], value: &[u8], now_ms: u64) -> Result<Locator> {
    let locator_key = key_from_dht_key(key)?;
    if value.len() > MAX_LOCATOR_VALUE {
        return Err(fail(
            RejectCode::TooLarge,
            "locator value exceeds 2048 bytes",
        ));
    }
    let signed = Signed::decode(value)
        .map_err(|e| fail(RejectCode::Malformed, format!("value is not a Signed: {e}")))?;
    let rec = parse_locator(&signed)?;
    if !rec.verify(DOMAIN_LOCATOR, &locator_key) {
        return Err(fail(
            RejectCode::BadSignature,
            "locator signature is invalid",
        ));
    }
    let expires = rec.fields.expires_at_ms;
    if expires <= now_ms {
        return Err(fail(RejectCode::StaleHop, "locator record expired"));
    }
    if expires > now_ms + MAX_LOCATOR_TTL_MS + MAX_CLOCK_SKEW_MS {
        return Err(fail(
            RejectCode::Malformed,
            "locator expiry is too far in the future",
        ));
    }
    Ok(rec)
}

/// The select rule of spec §9: the index of the winning value, `None` if
/// none is valid.
pub fn select(key: &[u8], values: &[Vec<u8>], now_ms: u64) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| validate(key, v, now_ms).ok().map(|l| (i, v, l)))
        .max_by(|(_, va, a), (_, vb, b)| {
            let (fa, fb) = (&a.fields, &b.fields);
            (fa.generation, fa.hop, fa.expires_at_ms)
                .cmp(&(fb.generation, fb.hop, fb.expires_at_ms))
                // smaller bytes win: reverse the byte order
                .then_with(|| vb.cmp(va))
        })
        .map(|(i, _, _)| i)
}

/// The epoch a carrier keeps for a manifest's `epoch_seconds`: never below
/// its floor (spec §12 "Epoch floor").
pub fn kept_epoch_seconds(epoch_seconds: u32) -> u32 {
    epoch_seconds.max(MIN_EPOCH_FLOOR_SECONDS)
}

/// `now + min(2 × epoch_seconds × 1000, 24 h)` (spec §9 "Publishing"); the
/// caller passes the epoch it keeps ([`kept_epoch_seconds`]).
pub fn expires_at_ms(now_ms: u64, epoch_seconds: u32) -> u64 {
    now_ms + (LOCATOR_LIFETIME_EPOCHS * u64::from(epoch_seconds) * 1000).min(MAX_LOCATOR_TTL_MS)
}

/// The HolderInfo of a carrier, with as many of `addrs` (binary multiaddrs,
/// in order) as fit: ≤ 8, each ≤ 256 bytes, encoding ≤ 976 bytes (§4.6).
pub fn holder_info(holder: &[u8; 32], addrs: &[Vec<u8>], record_hash: &[u8; 32]) -> HolderInfo {
    let mut info = HolderInfo {
        holder: holder.to_vec(),
        addrs: Vec::new(),
        record_hash: record_hash.to_vec(),
    };
    for addr in addrs.iter().filter(|a| a.len() <= MAX_ADDR_BYTES) {
        if info.addrs.len() == MAX_HOLDER_ADDRS {
            break;
        }
        info.addrs.push(addr.clone());
        if info.encoded_len() > MAX_SEALED_HOLDER - MIN_SEALED_HOLDER {
            info.addrs.pop();
        }
    }
    info
}

/// A signed locator value (an encoded `Signed{LocatorBody}`) for the DHT,
/// its HolderInfo sealed to `sealing_key`: the manifest's sealing key
/// ([`crate::objects::sealing_key`]: the owner key in version 1, the repair
/// key in version 2). `ephemeral_seed` must be fresh CSPRNG bytes for every record.
pub fn build_value(
    locator_secret: &[u8; 32],
    sealing_key: &[u8; 32],
    generation: u32,
    hop: u64,
    expires_at_ms: u64,
    holder: &HolderInfo,
    ephemeral_seed: &[u8; 32],
) -> Result<Vec<u8>> {
    let sealed_holder = crypto::seal(sealing_key, &holder.encode_to_vec(), ephemeral_seed)?;
    if sealed_holder.len() > MAX_SEALED_HOLDER {
        return Err(fail(
            RejectCode::TooLarge,
            "sealed holder exceeds 1024 bytes; list fewer addresses",
        ));
    }
    let body = LocatorBody {
        version: PROTOCOL_VERSION,
        generation,
        hop,
        expires_at_ms,
        sealed_holder,
    };
    let signed = sign_body(&body, DOMAIN_LOCATOR, &signing_key(locator_secret));
    Ok(signed.to_signed().encode_to_vec())
}

/// The owner opens a valid record's `sealed_holder` (spec §9 "Reading")
/// with the sealing seed ([`crypto::sealing_seed`]: the owner seed in
/// version 1, the repair seed in version 2).
pub fn open_holder(sealing_seed: &[u8; 32], locator: &Locator) -> Result<HolderInfo> {
    let plain = crypto::open(sealing_seed, &locator.fields.sealed_holder)?;
    parse_holder_info(&plain)
}
