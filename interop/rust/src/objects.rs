//! Signed objects (spec §4): the `Signed` wrapper checks, each body's field
//! checks in the spec's order with its codes, and signing new bodies.
//!
//! A parsed object keeps the exact received body bytes (spec §2 rule 1): its
//! hash and signature are over those bytes, and it is forwarded as received.

use ed25519_dalek::SigningKey;
use prost::Message;

use crate::error::{fail, Result};
use crate::limits::*;
use crate::proto::{
    AuditChallengeBody, Cipher, CustodyRecordBody, FetchRequestBody, HolderInfo, LocatorBody,
    ManifestBody, Reason, ReceiptBody, RejectCode, Signed,
};
use crate::signing::{self, sha256};

/// A signed object after the wrapper and body checks: the parsed fields next
/// to the received `body` bytes, its `signature` and `hash` = H(body).
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed<T> {
    pub fields: T,
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
    pub hash: [u8; 32],
}

pub type Manifest = Parsed<ManifestBody>;
pub type Record = Parsed<CustodyRecordBody>;
pub type Receipt = Parsed<ReceiptBody>;
pub type Locator = Parsed<LocatorBody>;
pub type FetchRequest = Parsed<FetchRequestBody>;
pub type AuditChallenge = Parsed<AuditChallengeBody>;

impl<T> Parsed<T> {
    /// Verifies the signature over the received body bytes.
    pub fn verify(&self, domain: &str, public: &[u8]) -> bool {
        signing::verify(public, domain, &self.body, &self.signature)
    }

    /// The `Signed` wrapper with the exact body bytes.
    pub fn to_signed(&self) -> Signed {
        Signed {
            body: self.body.clone(),
            signature: self.signature.clone(),
        }
    }
}

/// Encodes `fields` (fields in number order, defaults omitted) and signs it.
pub fn sign_body<T: Message + Clone>(fields: &T, domain: &str, key: &SigningKey) -> Parsed<T> {
    let body = fields.encode_to_vec();
    let signature = signing::sign(key, domain, &body).to_vec();
    Parsed {
        fields: fields.clone(),
        hash: sha256(&body),
        body,
        signature,
    }
}

/// Wrapper checks (1)-(4) of spec §4: body limit, signature length, parse,
/// version (= 1).
fn unwrap_signed<T: Message + Default>(
    signed: &Signed,
    limit: usize,
    invalid: RejectCode,
    what: &str,
    version: impl Fn(&T) -> u32,
) -> Result<Parsed<T>> {
    unwrap_versioned(signed, limit, invalid, what, version, &[PROTOCOL_VERSION])
}

/// As [`unwrap_signed`], with the versions this object accepts.
fn unwrap_versioned<T: Message + Default>(
    signed: &Signed,
    limit: usize,
    invalid: RejectCode,
    what: &str,
    version: impl Fn(&T) -> u32,
    versions: &[u32],
) -> Result<Parsed<T>> {
    if signed.body.len() > limit {
        return Err(fail(
            RejectCode::TooLarge,
            format!("{what} body of {} bytes exceeds {limit}", signed.body.len()),
        ));
    }
    if signed.signature.len() != SIGNATURE_SIZE {
        return Err(fail(invalid, format!("{what} signature is not 64 bytes")));
    }
    let fields = T::decode(signed.body.as_slice())
        .map_err(|e| fail(invalid, format!("{what} body does not parse: {e}")))?;
    let v = version(&fields);
    if !versions.contains(&v) {
        return Err(fail(
            RejectCode::UnsupportedVersion,
            format!("{what} version {v} is not supported"),
        ));
    }
    Ok(Parsed {
        fields,
        body: signed.body.clone(),
        signature: signed.signature.clone(),
        hash: sha256(&signed.body),
    })
}

fn need_len(value: &[u8], len: usize, code: RejectCode, what: &str) -> Result<()> {
    if value.len() == len {
        Ok(())
    } else {
        Err(fail(
            code,
            format!("{what} is {} bytes, not {len}", value.len()),
        ))
    }
}

