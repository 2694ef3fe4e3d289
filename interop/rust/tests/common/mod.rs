//! Helpers shared by the vector tests (`vectors.rs`, `vectors_v2.rs`):
//! loading a file of `protocols/vectors/v1/`, counting checked cases, and
//! reading hex, integers and codes out of JSON.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use prost::Message;
use serde_json::Value;

use wdp_interop::framing::decode_frame;
use wdp_interop::objects::{
    parse_fetch_request, parse_manifest, parse_receipt, parse_record, Manifest, Parsed, Record,
};
use wdp_interop::proto::{
    self, Cipher, CustodyRecordBody, FetchRequestBody, HolderInfo, LocatorBody, ManifestBody,
    Reason, ReceiptBody, RejectCode, Signed,
};
use wdp_interop::signing;

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../protocols/vectors/v1")
}

pub fn load(name: &str) -> Vec<Value> {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("vector file is JSON");
    assert_eq!(doc["version"], 1, "{name}: version");
    let cases = doc["cases"].as_array().expect("cases").clone();
    assert!(!cases.is_empty(), "{name} has no cases");
    cases
}

/// Counts checked cases per kind; `finish` asserts every case was checked.
pub struct Tally {
    file: &'static str,
    total: usize,
    kinds: BTreeMap<String, usize>,
}

impl Tally {
    pub fn new(file: &'static str, total: usize) -> Self {
        Tally {
            file,
            total,
            kinds: BTreeMap::new(),
        }
    }
    pub fn done(&mut self, kind: &str) {
        *self.kinds.entry(kind.to_string()).or_default() += 1;
    }
    pub fn finish(self, expected_kinds: &[&str]) {
        let checked: usize = self.kinds.values().sum();
        assert_eq!(
            checked, self.total,
            "{}: checked {checked} of {} cases",
            self.file, self.total
        );
        for k in expected_kinds {
            assert!(
                self.kinds.contains_key(*k),
                "{}: no case of kind {k} checked",
                self.file
            );
        }
        eprintln!("{}: {} cases {:?}", self.file, self.total, self.kinds);
    }
}

pub fn hx(v: &Value) -> Vec<u8> {
    hex::decode(
        v.as_str()
            .unwrap_or_else(|| panic!("not a hex string: {v}")),
    )
    .expect("hex")
}
pub fn h32(v: &Value) -> [u8; 32] {
    hx(v).try_into().expect("32 bytes")
}
pub fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}"))
}
pub fn st(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}
pub fn code(v: &Value) -> RejectCode {
    RejectCode::from_name(st(v)).unwrap_or_else(|| panic!("unknown code {v}"))
}
/// Splits a frame into its payload, asserting the prefix is exactly right.
pub fn payload(frame: &[u8]) -> Vec<u8> {
    let (prefix, len) = decode_frame(frame)
        .expect("frame prefix")
        .expect("complete frame");
    assert_eq!(prefix + len, frame.len(), "frame has trailing bytes");
    frame[prefix..].to_vec()
}

/// Frames equal, except Reject frames, which compare by code (details are informative).
pub fn assert_same_frame(
    ours: &[u8],
    theirs: &[u8],
    codes: fn(&[u8]) -> Option<RejectCode>,
    what: &str,
) {
    match (codes(ours), codes(theirs)) {
        (Some(a), Some(b)) => assert_eq!(a, b, "{what}: reject code"),
        _ => assert_eq!(
            hex::encode(ours),
            hex::encode(theirs),
            "{what}: frame bytes"
        ),
    }
}

pub fn reason(name: &str) -> i32 {
    [
        Reason::Genesis,
        Reason::Ttl,
        Reason::Threat,
        Reason::Drain,
        Reason::Repair,
    ]
    .into_iter()
    .find(|r| r.name() == name)
    .unwrap_or_else(|| panic!("unknown reason {name}")) as i32
}

pub fn manifest_body(f: &Value) -> ManifestBody {
    assert_eq!(st(&f["cipher"]), "CHACHA20_POLY1305");
    ManifestBody {
        version: u(&f["version"]) as u32,
        wanderer_id: hx(&f["wanderer_id"]),
        owner_key: hx(&f["owner_key"]),
        cipher: Cipher::Chacha20Poly1305 as i32,
        nonce: hx(&f["nonce"]),
        payload_size: u(&f["payload_size"]),
        k: u(&f["k"]) as u32,
        n: u(&f["n"]) as u32,
        shard_size: u(&f["shard_size"]),
        shard_hashes: f["shard_hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(hx)
            .collect(),
        epoch_seconds: u(&f["epoch_seconds"]) as u32,
        created_at_ms: u(&f["created_at_ms"]),
        repair_key: f.get("repair_key").map(hx).unwrap_or_default(),
        shard_roots: f
            .get("shard_roots")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(hx).collect())
            .unwrap_or_default(),
    }
}

