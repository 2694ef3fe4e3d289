//! The owner's (client's) side of one `/wdp/fetch/1.0` stream (spec §15.6, §15.7).

use std::collections::VecDeque;

use sha2::{Digest, Sha256};

use super::{decode_fetch, reject_frame, request_frame, FetchMsg};
use crate::error::{fail, Result, WdpError};
use crate::framing::FrameDecoder;
use crate::limits::{FETCH_IDLE_TIMEOUT_MS, FETCH_RESPONSE_TIMEOUT_MS};
use crate::objects::{FetchRequest, Manifest, Record};
use crate::proto::RejectCode;
use crate::signing::{DOMAIN_MANIFEST, DOMAIN_RECORD};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    Idle,
    Requested,
    Receiving,
    Done,
    Failed,
}

/// A verified shard, returned at a Done that passes (§15.6).
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    pub manifest: Manifest,
    pub record: Record,
    pub shard: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClientOutput {
    Send(Vec<u8>),
    Fetched(Box<Fetched>),
    /// Close the stream; `reset` after our own Reject (§15.1).
    Close {
        reset: bool,
    },
}

/// The owner's side of one fetch stream (§15.6).
pub struct FetchClient {
    request: FetchRequest,
    expected_manifest_hash: Option<[u8; 32]>,
    state: ClientState,
    deadline: Option<u64>,
    decoder: FrameDecoder,
    out: VecDeque<ClientOutput>,
    header: Option<(Manifest, Record)>,
    received: Vec<u8>,
    hasher: Sha256,
    error: Option<(WdpError, bool)>,
}

impl FetchClient {
    pub fn new(request: FetchRequest, expected_manifest_hash: Option<[u8; 32]>) -> Self {
        FetchClient {
            request,
            expected_manifest_hash,
            state: ClientState::Idle,
            deadline: None,
            decoder: FrameDecoder::new(),
            out: VecDeque::new(),
            header: None,
            received: Vec::new(),
            hasher: Sha256::new(),
            error: None,
        }
    }

