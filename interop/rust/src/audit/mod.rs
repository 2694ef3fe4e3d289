//! The audit protocol `/wdp/audit/1.0` (spec §18), sans-IO: message decoding
//! and encoding (§18.3, here), the signed challenge and the owner's repair
//! grant (§18.2, here), the carrier's checks A2-A10 and the challenger's
//! checks P1-P4 / M1-M3 ([`checks`]), the hops a carrier remembers for Moved
//! answers ([`handed_on`]), and the carrier and challenger machines with the
//! timers of §18.6 ([`carrier`], [`challenger`]).

pub mod carrier;
pub mod challenger;
pub mod checks;
pub mod handed_on;

pub use carrier::{AuditAnswer, AuditCarrier, AuditCarrierOutput, AuditCarrierState};
pub use challenger::{AuditChallenger, AuditVerdict, ChallengerOutput, ChallengerState};
pub use checks::{check_challenge, check_moved, check_proof, make_proof, AuditTarget, MovedLookup};
pub use handed_on::{handed_on_lifetime_ms, HandedOn};

use ed25519_dalek::SigningKey;
use prost::Message;

use crate::custody::Link;
use crate::error::{fail, Result};
use crate::framing::encode_frame;
use crate::limits::{HASH_SIZE, LEAF_SIZE, MAX_AUDIT_PATH, PROTOCOL_VERSION};
use crate::messages::{check_reject, known_kind, reject_message};
use crate::objects::{
    parse_audit_challenge, parse_receipt, parse_record, sign_body, wanderer_id, AuditChallenge,
    Record,
};
use crate::proto::{self, audit_message::Kind, AuditChallengeBody, AuditMessage, RejectCode};
use crate::signing::{self, DOMAIN_AUDIT, DOMAIN_REPAIR_GRANT};

/// A decoded, checked audit message (§18.3).
#[derive(Clone, Debug, PartialEq)]
pub enum AuditMsg {
    Challenge(Box<AuditChallenge>),
    Proof {
        record: Box<Record>,
        leaf: Vec<u8>,
        path: Vec<[u8; 32]>,
    },
    Reject {
        code: RejectCode,
        detail: String,
    },
    Moved(Box<Link>),
}

impl AuditMsg {
    pub fn kind_name(&self) -> &'static str {
        match self {
            AuditMsg::Challenge(_) => "challenge",
            AuditMsg::Proof { .. } => "proof",
            AuditMsg::Reject { .. } => "reject",
            AuditMsg::Moved(_) => "moved",
        }
    }
}