pub fn record_body(f: &Value) -> CustodyRecordBody {
    CustodyRecordBody {
        version: u(&f["version"]) as u32,
        wanderer_id: hx(&f["wanderer_id"]),
        shard_index: u(&f["shard_index"]) as u32,
        generation: u(&f["generation"]) as u32,
        hop: u(&f["hop"]),
        from_peer: hx(&f["from_peer"]),
        to_peer: hx(&f["to_peer"]),
        shard_hash: hx(&f["shard_hash"]),
        manifest_hash: hx(&f["manifest_hash"]),
        locator_key: hx(&f["locator_key"]),
        reason: reason(st(&f["reason"])),
        time_ms: u(&f["time_ms"]),
        prev_record_hash: hx(&f["prev_record_hash"]),
    }
}

pub fn receipt_body(f: &Value) -> ReceiptBody {
    ReceiptBody {
        version: u(&f["version"]) as u32,
        record_hash: hx(&f["record_hash"]),
        receiver: hx(&f["receiver"]),
        shard_hash: hx(&f["shard_hash"]),
        time_ms: u(&f["time_ms"]),
    }
}

pub fn locator_body(f: &Value) -> LocatorBody {
    LocatorBody {
        version: u(&f["version"]) as u32,
        generation: u(&f["generation"]) as u32,
        hop: u(&f["hop"]),
        expires_at_ms: u(&f["expires_at_ms"]),
        sealed_holder: hx(&f["sealed_holder"]),
    }
}

pub fn holder_info(f: &Value) -> HolderInfo {
    HolderInfo {
        holder: hx(&f["holder"]),
        addrs: f["addrs"].as_array().unwrap().iter().map(hx).collect(),
        record_hash: hx(&f["record_hash"]),
    }
}

pub fn request_body(f: &Value) -> FetchRequestBody {
    FetchRequestBody {
        version: u(&f["version"]) as u32,
        wanderer_id: hx(&f["wanderer_id"]),
        owner_key: hx(&f["owner_key"]),
        shard_index: u(&f["shard_index"]) as u32,
        carrier: hx(&f["carrier"]),
        time_ms: u(&f["time_ms"]),
        nonce: hx(&f["nonce"]),
        requester_key: hx(&f["requester_key"]),
        grant: hx(&f["grant"]),
    }
}

/// The `Signed` of a vector object `{body, signature, ...}`.
pub fn json_signed(j: &Value) -> Signed {
    Signed {
        body: hx(&j["body"]),
        signature: hx(&j["signature"]),
    }
}

/// A parsed object equals its vector: bytes, hash, and fields both ways
/// (decoded fields = the vector's; encoding the vector's fields = the body).
pub fn check_parsed<T: Message + PartialEq + std::fmt::Debug>(
    j: &Value,
    parsed: &Parsed<T>,
    expected: T,
) {
    assert_eq!(parsed.body, hx(&j["body"]), "body bytes");
    assert_eq!(parsed.signature, hx(&j["signature"]), "signature bytes");
    assert_eq!(parsed.hash.to_vec(), hx(&j["hash"]), "hash = H(body)");
    assert_eq!(parsed.fields, expected, "decoded fields");
    assert_eq!(
        expected.encode_to_vec(),
        parsed.body,
        "encoding of the fields"
    );
}

pub fn check_manifest_json(j: &Value) -> Manifest {
    let m = parse_manifest(&json_signed(j)).expect("manifest parses");
    check_parsed(j, &m, manifest_body(&j["fields"]));
    assert!(
        m.verify(signing::DOMAIN_MANIFEST, &m.fields.owner_key),
        "manifest signature"
    );
    m
}

pub fn check_record_json(j: &Value) -> Record {
    let r = parse_record(&json_signed(j)).expect("record parses");
    check_parsed(j, &r, record_body(&j["fields"]));
    assert!(
        r.verify(signing::DOMAIN_RECORD, &r.fields.from_peer),
        "record signature"
    );
    r
}

pub fn check_receipt_json(j: &Value) {
    let r = parse_receipt(&json_signed(j), RejectCode::BadReceipt).expect("receipt parses");
    check_parsed(j, &r, receipt_body(&j["fields"]));
    assert!(
        r.verify(signing::DOMAIN_RECEIPT, &r.fields.receiver),
        "receipt signature"
    );
}

pub fn check_request_json(j: &Value) {
    let r = parse_fetch_request(&json_signed(j)).expect("request parses");
    check_parsed(j, &r, request_body(&j["fields"]));
    assert!(
        r.verify(signing::DOMAIN_FETCH, &r.fields.owner_key),
        "request signature"
    );
}

pub fn reject_proto(f: &Value) -> proto::Reject {
    proto::Reject {
        code: code(&f["code"]) as i32,
        detail: st(&f["detail"]).to_string(),
    }
}
