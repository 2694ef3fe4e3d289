//! The carrier's checks A2-A10 of a challenge (spec §18.4) and the
//! challenger's checks of a proof (P1-P4) and of a moved (M1-M3, §18.5).
//! The first failing check decides the code.

use crate::custody::{check_record_fits_manifest, key32, Link};
use crate::error::{fail, Result};
use crate::fetch::checks::{Holdings, NonceCache};
use crate::limits::MAX_CLOCK_SKEW_MS;
use crate::merkle;
use crate::objects::{is_auditable, shard_root, wanderer_id, AuditChallenge, Manifest, Record};
use crate::proto::RejectCode;
use crate::signing::{sha256, DOMAIN_AUDIT, DOMAIN_RECEIPT, DOMAIN_RECORD};

use super::{grant_is_valid, HandedOn};

/// The hops a carrier still remembers handing on (A8).
pub trait MovedLookup {
    /// The hop by which this node handed (`wanderer_id`, `shard_index`) on.
    fn moved(&self, wanderer_id: &[u8; 32], shard_index: u32, now_ms: u64) -> Option<Link>;
    /// The peer that had handed this node that shard before it moved on (A3).
    fn received_from(
        &self,
        wanderer_id: &[u8; 32],
        shard_index: u32,
        now_ms: u64,
    ) -> Option<[u8; 32]>;
}

impl MovedLookup for HandedOn {
    fn moved(&self, wanderer_id: &[u8; 32], shard_index: u32, now_ms: u64) -> Option<Link> {
        self.get(wanderer_id, shard_index, now_ms).cloned()
    }

    fn received_from(
        &self,
        wanderer_id: &[u8; 32],
        shard_index: u32,
        now_ms: u64,
    ) -> Option<[u8; 32]> {
        HandedOn::received_from(self, wanderer_id, shard_index, now_ms)
    }
}

/// A node that remembers nothing handed on.
impl MovedLookup for () {
    fn moved(&self, _: &[u8; 32], _: u32, _: u64) -> Option<Link> {
        None
    }

    fn received_from(&self, _: &[u8; 32], _: u32, _: u64) -> Option<[u8; 32]> {
        None
    }
}

/// What a challenge that passed A1-A10 (or stopped at A8 with a moved)
/// asks of the carrier.
#[derive(Clone, Debug, PartialEq)]
pub enum AuditTarget {
    /// Read the shard of `record` and prove leaf `leaf_index` (A1-A10 passed).
    Prove {
        manifest: Box<Manifest>,
        record: Box<Record>,
        leaf_index: u32,
    },
    /// This node handed the shard on by this hop (A8): answer moved.
    Moved(Box<Link>),
}

/// Checks A2-A10 of §18.4 on a decoded challenge (A1 is
/// [`super::decode_audit`]). A challenge that passes A1-A7 enters the audit
/// nonce cache (a cache of its own, under the rules of F6), whatever follows.
pub fn check_challenge(
    ch: &AuditChallenge,
    local_key: &[u8; 32],
    now_ms: u64,
    nonces: &mut NonceCache,
    holdings: &dyn Holdings,
    handed_on: &dyn MovedLookup,
) -> Result<AuditTarget> {
    let f = &ch.fields;
    let unauthorized = RejectCode::Unauthorized;
    // A2
    if f.wanderer_id != wanderer_id(&f.owner_key) {
        return Err(fail(
            unauthorized,
            "the challenge's owner key is not this wanderer's",
        ));
    }
    // A3: the owner, a key the owner granted, or (no grant) the peer that
    // handed this node the shard: the previous carrier's spot audit.
    if f.challenger_key != f.owner_key {
        let allowed = if f.grant.is_empty() {
            let wid = key32(&f.wanderer_id);
            let sender = holdings
                .carried(&wid, f.shard_index)
                .filter(|(m, _)| m.fields.owner_key == f.owner_key)
                .map(|(_, r)| key32(&r.fields.from_peer))
                .or_else(|| handed_on.received_from(&wid, f.shard_index, now_ms));
            sender.is_some_and(|s| s[..] == f.challenger_key[..])
        } else {
            grant_is_valid(&f.owner_key, &f.wanderer_id, &f.challenger_key, &f.grant)
        };
        if !allowed {
            return Err(fail(
                unauthorized,
                "the challenger holds neither the owner key nor its grant, and did not hand \
                 this node the shard",
            ));
        }
    }
    // A4
    if !ch.verify(DOMAIN_AUDIT, &f.challenger_key) {
        return Err(fail(
            unauthorized,
            "the challenge is not signed by the challenger key",
        ));
    }
    // A5
    if f.carrier != local_key {
        return Err(fail(
            RejectCode::WrongRecipient,
            "the challenge is addressed to another node",
        ));
    }
    // A6
    if now_ms.saturating_sub(MAX_CLOCK_SKEW_MS) > f.time_ms
        || f.time_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS)
    {
        let off = i128::from(f.time_ms) - i128::from(now_ms);
        return Err(fail(
            RejectCode::StaleHop,
            format!("challenge time is {off:+} ms off this node's clock (more than 5 minutes)"),
        ));
    }
    // A7
    if nonces.contains(&f.nonce, now_ms) {
        return Err(fail(
            RejectCode::StaleHop,
            "the challenge's nonce was used before",
        ));
    }
    nonces.insert(&f.nonce, f.time_ms, now_ms);
    // A8
    let wid = key32(&f.wanderer_id);
    let Some((manifest, record)) = holdings
        .carried(&wid, f.shard_index)
        .filter(|(m, _)| m.fields.owner_key == f.owner_key)
    else {
        return match handed_on.moved(&wid, f.shard_index, now_ms) {
            Some(link) => Ok(AuditTarget::Moved(Box::new(link))),
            None => Err(fail(
                RejectCode::NotHeld,
                "this node does not carry that shard",
            )),
        };
    };
    // A9
    if !is_auditable(&manifest) {
        return Err(fail(
            RejectCode::UnsupportedVersion,
            "the shard's manifest is version 1: it has no Merkle roots",
        ));
    }
    // A10
    let leaves = merkle::leaf_count(manifest.fields.shard_size);
    if u64::from(f.leaf_index) >= leaves {
        return Err(fail(
            RejectCode::Malformed,
            format!(
                "leaf {} is outside the shard ({leaves} leaves)",
                f.leaf_index
            ),
        ));
    }
    Ok(AuditTarget::Prove {
        manifest: Box::new(manifest),
        record: Box::new(record),
        leaf_index: f.leaf_index,
    })
}

