//! Offers and custody chains (spec §4.4, §7 stages A and B).
//!
//! [`decode_offer`] is stage A (decoding), [`check_custody`] stage B (no local
//! state): every conforming node refuses a bad offer with the same code. The
//! first failing check decides the code.

use ed25519_dalek::SigningKey;

use crate::error::{fail, Result};
use crate::limits::{KEY_SIZE, MAX_CHAIN_LINKS};
use crate::objects::{
    self, may_start, parse_manifest, parse_receipt, parse_record, Manifest, Receipt, Record,
};
use crate::proto::{self, CustodyRecordBody, Reason, RejectCode};
use crate::signing::{public_key, DOMAIN_MANIFEST, DOMAIN_RECEIPT, DOMAIN_RECORD};

/// A completed hop: a record and the receipt its receiver signed (spec §4.4).
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub record: Record,
    pub receipt: Receipt,
}

impl Link {
    pub fn to_proto(&self) -> proto::CustodyLink {
        proto::CustodyLink {
            record: Some(self.record.to_signed()),
            receipt: Some(self.receipt.to_signed()),
        }
    }
}

/// An Offer that passed stage A: every object parsed, bytes kept.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedOffer {
    pub manifest: Manifest,
    pub chain: Vec<Link>,
    pub record: Record,
    pub locator_secret: [u8; 32],
}

impl DecodedOffer {
    pub fn to_proto(&self) -> proto::Offer {
        proto::Offer {
            manifest: Some(self.manifest.to_signed()),
            chain: self.chain.iter().map(Link::to_proto).collect(),
            record: Some(self.record.to_signed()),
            locator_secret: self.locator_secret.to_vec(),
        }
    }
}

/// Stage A (A1-A6) of spec §7 on a parsed `Offer` message.
pub fn decode_offer(offer: &proto::Offer) -> Result<DecodedOffer> {
    let (Some(manifest), Some(record)) = (&offer.manifest, &offer.record) else {
        return Err(fail(
            RejectCode::Malformed,
            "offer lacks its manifest or record",
        ));
    };
    if offer.chain.len() > MAX_CHAIN_LINKS {
        return Err(fail(
            RejectCode::TooLarge,
            format!("chain of {} links exceeds 64", offer.chain.len()),
        ));
    }
    let locator_secret: [u8; 32] = offer
        .locator_secret
        .as_slice()
        .try_into()
        .map_err(|_| fail(RejectCode::Malformed, "locator_secret is not 32 bytes"))?;
    let manifest = parse_manifest(manifest)?;
    let record = parse_record(record)?;
    let mut chain = Vec::with_capacity(offer.chain.len());
    for link in &offer.chain {
        let rec = parse_record(&link.record.clone().unwrap_or_default())?;
        let receipt = parse_receipt(
            &link.receipt.clone().unwrap_or_default(),
            RejectCode::Malformed,
        )?;
        chain.push(Link {
            record: rec,
            receipt,
        });
    }
    Ok(DecodedOffer {
        manifest,
        chain,
        record,
        locator_secret,
    })
}

