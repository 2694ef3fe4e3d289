//! `/wdp/` DHT records (spec §9) as the driver needs them, on the library's
//! `wdp_interop::locator`: validate what arrives, build what this carrier publishes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libp2p::Multiaddr;
use wdp_interop::carrier::Custody;
use wdp_interop::locator::{
    build_value, dht_key, expires_at_ms, holder_info, kept_epoch_seconds,
    validate as validate_value,
};
use wdp_interop::objects::sealing_key;

/// What the driver reports about a valid record.
pub struct LocatorInfo {
    pub generation: u32,
    pub hop: u64,
    pub expires_at_ms: u64,
}

/// Why a record was refused: the code name and a reason for logs.
pub struct Refusal {
    pub code: String,
    pub reason: String,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The local `Instant` at which a record expiring at `expires_at_ms` (Unix ms) expires.
pub fn expiry_instant(expires_at_ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(expires_at_ms.saturating_sub(now_ms()))
}

/// The spec §9 validator, applied to every inbound PUT and every value a GET returns.
pub fn validate(key: &[u8], value: &[u8], now_ms: u64) -> Result<LocatorInfo, Refusal> {
    match validate_value(key, value, now_ms) {
        Ok(rec) => Ok(LocatorInfo {
            generation: rec.fields.generation,
            hop: rec.fields.hop,
            expires_at_ms: rec.fields.expires_at_ms,
        }),
        Err(e) => Err(Refusal {
            code: e.code.name().to_string(),
            reason: e.detail,
        }),
    }
}

/// This carrier's locator for a shard it took: `(dht key, value, expires_at_ms,
/// republish after)`, naming `holder` at `addrs`, sealed to the manifest's sealing key.
pub fn make(
    custody: &Custody,
    holder: &[u8; 32],
    addrs: &[Multiaddr],
) -> Result<(String, Vec<u8>, u64, Duration), String> {
    let f = &custody.record.fields;
    let locator_key: [u8; 32] = f
        .locator_key
        .as_slice()
        .try_into()
        .map_err(|_| "record locator_key is not 32 bytes".to_string())?;
    // Sealed to the manifest's sealing key: the owner key in version 1, the
    // repair key in version 2 (spec §4.1, §9).
    let sealing_key = sealing_key(&custody.manifest);
    let now = now_ms();
    let expires = expires_at_ms(
        now,
        kept_epoch_seconds(custody.manifest.fields.epoch_seconds),
    );
    let binary: Vec<Vec<u8>> = addrs.iter().map(|a| a.to_vec()).collect();
    let info = holder_info(holder, &binary, &custody.record.hash);
    let ephemeral: [u8; 32] = rand::random();
    let value = build_value(
        &custody.locator_secret,
        &sealing_key,
        f.generation,
        f.hop,
        expires,
        &info,
        &ephemeral,
    )
    .map_err(|e| e.to_string())?;
    let key = String::from_utf8(dht_key(&locator_key)).map_err(|e| e.to_string())?;
    Ok((
        key,
        value,
        expires,
        Duration::from_millis((expires - now) / 2),
    ))
}