/// The carrier's proof of leaf `leaf_index` from the shard bytes it read:
/// `(leaf, path)`, or `None` (answer NOT_HELD) if the bytes are not
/// `shard_size` bytes hashing to `shard_hashes[shard_index]` (§18.4).
pub fn make_proof(
    manifest: &Manifest,
    record: &Record,
    leaf_index: u32,
    shard: &[u8],
) -> Option<(Vec<u8>, Vec<[u8; 32]>)> {
    let index = record.fields.shard_index as usize;
    let expected = manifest.fields.shard_hashes.get(index)?;
    if shard.len() as u64 != manifest.fields.shard_size
        || sha256(shard).as_slice() != expected.as_slice()
    {
        return None;
    }
    let leaf = merkle::leaf(shard, u64::from(leaf_index))?.to_vec();
    let path = merkle::audit_path(shard, u64::from(leaf_index))?;
    Some((leaf, path))
}

/// P1 / M1: the record's signature verifies with its `from_peer`.
fn check_record_signature(record: &Record) -> Result<()> {
    if !record.verify(DOMAIN_RECORD, &record.fields.from_peer) {
        return Err(fail(
            RejectCode::BadSignature,
            "the record signature is invalid",
        ));
    }
    Ok(())
}

/// P2 / M1: the record is of the challenged shard and fits the manifest.
fn check_record_of_challenge(
    record: &Record,
    ch: &AuditChallenge,
    manifest: &Manifest,
) -> Result<()> {
    let r = &record.fields;
    let c = &ch.fields;
    if r.wanderer_id != c.wanderer_id || r.shard_index != c.shard_index {
        return Err(fail(
            RejectCode::BadChain,
            "the record is not of the challenged shard",
        ));
    }
    check_record_fits_manifest(record, manifest)?;
    if r.hop == 0 && !crate::objects::may_start(manifest, record) {
        return Err(fail(
            RejectCode::BadChain,
            "a hop 0 record not from the owner key",
        ));
    }
    Ok(())
}

/// P1-P4 of §18.5 on a proof answering `ch`, with the challenger's
/// version 2 `manifest`.
pub fn check_proof(
    ch: &AuditChallenge,
    manifest: &Manifest,
    record: &Record,
    leaf: &[u8],
    path: &[[u8; 32]],
) -> Result<()> {
    check_record_signature(record)?;
    check_record_of_challenge(record, ch, manifest)?;
    if record.fields.to_peer != ch.fields.carrier {
        return Err(fail(
            RejectCode::WrongSender,
            "the record does not make the challenged node the carrier",
        ));
    }
    let Some(root) = shard_root(manifest, ch.fields.shard_index) else {
        return Err(fail(
            RejectCode::UnsupportedVersion,
            "the manifest has no Merkle roots (version 1)",
        ));
    };
    let leaf_index = u64::from(ch.fields.leaf_index);
    if !merkle::verify(&root, manifest.fields.shard_size, leaf_index, leaf, path) {
        return Err(fail(
            RejectCode::BadProof,
            "the leaf and path do not lead to the root",
        ));
    }
    Ok(())
}

/// M1-M3 of §18.5 on a moved answering `ch`.
pub fn check_moved(ch: &AuditChallenge, manifest: &Manifest, link: &Link) -> Result<()> {
    let record = &link.record;
    let r = &record.fields;
    // M1
    check_record_signature(record)?;
    check_record_of_challenge(record, ch, manifest)?;
    // M2
    if r.from_peer != ch.fields.carrier {
        return Err(fail(
            RejectCode::WrongSender,
            "the hop was not signed by the challenged node",
        ));
    }
    // M3
    let p = &link.receipt.fields;
    if p.receiver != r.to_peer || p.record_hash != record.hash || p.shard_hash != r.shard_hash {
        return Err(fail(
            RejectCode::BadChain,
            "the receipt does not acknowledge this hop",
        ));
    }
    if !link.receipt.verify(DOMAIN_RECEIPT, &p.receiver) {
        return Err(fail(
            RejectCode::BadSignature,
            "the receipt signature is invalid",
        ));
    }
    Ok(())
}