/// `H("wdp/v1/wanderer-id" || owner_key)` (coding-and-crypto.md §1).
pub fn wanderer_id(owner_key: &[u8]) -> [u8; 32] {
    let mut input = b"wdp/v1/wanderer-id".to_vec();
    input.extend_from_slice(owner_key);
    sha256(&input)
}

/// `max(1, ceil(coded_len / k))`.
pub fn shard_size_for(coded_len: u64, k: u32) -> u64 {
    coded_len.div_ceil(u64::from(k.max(1))).max(1)
}

/// Manifest (spec §4, §4.1), version 1 or 2; the signature is checked later
/// (B1). A version 1 body that carries fields 13 or 14 stays version 1: the
/// fields are ignored (see [`shard_root`], [`sealing_key`]), and kept in the
/// body bytes.
pub fn parse_manifest(signed: &Signed) -> Result<Manifest> {
    let bad = RejectCode::BadManifest;
    let m = unwrap_versioned(
        signed,
        MAX_MANIFEST_BODY,
        bad,
        "manifest",
        |b: &ManifestBody| b.version,
        &MANIFEST_VERSIONS,
    )?;
    let f = &m.fields;
    need_len(&f.owner_key, KEY_SIZE, bad, "manifest owner_key")?;
    need_len(&f.wanderer_id, HASH_SIZE, bad, "manifest wanderer_id")?;
    if f.wanderer_id != wanderer_id(&f.owner_key) {
        return Err(fail(
            bad,
            "manifest wanderer_id is not H(wanderer-id || owner_key)",
        ));
    }
    if f.cipher != Cipher::Chacha20Poly1305 as i32 {
        return Err(fail(
            bad,
            format!("manifest cipher {} is not CHACHA20_POLY1305", f.cipher),
        ));
    }
    need_len(&f.nonce, NONCE_SIZE, bad, "manifest nonce")?;
    if !(1 <= f.k && f.k <= f.n && f.n <= MAX_SHARDS) {
        return Err(fail(
            bad,
            format!("manifest k={} n={} outside 1 <= k <= n <= 256", f.k, f.n),
        ));
    }
    if f.payload_size > MAX_PAYLOAD_SIZE {
        return Err(fail(bad, "manifest payload_size exceeds 2^31 - 1"));
    }
    let expected = shard_size_for(f.payload_size + TAG_SIZE as u64, f.k);
    if f.shard_size != expected {
        return Err(fail(
            bad,
            format!("manifest shard_size {} is not {expected}", f.shard_size),
        ));
    }
    if f.shard_size > MAX_SHARD_SIZE {
        return Err(fail(
            RejectCode::TooLarge,
            "manifest shard_size exceeds 128 MiB",
        ));
    }
    if f.shard_hashes.len() != f.n as usize {
        return Err(fail(bad, "manifest does not list exactly n shard hashes"));
    }
    if f.shard_hashes.iter().any(|h| h.len() != HASH_SIZE) {
        return Err(fail(bad, "a manifest shard hash is not 32 bytes"));
    }
    if !(MIN_EPOCH_SECONDS..=MAX_EPOCH_SECONDS).contains(&f.epoch_seconds) {
        return Err(fail(bad, "manifest epoch_seconds outside 1..=604800"));
    }
    if f.version == 2 {
        need_len(&f.repair_key, KEY_SIZE, bad, "manifest repair_key")?;
        if f.shard_roots.len() != f.n as usize {
            return Err(fail(bad, "manifest does not list exactly n shard roots"));
        }
        if f.shard_roots.iter().any(|h| h.len() != HASH_SIZE) {
            return Err(fail(bad, "a manifest shard root is not 32 bytes"));
        }
    }
    Ok(m)
}

/// True for a version 2 manifest: its shards have Merkle roots and can be
/// audited (spec §4.1, §18).
pub fn is_auditable(m: &Manifest) -> bool {
    m.fields.version == 2
}

/// The Merkle root of shard `index` in a version 2 manifest; `None` in
/// version 1 (whatever field 14 holds there) or for an index ≥ n.
pub fn shard_root(m: &Manifest, index: u32) -> Option<[u8; 32]> {
    if !is_auditable(m) {
        return None;
    }
    m.fields
        .shard_roots
        .get(index as usize)
        .and_then(|r| r.as_slice().try_into().ok())
}

