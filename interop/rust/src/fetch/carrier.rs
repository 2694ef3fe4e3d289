//! The carrier's side of one `/wdp/fetch/1.0` stream (spec §15.5, §15.7).

use std::collections::VecDeque;

use super::checks::{check_request, Holdings, NonceCache};
use super::{data_frame, decode_fetch, done_frame, header_frame, reject_frame, FetchMsg};
use crate::error::{fail, WdpError};
use crate::framing::FrameDecoder;
use crate::limits::{FETCH_LOAD_TIMEOUT_MS, FETCH_REQUEST_TIMEOUT_MS, MAX_CHUNK_SIZE};
use crate::objects::{Manifest, Record};
use crate::proto::RejectCode;
use crate::signing::sha256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarrierState {
    AwaitRequest,
    Loading,
    Done,
    Rejected,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CarrierOutput {
    Send(Vec<u8>),
    /// Read the shard (`record.shard_index` of that manifest) and call `loaded`.
    Load {
        manifest: Box<Manifest>,
        record: Box<Record>,
    },
    Close,
}

/// The carrier's side of one fetch stream (§15.5).
pub struct FetchCarrier {
    local_key: [u8; 32],
    chunk_size: usize,
    state: CarrierState,
    deadline: Option<u64>,
    decoder: FrameDecoder,
    out: VecDeque<CarrierOutput>,
    serving: Option<(Manifest, Record)>,
    error: Option<WdpError>,
}

impl FetchCarrier {
    /// A stream was accepted at `now_ms`; `chunk_size` ≤ 1 MiB per Data.
    pub fn new(local_key: [u8; 32], chunk_size: usize, now_ms: u64) -> Self {
        FetchCarrier {
            local_key,
            chunk_size: chunk_size.clamp(1, MAX_CHUNK_SIZE),
            state: CarrierState::AwaitRequest,
            deadline: Some(now_ms + FETCH_REQUEST_TIMEOUT_MS),
            decoder: FrameDecoder::new(),
            out: VecDeque::new(),
            serving: None,
            error: None,
        }
    }

    pub fn state(&self) -> CarrierState {
        self.state
    }
    pub fn error(&self) -> Option<&WdpError> {
        self.error.as_ref()
    }
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadline
    }
    pub fn poll_output(&mut self) -> Option<CarrierOutput> {
        self.out.pop_front()
    }
    fn is_terminal(&self) -> bool {
        matches!(self.state, CarrierState::Done | CarrierState::Rejected)
    }

    pub fn feed(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
        nonces: &mut NonceCache,
        holdings: &dyn Holdings,
    ) {
        if self.is_terminal() {
            return;
        }
        self.decoder.push(bytes);
        while !self.is_terminal() {
            match self.decoder.next_payload() {
                Ok(Some(p)) => self.handle_payload(now_ms, &p, nonces, holdings),
                Ok(None) => break,
                Err(e) => self.refuse(e),
            }
        }
    }

    pub fn handle_payload(
        &mut self,
        now_ms: u64,
        payload: &[u8],
        nonces: &mut NonceCache,
        holdings: &dyn Holdings,
    ) {
        if self.is_terminal() {
            return;
        }
        let msg = match decode_fetch(payload) {
            Ok(m) => m,
            Err(e) => return self.refuse(e),
        };
        match (self.state, msg) {
            (CarrierState::AwaitRequest, FetchMsg::Request(req)) => {
                match check_request(&req, &self.local_key, now_ms, nonces, holdings) {
                    Ok((manifest, record)) => {
                        self.out.push_back(CarrierOutput::Load {
                            manifest: Box::new(manifest.clone()),
                            record: Box::new(record.clone()),
                        });
                        self.serving = Some((manifest, record));
                        self.state = CarrierState::Loading;
                        self.deadline = Some(now_ms + FETCH_LOAD_TIMEOUT_MS);
                    }
                    Err(e) => self.refuse(e),
                }
            }
            (CarrierState::Loading, FetchMsg::Reject { code, detail }) => {
                self.error = Some(fail(code, detail));
                self.finish(CarrierState::Rejected);
            }
            (_, msg) => self.refuse(fail(
                RejectCode::ProtocolViolation,
                format!("{} not allowed in {:?}", msg.kind_name(), self.state),
            )),
        }
    }

    /// The shard bytes read from the store (`None` if gone). Sends the
    /// header, every Data and Done if they hash right, else NOT_HELD.
    pub fn loaded(&mut self, shard: Option<&[u8]>) {
        if self.state != CarrierState::Loading {
            return;
        }
        let (manifest, record) = self.serving.clone().expect("LOADING serves a shard");
        let expected = &manifest.fields.shard_hashes[record.fields.shard_index as usize];
        let Some(shard) = shard.filter(|s| sha256(s).as_slice() == expected.as_slice()) else {
            return self.refuse(fail(
                RejectCode::NotHeld,
                "this node's copy of the shard is gone",
            ));
        };
        self.out
            .push_back(CarrierOutput::Send(header_frame(&manifest, &record)));
        for (i, chunk) in shard.chunks(self.chunk_size).enumerate() {
            let offset = (i * self.chunk_size) as u64;
            self.out
                .push_back(CarrierOutput::Send(data_frame(offset, chunk)));
        }
        self.out
            .push_back(CarrierOutput::Send(done_frame(&record.hash)));
        self.finish(CarrierState::Done);
    }

    pub fn handle_timer(&mut self, now_ms: u64) {
        if matches!(self.deadline, Some(d) if now_ms >= d) && !self.is_terminal() {
            self.refuse(fail(RejectCode::Timeout, "fetch timer expired"));
        }
    }

    pub fn stream_lost(&mut self) {
        if !self.is_terminal() {
            self.error = Some(fail(RejectCode::Timeout, "stream lost"));
            self.state = CarrierState::Rejected;
            self.deadline = None;
        }
    }

    fn refuse(&mut self, e: WdpError) {
        self.out
            .push_back(CarrierOutput::Send(reject_frame(e.code, &e.detail)));
        self.error = Some(e);
        self.finish(CarrierState::Rejected);
    }

    fn finish(&mut self, state: CarrierState) {
        self.out.push_back(CarrierOutput::Close);
        self.state = state;
        self.deadline = None;
    }
}