/// Decodes one frame payload: checks 1-3 of §6.3 on `AuditMessage`, then
/// the per-kind checks of §18.3.
pub fn decode_audit(payload: &[u8]) -> Result<AuditMsg> {
    let bad = RejectCode::Malformed;
    let msg = AuditMessage::decode(payload)
        .map_err(|e| fail(bad, format!("not an AuditMessage: {e}")))?;
    Ok(match known_kind(msg.kind)? {
        Kind::Challenge(signed) => AuditMsg::Challenge(Box::new(parse_audit_challenge(&signed)?)),
        Kind::Proof(p) => {
            let Some(record) = p.record else {
                return Err(fail(bad, "audit proof lacks its record"));
            };
            if p.leaf.is_empty() || p.leaf.len() > LEAF_SIZE {
                return Err(fail(
                    bad,
                    format!(
                        "audit proof leaf of {} bytes outside 1..=1024",
                        p.leaf.len()
                    ),
                ));
            }
            if p.path.len() > MAX_AUDIT_PATH {
                return Err(fail(
                    bad,
                    format!("audit proof path of {} hashes exceeds 32", p.path.len()),
                ));
            }
            let path = p
                .path
                .iter()
                .map(|h| <[u8; 32]>::try_from(h.as_slice()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| fail(bad, format!("an audit path hash is not {HASH_SIZE} bytes")))?;
            AuditMsg::Proof {
                record: Box::new(parse_record(&record)?),
                leaf: p.leaf,
                path,
            }
        }
        Kind::Moved(m) => {
            let Some(proto::CustodyLink {
                record: Some(record),
                receipt: Some(receipt),
            }) = m.link
            else {
                return Err(fail(bad, "audit moved lacks its record or receipt"));
            };
            AuditMsg::Moved(Box::new(Link {
                record: parse_record(&record)?,
                receipt: parse_receipt(&receipt, bad)?,
            }))
        }
        Kind::Reject(r) => AuditMsg::Reject {
            code: check_reject(&r, RejectCode::BadProof as i32)?,
            detail: r.detail,
        },
    })
}

fn frame(kind: Kind) -> Vec<u8> {
    encode_frame(&AuditMessage { kind: Some(kind) }.encode_to_vec())
}

pub fn challenge_frame(challenge: &AuditChallenge) -> Vec<u8> {
    frame(Kind::Challenge(challenge.to_signed()))
}

pub fn proof_frame(record: &Record, leaf: &[u8], path: &[[u8; 32]]) -> Vec<u8> {
    frame(Kind::Proof(proto::AuditProof {
        record: Some(record.to_signed()),
        leaf: leaf.to_vec(),
        path: path.iter().map(|h| h.to_vec()).collect(),
    }))
}

pub fn moved_frame(link: &Link) -> Vec<u8> {
    frame(Kind::Moved(proto::AuditMoved {
        link: Some(link.to_proto()),
    }))
}

/// A Reject frame; `detail` is cut to 256 bytes at a character boundary.
pub fn reject_frame(code: RejectCode, detail: &str) -> Vec<u8> {
    frame(Kind::Reject(reject_message(code, detail)))
}

/// The 64 bytes the owner signs to grant `key` audits of its wanderer:
/// `wanderer_id || key` (§18.2).
pub fn grant_body(wanderer_id: &[u8; 32], key: &[u8; 32]) -> [u8; 64] {
    let mut body = [0u8; 64];
    body[..32].copy_from_slice(wanderer_id);
    body[32..].copy_from_slice(key);
    body
}

/// The owner's repair grant to `key` (domain `wdp/v2/repair-grant`).
pub fn sign_grant(owner: &SigningKey, key: &[u8; 32]) -> [u8; 64] {
    let wid = wanderer_id(owner.verifying_key().as_bytes());
    signing::sign(owner, DOMAIN_REPAIR_GRANT, &grant_body(&wid, key))
}

/// True if `grant` is the owner's signature over `wanderer_id || key` (A3).
pub fn grant_is_valid(owner_key: &[u8], wanderer_id: &[u8], key: &[u8], grant: &[u8]) -> bool {
    let (Ok(wid), Ok(key)) = (<[u8; 32]>::try_from(wanderer_id), <[u8; 32]>::try_from(key)) else {
        return false;
    };
    signing::verify(
        owner_key,
        DOMAIN_REPAIR_GRANT,
        &grant_body(&wid, &key),
        grant,
    )
}

/// What a challenge asks: shard `shard_index` of the wanderer of
/// `owner_key`, leaf `leaf_index`, of `carrier`.
#[derive(Clone, Debug)]
pub struct ChallengeSpec {
    pub owner_key: [u8; 32],
    pub shard_index: u32,
    pub carrier: [u8; 32],
    pub leaf_index: u32,
    pub time_ms: u64,
    /// 16 fresh CSPRNG bytes, never reused.
    pub nonce: [u8; 16],
}

/// A challenge signed by `signer` (the owner key, or a key holding the
/// owner's `grant`; the grant is left out when `signer` is the owner).
pub fn sign_challenge(signer: &SigningKey, spec: &ChallengeSpec, grant: &[u8]) -> AuditChallenge {
    let challenger = signer.verifying_key().to_bytes();
    let grant = if challenger == spec.owner_key {
        Vec::new()
    } else {
        grant.to_vec()
    };
    let body = AuditChallengeBody {
        version: PROTOCOL_VERSION,
        wanderer_id: wanderer_id(&spec.owner_key).to_vec(),
        owner_key: spec.owner_key.to_vec(),
        challenger_key: challenger.to_vec(),
        grant,
        shard_index: spec.shard_index,
        carrier: spec.carrier.to_vec(),
        leaf_index: spec.leaf_index,
        time_ms: spec.time_ms,
        nonce: spec.nonce.to_vec(),
    };
    sign_body(&body, DOMAIN_AUDIT, signer)
}