/// The manifest's sealing key (spec §4.1): `owner_key` in version 1,
/// `repair_key` in version 2. Locators are sealed to it (§9).
pub fn sealing_key(m: &Manifest) -> [u8; 32] {
    let key = if is_auditable(m) {
        &m.fields.repair_key
    } else {
        &m.fields.owner_key
    };
    key.as_slice()
        .try_into()
        .expect("parse_manifest checked the key length")
}

/// CustodyRecord (spec §4, §4.2); every failure but the version is `MALFORMED`.
pub fn parse_record(signed: &Signed) -> Result<Record> {
    let bad = RejectCode::Malformed;
    let r = unwrap_signed(
        signed,
        MAX_RECORD_BODY,
        bad,
        "record",
        |b: &CustodyRecordBody| b.version,
    )?;
    let f = &r.fields;
    need_len(&f.wanderer_id, HASH_SIZE, bad, "record wanderer_id")?;
    need_len(&f.from_peer, KEY_SIZE, bad, "record from_peer")?;
    need_len(&f.to_peer, KEY_SIZE, bad, "record to_peer")?;
    need_len(&f.shard_hash, HASH_SIZE, bad, "record shard_hash")?;
    need_len(&f.manifest_hash, HASH_SIZE, bad, "record manifest_hash")?;
    need_len(&f.locator_key, KEY_SIZE, bad, "record locator_key")?;
    let reason = Reason::try_from(f.reason)
        .ok()
        .filter(|r| *r != Reason::Unspecified)
        .ok_or_else(|| fail(bad, format!("record reason {} is unknown", f.reason)))?;
    if f.hop == 0 {
        if !matches!(reason, Reason::Genesis | Reason::Repair) {
            return Err(fail(bad, "hop 0 record reason is not GENESIS or REPAIR"));
        }
        if (reason == Reason::Genesis) != (f.generation == 0) {
            return Err(fail(
                bad,
                "GENESIS must be generation 0 and REPAIR generation >= 1",
            ));
        }
        if !f.prev_record_hash.is_empty() {
            return Err(fail(bad, "hop 0 record has a prev_record_hash"));
        }
    } else {
        if !matches!(reason, Reason::Ttl | Reason::Threat | Reason::Drain) {
            return Err(fail(
                bad,
                "hop > 0 record reason is not TTL, THREAT or DRAIN",
            ));
        }
        need_len(
            &f.prev_record_hash,
            HASH_SIZE,
            bad,
            "record prev_record_hash",
        )?;
    }
    if f.from_peer == f.to_peer {
        return Err(fail(bad, "record from_peer equals to_peer"));
    }
    Ok(r)
}

/// Receipt (spec §4, §4.3): `invalid` is `BAD_RECEIPT` in a `Receipt`
/// message, `MALFORMED` inside an Offer's chain.
pub fn parse_receipt(signed: &Signed, invalid: RejectCode) -> Result<Receipt> {
    let r = unwrap_signed(
        signed,
        MAX_RECEIPT_BODY,
        invalid,
        "receipt",
        |b: &ReceiptBody| b.version,
    )?;
    let f = &r.fields;
    need_len(&f.record_hash, HASH_SIZE, invalid, "receipt record_hash")?;
    need_len(&f.receiver, KEY_SIZE, invalid, "receipt receiver")?;
    need_len(&f.shard_hash, HASH_SIZE, invalid, "receipt shard_hash")?;
    Ok(r)
}

/// LocatorBody (spec §4, §4.5).
pub fn parse_locator(signed: &Signed) -> Result<Locator> {
    let l = unwrap_signed(
        signed,
        MAX_LOCATOR_BODY,
        RejectCode::Malformed,
        "locator",
        |b: &LocatorBody| b.version,
    )?;
    let len = l.fields.sealed_holder.len();
    if !(MIN_SEALED_HOLDER..=MAX_SEALED_HOLDER).contains(&len) {
        return Err(fail(
            RejectCode::Malformed,
            format!("sealed_holder of {len} bytes outside 48..=1024"),
        ));
    }
    Ok(l)
}

