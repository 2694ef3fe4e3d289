//! The carrier's checks F2-F7 of a fetch request and its nonce cache (spec §15.5).

use std::collections::HashMap;

use crate::audit::grant_is_valid;
use crate::custody::key32;
use crate::error::{fail, Result};
use crate::limits::{FETCH_NONCE_MEMORY, MAX_CLOCK_SKEW_MS};
use crate::objects::{wanderer_id, FetchRequest, Manifest, Record};
use crate::proto::RejectCode;
use crate::signing::DOMAIN_FETCH;

/// Nonces of accepted requests, each remembered until `time_ms + 300000`
/// (§15.5); when full, the entries closest to expiry are forgotten first.
#[derive(Debug)]
pub struct NonceCache {
    capacity: usize,
    expiry: HashMap<Vec<u8>, u64>,
}

impl Default for NonceCache {
    fn default() -> Self {
        NonceCache::new(FETCH_NONCE_MEMORY)
    }
}

impl NonceCache {
    pub fn new(capacity: usize) -> Self {
        NonceCache {
            capacity: capacity.max(1),
            expiry: HashMap::new(),
        }
    }

    pub fn contains(&self, nonce: &[u8], now_ms: u64) -> bool {
        self.expiry.get(nonce).is_some_and(|&e| e >= now_ms)
    }

    /// Remembers the nonce of a request sent at `time_ms`.
    pub fn insert(&mut self, nonce: &[u8], time_ms: u64, now_ms: u64) {
        self.expiry.retain(|_, e| *e >= now_ms);
        while self.expiry.len() >= self.capacity {
            let Some(oldest) = self
                .expiry
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(n, _)| n.clone())
            else {
                break;
            };
            self.expiry.remove(&oldest);
        }
        self.expiry
            .insert(nonce.to_vec(), time_ms.saturating_add(MAX_CLOCK_SKEW_MS));
    }

    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }
}

/// What a carrier holds, for F7.
pub trait Holdings {
    /// The manifest and the record that made this node the carrier of
    /// (`wanderer_id`, `shard_index`), if it carries that shard now.
    fn carried(&self, wanderer_id: &[u8; 32], shard_index: u32) -> Option<(Manifest, Record)>;
}

impl Holdings for crate::carrier::CarrierBook {
    fn carried(&self, wanderer_id: &[u8; 32], shard_index: u32) -> Option<(Manifest, Record)> {
        self.held(wanderer_id, shard_index)
            .map(|c| (c.manifest.clone(), c.record.clone()))
    }
}

/// Checks F2-F7 of §15.5 on a decoded request (F1 is [`super::decode_fetch`]).
/// A request that passes F1-F6 enters the nonce cache, whether or not F7 passes.
pub fn check_request(
    req: &FetchRequest,
    local_key: &[u8; 32],
    now_ms: u64,
    nonces: &mut NonceCache,
    holdings: &dyn Holdings,
) -> Result<(Manifest, Record)> {
    let f = &req.fields;
    if f.wanderer_id != wanderer_id(&f.owner_key) {
        return Err(fail(
            RejectCode::Unauthorized,
            "the request is not from this wanderer's owner",
        ));
    }
    // F3: a keeper shows the owner's grant to the key that signs (§15.2, §16.1).
    if !f.requester_key.is_empty()
        && !grant_is_valid(&f.owner_key, &f.wanderer_id, &f.requester_key, &f.grant)
    {
        return Err(fail(
            RejectCode::Unauthorized,
            "the requester holds no grant of the wanderer's owner",
        ));
    }
    let signer = if f.requester_key.is_empty() {
        &f.owner_key
    } else {
        &f.requester_key
    };
    if !req.verify(DOMAIN_FETCH, signer) {
        return Err(fail(
            RejectCode::Unauthorized,
            "the request signature is invalid",
        ));
    }
    if f.carrier != local_key {
        return Err(fail(
            RejectCode::WrongRecipient,
            "the request names another carrier",
        ));
    }
    if now_ms.saturating_sub(MAX_CLOCK_SKEW_MS) > f.time_ms
        || f.time_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS)
    {
        return Err(fail(
            RejectCode::StaleHop,
            "the request time is more than 5 minutes off; check the clock",
        ));
    }
    if nonces.contains(&f.nonce, now_ms) {
        return Err(fail(
            RejectCode::StaleHop,
            "the request nonce was seen before",
        ));
    }
    nonces.insert(&f.nonce, f.time_ms, now_ms);
    let wid = key32(&f.wanderer_id);
    match holdings.carried(&wid, f.shard_index) {
        Some((m, r)) if m.fields.owner_key == f.owner_key => Ok((m, r)),
        _ => Err(fail(
            RejectCode::NotHeld,
            "this node does not carry that shard",
        )),
    }
}