    pub fn state(&self) -> ClientState {
        self.state
    }
    /// The failure code and whether the carrier sent it.
    pub fn failure(&self) -> Option<&(WdpError, bool)> {
        self.error.as_ref()
    }
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadline
    }
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }
    fn is_terminal(&self) -> bool {
        matches!(self.state, ClientState::Done | ClientState::Failed)
    }

    pub fn start(&mut self, now_ms: u64) {
        if self.state == ClientState::Idle {
            self.out
                .push_back(ClientOutput::Send(request_frame(&self.request)));
            self.state = ClientState::Requested;
            self.deadline = Some(now_ms + FETCH_RESPONSE_TIMEOUT_MS);
        }
    }

    pub fn feed(&mut self, now_ms: u64, bytes: &[u8]) {
        if self.is_terminal() {
            return;
        }
        self.decoder.push(bytes);
        while !self.is_terminal() {
            match self.decoder.next_payload() {
                Ok(Some(p)) => self.handle_payload(now_ms, &p),
                Ok(None) => break,
                Err(e) => self.refuse(e),
            }
        }
    }

    pub fn handle_payload(&mut self, now_ms: u64, payload: &[u8]) {
        if self.is_terminal() || self.state == ClientState::Idle {
            return;
        }
        let msg = match decode_fetch(payload) {
            Ok(m) => m,
            Err(e) => return self.refuse(e),
        };
        match (self.state, msg) {
            (ClientState::Requested, FetchMsg::Header { manifest, record }) => {
                if let Err(e) = self.check_header(&manifest, &record) {
                    return self.refuse(e);
                }
                self.received = Vec::with_capacity(manifest.fields.shard_size as usize);
                self.header = Some((*manifest, *record));
                self.state = ClientState::Receiving;
                self.deadline = Some(now_ms + FETCH_IDLE_TIMEOUT_MS);
            }
            (ClientState::Receiving, FetchMsg::Data { offset, chunk }) => {
                if let Err(e) = self.on_data(offset, &chunk) {
                    return self.refuse(e);
                }
                self.deadline = Some(now_ms + FETCH_IDLE_TIMEOUT_MS);
            }
            (ClientState::Receiving, FetchMsg::Done { record_hash }) => {
                let (manifest, record) = self.header.clone().expect("RECEIVING has a header");
                if self.received.len() as u64 != manifest.fields.shard_size
                    || record_hash != record.hash
                {
                    return self.refuse(fail(
                        RejectCode::ProtocolViolation,
                        "done before the whole shard or for another record",
                    ));
                }
                let shard = std::mem::take(&mut self.received);
                self.out.push_back(ClientOutput::Fetched(Box::new(Fetched {
                    manifest,
                    record,
                    shard,
                })));
                self.out.push_back(ClientOutput::Close { reset: false });
                self.state = ClientState::Done;
                self.deadline = None;
            }
            (_, FetchMsg::Reject { code, detail }) => {
                self.error = Some((fail(code, detail), true));
                self.out.push_back(ClientOutput::Close { reset: false });
                self.state = ClientState::Failed;
                self.deadline = None;
            }
            (_, msg) => self.refuse(fail(
                RejectCode::ProtocolViolation,
                format!("{} not allowed in {:?}", msg.kind_name(), self.state),
            )),
        }
    }

    /// C1-C6 of §15.6.
    fn check_header(&self, m: &Manifest, r: &Record) -> Result<()> {
        let q = &self.request.fields;
        if self.expected_manifest_hash.is_some_and(|h| h != m.hash) {
            return Err(fail(
                RejectCode::BadManifest,
                "the manifest is not the one this owner expects",
            ));
        }
        if m.fields.owner_key != q.owner_key {
            return Err(fail(
                RejectCode::BadManifest,
                "the manifest has another owner key",
            ));
        }
        if !m.verify(DOMAIN_MANIFEST, &q.owner_key) {
            return Err(fail(
                RejectCode::BadManifest,
                "the manifest signature is invalid",
            ));
        }
        let rf = &r.fields;
        if !r.verify(DOMAIN_RECORD, &rf.from_peer) {
            return Err(fail(
                RejectCode::BadSignature,
                "the record signature is invalid",
            ));
        }
        let fits = rf.wanderer_id == q.wanderer_id
            && rf.shard_index == q.shard_index
            && rf.shard_index < m.fields.n
            && rf.shard_hash == m.fields.shard_hashes[rf.shard_index as usize]
            && rf.manifest_hash == m.hash
            && (rf.hop != 0 || crate::objects::may_start(m, r));
        if !fits {
            return Err(fail(
                RejectCode::BadChain,
                "the record does not fit the request and manifest",
            ));
        }
        if rf.to_peer != q.carrier {
            return Err(fail(
                RejectCode::WrongSender,
                "the record does not make this peer the carrier",
            ));
        }
        Ok(())
    }

    fn on_data(&mut self, offset: u64, chunk: &[u8]) -> Result<()> {
        let (manifest, record) = self.header.as_ref().expect("RECEIVING has a header");
        let size = manifest.fields.shard_size;
        let so_far = self.received.len() as u64;
        if offset != so_far {
            return Err(fail(
                RejectCode::ProtocolViolation,
                format!("data offset {offset}, expected {so_far}"),
            ));
        }
        if so_far + chunk.len() as u64 > size {
            return Err(fail(RejectCode::TooLarge, "data goes past shard_size"));
        }
        self.hasher.update(chunk);
        self.received.extend_from_slice(chunk);
        if self.received.len() as u64 == size {
            let digest: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
            let expected = &manifest.fields.shard_hashes[record.fields.shard_index as usize];
            if digest.as_slice() != expected.as_slice() {
                return Err(fail(
                    RejectCode::ShardHashMismatch,
                    "the data does not hash to the manifest's shard hash",
                ));
            }
        }
        Ok(())
    }

    pub fn handle_timer(&mut self, now_ms: u64) {
        if matches!(self.deadline, Some(d) if now_ms >= d) && !self.is_terminal() {
            self.refuse(fail(
                RejectCode::Timeout,
                "the carrier did not answer in time",
            ));
        }
    }

    pub fn stream_lost(&mut self) {
        if !self.is_terminal() {
            self.error = Some((fail(RejectCode::Timeout, "stream lost"), false));
            self.state = ClientState::Failed;
            self.deadline = None;
        }
    }

    fn refuse(&mut self, e: WdpError) {
        self.out
            .push_back(ClientOutput::Send(reject_frame(e.code, &e.detail)));
        self.out.push_back(ClientOutput::Close { reset: true });
        self.error = Some((e, false));
        self.state = ClientState::Failed;
        self.deadline = None;
    }
}
