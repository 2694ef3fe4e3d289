//! `/wdp/migrate/1.0` messages (spec §6.2, §6.3): decoding a frame payload
//! with every check of §6.3 in order, and encoding each message as a frame.

use prost::Message;

use crate::custody::{decode_offer, DecodedOffer};
use crate::error::{fail, Result};
use crate::framing::encode_frame;
use crate::limits::{HASH_SIZE, MAX_CHUNK_SIZE, MAX_DETAIL_BYTES};
use crate::objects::{parse_receipt, Receipt};
use crate::proto::{self, migrate_message::Kind, MigrateMessage, RejectCode};

/// A decoded, checked migrate message.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Offer(Box<DecodedOffer>),
    Accept { record_hash: [u8; 32] },
    Reject { code: RejectCode, detail: String },
    Data { offset: u64, chunk: Vec<u8> },
    Receipt(Box<Receipt>),
    Done { record_hash: [u8; 32] },
}

impl Msg {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Msg::Offer(_) => "offer",
            Msg::Accept { .. } => "accept",
            Msg::Reject { .. } => "reject",
            Msg::Data { .. } => "data",
            Msg::Receipt(_) => "receipt",
            Msg::Done { .. } => "done",
        }
    }
}

/// Frame check 3 of spec §6.3 for a `oneof` message: a known member is set.
/// When several members arrive, the last one wins (standard protobuf, as
/// prost and upb decode it); a known field with the wrong wire type already
/// failed the parse (check 2, spec §1).
pub(crate) fn known_kind<K>(kind: Option<K>) -> Result<K> {
    kind.ok_or_else(|| fail(RejectCode::Malformed, "no known message kind is set"))
}

pub(crate) fn hash32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| {
        fail(
            RejectCode::Malformed,
            format!("{what} record_hash is not {HASH_SIZE} bytes"),
        )
    })
}

/// Reject checks: `code` in `1..=max_code` (18 on migrate, 20 on fetch),
/// `detail` ≤ 256 bytes.
pub(crate) fn check_reject(r: &proto::Reject, max_code: i32) -> Result<RejectCode> {
    let code = RejectCode::try_from(r.code)
        .ok()
        .filter(|_| (1..=max_code).contains(&r.code))
        .ok_or_else(|| {
            fail(
                RejectCode::Malformed,
                format!("reject code {} is not allowed", r.code),
            )
        })?;
    if r.detail.len() > MAX_DETAIL_BYTES {
        return Err(fail(
            RejectCode::TooLarge,
            "reject detail exceeds 256 bytes",
        ));
    }
    Ok(code)
}

pub(crate) fn check_data(d: &proto::Data) -> Result<()> {
    if d.chunk.is_empty() || d.chunk.len() > MAX_CHUNK_SIZE {
        return Err(fail(
            RejectCode::Malformed,
            format!("data chunk of {} bytes outside 1..=1048576", d.chunk.len()),
        ));
    }
    Ok(())
}

/// Decodes one frame payload with the checks of spec §6.3 (2-4; check 1 is
/// the prefix, see [`crate::framing`]).
pub fn decode_migrate(payload: &[u8]) -> Result<Msg> {
    let msg = MigrateMessage::decode(payload)
        .map_err(|e| fail(RejectCode::Malformed, format!("not a MigrateMessage: {e}")))?;
    Ok(match known_kind(msg.kind)? {
        Kind::Offer(o) => Msg::Offer(Box::new(decode_offer(&o)?)),
        Kind::Accept(a) => Msg::Accept {
            record_hash: hash32(&a.record_hash, "accept")?,
        },
        Kind::Reject(r) => Msg::Reject {
            code: check_reject(&r, RejectCode::BadReceipt as i32)?,
            detail: r.detail,
        },
        Kind::Data(d) => {
            check_data(&d)?;
            Msg::Data {
                offset: d.offset,
                chunk: d.chunk,
            }
        }
        Kind::Receipt(r) => {
            let signed = r
                .receipt
                .ok_or_else(|| fail(RejectCode::BadReceipt, "receipt message without a receipt"))?;
            Msg::Receipt(Box::new(parse_receipt(&signed, RejectCode::BadReceipt)?))
        }
        Kind::Done(d) => Msg::Done {
            record_hash: hash32(&d.record_hash, "done")?,
        },
    })
}

fn frame(kind: Kind) -> Vec<u8> {
    encode_frame(&MigrateMessage { kind: Some(kind) }.encode_to_vec())
}

pub fn offer_frame(offer: &DecodedOffer) -> Vec<u8> {
    frame(Kind::Offer(offer.to_proto()))
}

pub fn accept_frame(record_hash: &[u8; 32]) -> Vec<u8> {
    frame(Kind::Accept(proto::Accept {
        record_hash: record_hash.to_vec(),
    }))
}

/// A Reject frame; `detail` is cut to 256 bytes at a character boundary.
pub fn reject_frame(code: RejectCode, detail: &str) -> Vec<u8> {
    frame(Kind::Reject(reject_message(code, detail)))
}

pub(crate) fn reject_message(code: RejectCode, detail: &str) -> proto::Reject {
    let mut end = detail.len().min(MAX_DETAIL_BYTES);
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    proto::Reject {
        code: code as i32,
        detail: detail[..end].to_string(),
    }
}

pub fn data_frame(offset: u64, chunk: &[u8]) -> Vec<u8> {
    frame(Kind::Data(proto::Data {
        offset,
        chunk: chunk.to_vec(),
    }))
}

pub fn receipt_frame(receipt: &Receipt) -> Vec<u8> {
    frame(Kind::Receipt(proto::Receipt {
        receipt: Some(receipt.to_signed()),
    }))
}

pub fn done_frame(record_hash: &[u8; 32]) -> Vec<u8> {
    frame(Kind::Done(proto::Done {
        record_hash: record_hash.to_vec(),
    }))
}