/// FetchRequestBody (spec §15.2).
pub fn parse_fetch_request(signed: &Signed) -> Result<FetchRequest> {
    let bad = RejectCode::Malformed;
    let r = unwrap_signed(
        signed,
        MAX_FETCH_REQUEST_BODY,
        bad,
        "fetch request",
        |b: &FetchRequestBody| b.version,
    )?;
    let f = &r.fields;
    need_len(&f.wanderer_id, HASH_SIZE, bad, "request wanderer_id")?;
    need_len(&f.owner_key, KEY_SIZE, bad, "request owner_key")?;
    if f.shard_index >= MAX_SHARDS {
        return Err(fail(bad, "request shard_index is not < 256"));
    }
    need_len(&f.carrier, KEY_SIZE, bad, "request carrier")?;
    need_len(&f.nonce, FETCH_NONCE_SIZE, bad, "request nonce")?;
    if !f.requester_key.is_empty() {
        need_len(&f.requester_key, KEY_SIZE, bad, "request requester_key")?;
        if f.requester_key == f.owner_key {
            return Err(fail(
                bad,
                "request requester_key must be empty when the owner asks",
            ));
        }
    }
    let grant_len = if f.requester_key.is_empty() {
        0
    } else {
        SIGNATURE_SIZE
    };
    need_len(&f.grant, grant_len, bad, "request grant")?;
    Ok(r)
}

/// Whether `record` (a hop 0) comes from a key that may start a chain
/// (§4.4, B10): the owner key; or, a REPAIR of a version 2 wanderer, its
/// repair key (a keeper's relaunch, §16.1).
pub fn may_start(m: &Manifest, record: &Record) -> bool {
    let r = &record.fields;
    r.from_peer == m.fields.owner_key
        || (is_auditable(m)
            && r.reason == Reason::Repair as i32
            && r.from_peer == m.fields.repair_key)
}

/// AuditChallengeBody (spec §18.2): all failures `MALFORMED` but the size
/// (`TOO_LARGE`) and the version (`UNSUPPORTED_VERSION`).
pub fn parse_audit_challenge(signed: &Signed) -> Result<AuditChallenge> {
    let bad = RejectCode::Malformed;
    let c = unwrap_signed(
        signed,
        MAX_AUDIT_CHALLENGE_BODY,
        bad,
        "audit challenge",
        |b: &AuditChallengeBody| b.version,
    )?;
    let f = &c.fields;
    need_len(
        &f.wanderer_id,
        HASH_SIZE,
        bad,
        "audit challenge wanderer_id",
    )?;
    need_len(&f.owner_key, KEY_SIZE, bad, "audit challenge owner_key")?;
    need_len(
        &f.challenger_key,
        KEY_SIZE,
        bad,
        "audit challenge challenger_key",
    )?;
    // Empty for the owner; otherwise the owner's grant, or empty for a spot
    // audit by the peer that handed the carrier the shard (A3).
    if f.challenger_key == f.owner_key || !f.grant.is_empty() {
        let grant = if f.challenger_key == f.owner_key {
            0
        } else {
            SIGNATURE_SIZE
        };
        need_len(&f.grant, grant, bad, "audit challenge grant")?;
    }
    if f.shard_index >= MAX_SHARDS {
        return Err(fail(bad, "audit challenge shard_index is not < 256"));
    }
    need_len(&f.carrier, KEY_SIZE, bad, "audit challenge carrier")?;
    need_len(&f.nonce, AUDIT_NONCE_SIZE, bad, "audit challenge nonce")?;
    Ok(c)
}

/// HolderInfo, the plaintext of `sealed_holder` (spec §4.6).
pub fn parse_holder_info(bytes: &[u8]) -> Result<HolderInfo> {
    let bad = RejectCode::Malformed;
    let h = HolderInfo::decode(bytes).map_err(|e| fail(bad, format!("holder info: {e}")))?;
    need_len(&h.holder, KEY_SIZE, bad, "holder")?;
    need_len(&h.record_hash, HASH_SIZE, bad, "holder record_hash")?;
    if h.addrs.len() > MAX_HOLDER_ADDRS || h.addrs.iter().any(|a| a.len() > MAX_ADDR_BYTES) {
        return Err(fail(
            bad,
            "holder info has more than 8 addresses or one above 256 bytes",
        ));
    }
    Ok(h)
}
