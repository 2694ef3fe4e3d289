//! Frames of `/wdp/migrate/1.0` and `/wdp/fetch/1.0` (spec §6.1, §15.1):
//! `uvarint(len(payload)) || payload`, pure functions over bytes.
//!
//! The prefix is unsigned LEB128, at most 10 bytes, minimally encoded and
//! < 2^64, else `MALFORMED`; a length above `MAX_FRAME_SIZE` is `TOO_LARGE` as
//! soon as the prefix is complete, before any payload is buffered.

use crate::error::{fail, Result};
use crate::limits::MAX_FRAME_SIZE;
use crate::proto::RejectCode;

/// Appends the unsigned LEB128 encoding of `value` to `out`.
pub fn encode_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Decodes a varint prefix at the start of `buf`: `Ok(None)` if more bytes
/// are needed, `Ok(Some((value, prefix_len)))`, or `MALFORMED`.
pub fn decode_varint(buf: &[u8]) -> Result<Option<(u64, usize)>> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate() {
        if i == 9 && byte > 0x01 {
            // The 10th group holds bit 63 only; more is ≥ 2^64 or an 11th byte.
            return Err(fail(
                RejectCode::Malformed,
                "varint prefix longer than 64 bits",
            ));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err(fail(RejectCode::Malformed, "varint prefix is not minimal"));
            }
            return Ok(Some((value, i + 1)));
        }
    }
    Ok(None)
}

/// Where the next frame is in `buf`: `Ok(None)` while incomplete (prefix or
/// payload), else `Ok(Some((prefix_len, payload_len)))` with the payload
/// fully present. `TOO_LARGE` is raised from the prefix alone.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(usize, usize)>> {
    let Some((len, prefix)) = decode_varint(buf)? else {
        return Ok(None);
    };
    if len > MAX_FRAME_SIZE {
        return Err(fail(
            RejectCode::TooLarge,
            format!("frame of {len} bytes exceeds {MAX_FRAME_SIZE}"),
        ));
    }
    let len = len as usize;
    if buf.len() - prefix < len {
        return Ok(None);
    }
    Ok(Some((prefix, len)))
}

/// `uvarint(len(payload)) || payload`.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// Accumulates stream bytes and yields whole frame payloads in order.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete payload, `Ok(None)` if more bytes are needed, or the
    /// prefix error (after which the stream is unusable).
    pub fn next_payload(&mut self) -> Result<Option<Vec<u8>>> {
        match decode_frame(&self.buf)? {
            None => Ok(None),
            Some((prefix, len)) => {
                let payload = self.buf[prefix..prefix + len].to_vec();
                self.buf.drain(..prefix + len);
                Ok(Some(payload))
            }
        }
    }

    /// Bytes buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}