/// Stage B (B1-B13) of spec §7. `local_key` is this node's peer key;
/// `remote_key` the Ed25519 key of the stream's authenticated PeerId (`None`
/// if the PeerId is not an identity-multihashed Ed25519 key).
pub fn check_custody(
    offer: &DecodedOffer,
    local_key: &[u8; 32],
    remote_key: Option<&[u8; 32]>,
) -> Result<()> {
    let m = &offer.manifest;
    let rec = &offer.record;
    let r = &rec.fields;
    // B1, B2
    if !m.verify(DOMAIN_MANIFEST, &m.fields.owner_key) {
        return Err(fail(
            RejectCode::BadManifest,
            "manifest signature is invalid",
        ));
    }
    if !rec.verify(DOMAIN_RECORD, &r.from_peer) {
        return Err(fail(
            RejectCode::BadSignature,
            "record signature is invalid",
        ));
    }
    // B3-B6
    check_record_fits_manifest(rec, m)?;
    // B7, B8
    if r.to_peer != local_key {
        return Err(fail(
            RejectCode::WrongRecipient,
            "record to_peer is not this node",
        ));
    }
    if r.hop > 0 && remote_key.map(|k| k.as_slice()) != Some(r.from_peer.as_slice()) {
        return Err(fail(
            RejectCode::WrongSender,
            "stream peer is not record from_peer",
        ));
    }
    // B9
    let expected_links = r.hop.min(MAX_CHAIN_LINKS as u64) as usize;
    if offer.chain.len() != expected_links {
        return Err(fail(
            RejectCode::BadChain,
            format!(
                "chain has {} links, hop {} needs {expected_links}",
                offer.chain.len(),
                r.hop
            ),
        ));
    }
    // B10
    let oldest = offer.chain.first().map(|l| &l.record).unwrap_or(rec);
    if oldest.fields.hop == 0 && !may_start(m, oldest) {
        return Err(fail(
            RejectCode::BadChain,
            "hop 0 is not from the owner key (or its repair key)",
        ));
    }
    // B11
    for (i, link) in offer.chain.iter().enumerate() {
        check_link(link).map_err(|e| fail(e.code, format!("chain link {i}: {}", e.detail)))?;
    }
    // B12
    let records: Vec<&Record> = offer.chain.iter().map(|l| &l.record).chain([rec]).collect();
    for pair in records.windows(2) {
        check_successor(pair[0], pair[1])?;
    }
    // B13
    if public_key(&offer.locator_secret).as_slice() != r.locator_key.as_slice() {
        return Err(fail(
            RejectCode::BadLocatorKey,
            "locator_secret does not match record locator_key",
        ));
    }
    Ok(())
}

/// B3-B6: the record belongs to this manifest (also C5 of a fetch).
pub fn check_record_fits_manifest(rec: &Record, m: &Manifest) -> Result<()> {
    let r = &rec.fields;
    let chain = RejectCode::BadChain;
    if r.wanderer_id != m.fields.wanderer_id {
        return Err(fail(chain, "record wanderer_id is not the manifest's"));
    }
    if r.shard_index >= m.fields.n {
        return Err(fail(chain, "record shard_index is not < manifest n"));
    }
    if r.shard_hash != m.fields.shard_hashes[r.shard_index as usize] {
        return Err(fail(
            chain,
            "record shard_hash is not in the manifest at its index",
        ));
    }
    if r.manifest_hash != m.hash {
        return Err(fail(chain, "record manifest_hash is not H(manifest body)"));
    }
    Ok(())
}

/// B11 on one link.
fn check_link(link: &Link) -> Result<()> {
    let r = &link.record.fields;
    let p = &link.receipt.fields;
    if !link.record.verify(DOMAIN_RECORD, &r.from_peer) {
        return Err(fail(
            RejectCode::BadSignature,
            "record signature is invalid",
        ));
    }
    if p.receiver != r.to_peer || p.record_hash != link.record.hash {
        return Err(fail(
            RejectCode::BadChain,
            "receipt is not for this record and receiver",
        ));
    }
    if p.shard_hash != r.shard_hash {
        return Err(fail(
            RejectCode::BadChain,
            "receipt shard_hash is not the record's",
        ));
    }
    if !link.receipt.verify(DOMAIN_RECEIPT, &r.to_peer) {
        return Err(fail(
            RejectCode::BadSignature,
            "receipt signature is invalid",
        ));
    }
    Ok(())
}

