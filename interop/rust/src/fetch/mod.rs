//! The owner's fetch protocol `/wdp/fetch/1.0` (spec §15), sans-IO: message
//! decoding and encoding (§15.3, here), the carrier's checks F1-F7 and its
//! nonce cache (§15.5, [`checks`]), the carrier machine ([`carrier`]) and the
//! client machine (§15.6, [`client`]), with the timers of §15.7.

pub mod carrier;
pub mod checks;
pub mod client;

pub use carrier::{CarrierOutput, CarrierState, FetchCarrier};
pub use checks::{check_request, Holdings, NonceCache};
pub use client::{ClientOutput, ClientState, FetchClient, Fetched};

use ed25519_dalek::SigningKey;
use prost::Message;

use crate::error::{fail, Result};
use crate::framing::encode_frame;
use crate::limits::PROTOCOL_VERSION;
use crate::messages::{check_data, check_reject, hash32, known_kind, reject_message};
use crate::objects::{
    parse_fetch_request, parse_manifest, parse_record, sign_body, wanderer_id, FetchRequest,
    Manifest, Record,
};
use crate::proto::{self, fetch_message::Kind, FetchMessage, FetchRequestBody, RejectCode};
use crate::signing::DOMAIN_FETCH;

/// A decoded, checked fetch message (§15.3).
#[derive(Clone, Debug, PartialEq)]
pub enum FetchMsg {
    Request(Box<FetchRequest>),
    Header {
        manifest: Box<Manifest>,
        record: Box<Record>,
    },
    Data {
        offset: u64,
        chunk: Vec<u8>,
    },
    Done {
        record_hash: [u8; 32],
    },
    Reject {
        code: RejectCode,
        detail: String,
    },
}

impl FetchMsg {
    pub fn kind_name(&self) -> &'static str {
        match self {
            FetchMsg::Request(_) => "request",
            FetchMsg::Header { .. } => "header",
            FetchMsg::Data { .. } => "data",
            FetchMsg::Done { .. } => "done",
            FetchMsg::Reject { .. } => "reject",
        }
    }
}

/// Decodes one frame payload with the checks of §15.3.
pub fn decode_fetch(payload: &[u8]) -> Result<FetchMsg> {
    let msg = FetchMessage::decode(payload)
        .map_err(|e| fail(RejectCode::Malformed, format!("not a FetchMessage: {e}")))?;
    Ok(match known_kind(msg.kind)? {
        Kind::Request(signed) => FetchMsg::Request(Box::new(parse_fetch_request(&signed)?)),
        Kind::Header(h) => {
            let (Some(m), Some(r)) = (h.manifest, h.record) else {
                return Err(fail(
                    RejectCode::Malformed,
                    "header lacks its manifest or record",
                ));
            };
            FetchMsg::Header {
                manifest: Box::new(parse_manifest(&m)?),
                record: Box::new(parse_record(&r)?),
            }
        }
        Kind::Data(d) => {
            check_data(&d)?;
            FetchMsg::Data {
                offset: d.offset,
                chunk: d.chunk,
            }
        }
        Kind::Done(d) => FetchMsg::Done {
            record_hash: hash32(&d.record_hash, "done")?,
        },
        Kind::Reject(r) => FetchMsg::Reject {
            code: check_reject(&r, RejectCode::Unauthorized as i32)?,
            detail: r.detail,
        },
    })
}

fn frame(kind: Kind) -> Vec<u8> {
    encode_frame(&FetchMessage { kind: Some(kind) }.encode_to_vec())
}

pub fn request_frame(request: &FetchRequest) -> Vec<u8> {
    frame(Kind::Request(request.to_signed()))
}

pub fn header_frame(manifest: &Manifest, record: &Record) -> Vec<u8> {
    frame(Kind::Header(proto::FetchHeader {
        manifest: Some(manifest.to_signed()),
        record: Some(record.to_signed()),
    }))
}

pub fn data_frame(offset: u64, chunk: &[u8]) -> Vec<u8> {
    frame(Kind::Data(proto::Data {
        offset,
        chunk: chunk.to_vec(),
    }))
}

pub fn done_frame(record_hash: &[u8; 32]) -> Vec<u8> {
    frame(Kind::Done(proto::Done {
        record_hash: record_hash.to_vec(),
    }))
}

pub fn reject_frame(code: RejectCode, detail: &str) -> Vec<u8> {
    frame(Kind::Reject(reject_message(code, detail)))
}

/// The owner's signed request for shard `shard_index` from `carrier`
/// (§15.2); `nonce` must be 16 fresh CSPRNG bytes.
pub fn sign_request(
    owner: &SigningKey,
    shard_index: u32,
    carrier: &[u8; 32],
    time_ms: u64,
    nonce: &[u8; 16],
) -> FetchRequest {
    let owner_key = owner.verifying_key().to_bytes();
    let body = FetchRequestBody {
        version: PROTOCOL_VERSION,
        wanderer_id: wanderer_id(&owner_key).to_vec(),
        owner_key: owner_key.to_vec(),
        shard_index,
        carrier: carrier.to_vec(),
        time_ms,
        nonce: nonce.to_vec(),
        requester_key: Vec::new(),
        grant: Vec::new(),
    };
    sign_body(&body, DOMAIN_FETCH, owner)
}

/// A keeper's signed request (§15.2, §16.1): signed by `keeper` (its repair
/// key), naming the wanderer's `owner_key` and carrying the owner's `grant`
/// to the keeper's key.
pub fn sign_keeper_request(
    keeper: &SigningKey,
    owner_key: &[u8; 32],
    grant: &[u8; 64],
    shard_index: u32,
    carrier: &[u8; 32],
    time_ms: u64,
    nonce: &[u8; 16],
) -> FetchRequest {
    let body = FetchRequestBody {
        version: PROTOCOL_VERSION,
        wanderer_id: wanderer_id(owner_key).to_vec(),
        owner_key: owner_key.to_vec(),
        shard_index,
        carrier: carrier.to_vec(),
        time_ms,
        nonce: nonce.to_vec(),
        requester_key: keeper.verifying_key().to_bytes().to_vec(),
        grant: grant.to_vec(),
    };
    sign_body(&body, DOMAIN_FETCH, keeper)
}