/// B12 on one consecutive pair (p, q).
fn check_successor(p: &Record, q: &Record) -> Result<()> {
    let (a, b) = (&p.fields, &q.fields);
    let same = a.wanderer_id == b.wanderer_id
        && a.shard_index == b.shard_index
        && a.generation == b.generation
        && a.shard_hash == b.shard_hash
        && a.manifest_hash == b.manifest_hash
        && a.locator_key == b.locator_key;
    if !same {
        return Err(fail(
            RejectCode::BadChain,
            format!("hop {} changes a shard field", b.hop),
        ));
    }
    if a.hop.checked_add(1) != Some(b.hop) {
        return Err(fail(
            RejectCode::BadChain,
            format!("hop {} follows hop {}", b.hop, a.hop),
        ));
    }
    if b.prev_record_hash != p.hash {
        return Err(fail(
            RejectCode::BadChain,
            format!("hop {} prev_record_hash is wrong", b.hop),
        ));
    }
    if b.from_peer != a.to_peer {
        return Err(fail(
            RejectCode::BadChain,
            format!("hop {} is not sent by the receiver of hop {}", b.hop, a.hop),
        ));
    }
    Ok(())
}

/// The chain a carrier keeps after accepting `record` with its own
/// `receipt`: the offered links plus the new one, the last 64 (spec §4.4).
pub fn extend_chain(chain: &[Link], record: &Record, receipt: &Receipt) -> Vec<Link> {
    let mut out: Vec<Link> = chain.to_vec();
    out.push(Link {
        record: record.clone(),
        receipt: receipt.clone(),
    });
    let excess = out.len().saturating_sub(MAX_CHAIN_LINKS);
    out.drain(..excess);
    out
}

/// The hop-0 record the owner signs to launch (GENESIS, generation 0) or
/// repair (REPAIR, generation ≥ 1) a shard (spec §5 steps 5-6).
pub fn sign_hop0_record(
    owner: &SigningKey,
    manifest: &Manifest,
    shard_index: u32,
    generation: u32,
    to_peer: &[u8; 32],
    locator_key: &[u8; 32],
    time_ms: u64,
) -> Record {
    let fields = CustodyRecordBody {
        version: 1,
        wanderer_id: manifest.fields.wanderer_id.clone(),
        shard_index,
        generation,
        hop: 0,
        from_peer: owner.verifying_key().to_bytes().to_vec(),
        to_peer: to_peer.to_vec(),
        shard_hash: manifest.fields.shard_hashes[shard_index as usize].clone(),
        manifest_hash: manifest.hash.to_vec(),
        locator_key: locator_key.to_vec(),
        reason: if generation == 0 {
            Reason::Genesis
        } else {
            Reason::Repair
        } as i32,
        time_ms,
        prev_record_hash: Vec::new(),
    };
    objects::sign_body(&fields, DOMAIN_RECORD, owner)
}

/// The record of the next hop by the current carrier `own` (spec §6.10):
/// hop + 1, the same shard fields, `prev_record_hash` = H(`prev` body).
pub fn sign_next_record(
    own: &SigningKey,
    prev: &Record,
    to_peer: &[u8; 32],
    reason: Reason,
    time_ms: u64,
) -> Record {
    let p = &prev.fields;
    let fields = CustodyRecordBody {
        version: 1,
        wanderer_id: p.wanderer_id.clone(),
        shard_index: p.shard_index,
        generation: p.generation,
        hop: p.hop + 1,
        from_peer: own.verifying_key().to_bytes().to_vec(),
        to_peer: to_peer.to_vec(),
        shard_hash: p.shard_hash.clone(),
        manifest_hash: p.manifest_hash.clone(),
        locator_key: p.locator_key.clone(),
        reason: reason as i32,
        time_ms,
        prev_record_hash: prev.hash.to_vec(),
    };
    objects::sign_body(&fields, DOMAIN_RECORD, own)
}

/// Parses a 32-byte key field (already length-checked by the parsers).
pub fn key32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; KEY_SIZE];
    out.copy_from_slice(bytes);
    out
}

/// An offer of `record` with the shard's manifest, chain and locator secret.
pub fn make_offer(
    manifest: &Manifest,
    chain: &[Link],
    record: &Record,
    locator_secret: &[u8; 32],
) -> DecodedOffer {
    DecodedOffer {
        manifest: manifest.clone(),
        chain: chain.to_vec(),
        record: record.clone(),
        locator_secret: *locator_secret,
    }
}
