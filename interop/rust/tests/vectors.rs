//! Every vector of `protocols/vectors/v1/` (spec §13), checked against the
//! library. Each file's test counts the cases it checked per kind and fails
//! on an unknown kind, a missing file or an unchecked case.

use std::collections::BTreeMap;

use prost::Message;
use serde_json::Value;

use wdp_interop::carrier::{CarrierBook, CarrierConfig};
use wdp_interop::custody::key32;
use wdp_interop::fetch::{
    self, decode_fetch, CarrierOutput, ClientOutput, FetchCarrier, FetchClient, FetchMsg, Holdings,
    NonceCache,
};
use wdp_interop::framing::{decode_frame, decode_varint, encode_frame, encode_varint};
use wdp_interop::messages::{decode_migrate, Msg};
use wdp_interop::objects::{
    parse_holder_info, parse_manifest, parse_receipt, parse_record, sign_body, Manifest, Record,
};
use wdp_interop::proto::{
    self, fetch_message, migrate_message, Cipher, ManifestBody, RejectCode, Signed,
};
use wdp_interop::signing::{self, public_key, signing_key};
use wdp_interop::{
    crypto, erasure, locator, Custody, Receiver, ReceiverOutput, Sender, SenderOutput,
};

mod common;

use common::*;

// ---------------------------------------------------------------- helpers

/// Every vector file; `manifest-v2.json` and `audit.json` are checked in
/// `tests/vectors_v2.rs`, `segments.json` in `tests/segments.rs`,
/// `capability.json` in `tests/capability.rs`, the others here.
const FILES: [&str; 14] = [
    "audit.json",
    "capability.json",
    "crypto.json",
    "custody.json",
    "erasure.json",
    "fetch.json",
    "handoff.json",
    "keys.json",
    "locator.json",
    "manifest-v2.json",
    "messages.json",
    "objects.json",
    "segments.json",
    "signing.json",
];

fn frame_code(frame: &[u8]) -> Option<RejectCode> {
    match decode_migrate(&payload(frame)).expect("a frame we produced decodes") {
        Msg::Reject { code, .. } => Some(code),
        _ => None,
    }
}

fn fetch_frame_code(frame: &[u8]) -> Option<RejectCode> {
    match decode_fetch(&payload(frame)).expect("a frame we produced decodes") {
        FetchMsg::Reject { code, .. } => Some(code),
        _ => None,
    }
}

#[test]
fn every_vector_file_is_checked() {
    let mut present: Vec<String> = std::fs::read_dir(dir())
        .expect("vector directory")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    present.sort();
    assert_eq!(
        present,
        FILES.to_vec(),
        "a vector file is new or missing: add its test"
    );
}

// ---------------------------------------------------------------- keys, signing, crypto

#[test]
fn keys() {
    let cases = load("keys.json");
    let mut t = Tally::new("keys.json", cases.len());
    for c in &cases {
        let seed = h32(&c["seed"]);
        let pk = public_key(&seed);
        assert_eq!(pk.to_vec(), hx(&c["ed25519_public_key"]));
        let mh = signing::peer_id_bytes(&pk);
        assert_eq!(mh.to_vec(), hx(&c["peer_id_multihash"]));
        assert_eq!(signing::key_from_peer_id_bytes(&mh), Some(pk));
        let peer = libp2p::PeerId::from_bytes(&mh).expect("PeerId");
        assert_eq!(peer.to_base58(), st(&c["peer_id"]));
        let xsk = crypto::x25519_secret(&seed);
        assert_eq!(xsk.to_vec(), hx(&c["x25519_private_key"]));
        let xpk = crypto::x25519_public(&pk).expect("X25519 form");
        assert_eq!(xpk.to_vec(), hx(&c["x25519_public_key"]));
        t.done("keypair");
    }
    t.finish(&["keypair"]);
}

#[test]
fn signing() {
    let cases = load("signing.json");
    let mut t = Tally::new("signing.json", cases.len());
    for c in &cases {
        let domain = st(&c["domain"]);
        let constant = match st(&c["domain_constant"]) {
            "DOMAIN_MANIFEST" => signing::DOMAIN_MANIFEST,
            "DOMAIN_RECORD" => signing::DOMAIN_RECORD,
            "DOMAIN_RECEIPT" => signing::DOMAIN_RECEIPT,
            "DOMAIN_LOCATOR" => signing::DOMAIN_LOCATOR,
            "DOMAIN_FETCH" => signing::DOMAIN_FETCH,
            "DOMAIN_AUDIT" => signing::DOMAIN_AUDIT,
            "DOMAIN_REPAIR_GRANT" => signing::DOMAIN_REPAIR_GRANT,
            other => panic!("unknown domain constant {other}"),
        };
        assert_eq!(constant, domain);
        let body = hx(&c["body"]);
        assert_eq!(
            signing::signing_input(domain, &body),
            hx(&c["signing_input"])
        );
        let seed = h32(&c["seed"]);
        assert_eq!(public_key(&seed).to_vec(), hx(&c["public_key"]));
        let sig = signing::sign(&signing_key(&seed), domain, &body);
        assert_eq!(sig.to_vec(), hx(&c["signature"]));
        assert!(signing::verify(&public_key(&seed), domain, &body, &sig));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!signing::verify(&public_key(&seed), domain, &body, &bad));
        assert!(!signing::verify(
            &public_key(&seed),
            "wdp/v1/other",
            &body,
            &sig
        ));
        t.done("signature");
    }
    // The example of spec §2.
    assert_eq!(
        hex::encode(signing::signing_input("wdp/v1/receipt", &[0x08, 0x01])),
        "0e7764702f76312f7265636569707400000000000000020801"
    );
    t.finish(&["signature"]);
}

#[test]
fn crypto_vectors() {
    let cases = load("crypto.json");
    let mut t = Tally::new("crypto.json", cases.len());
    for c in &cases {
        let kind = st(&c["kind"]);
        match kind {
            "data_key" => {
                assert_eq!(
                    crypto::data_key(&h32(&c["seed"])).to_vec(),
                    hx(&c["data_key"])
                );
            }
            "wanderer_id" => {
                let w = crypto::wanderer_id(&hx(&c["owner_public_key"]));
                assert_eq!(w.to_vec(), hx(&c["wanderer_id"]));
            }
            "locator_seed" => {
                let s = crypto::locator_seed(
                    &h32(&c["seed"]),
                    u(&c["shard_index"]) as u32,
                    u(&c["generation"]) as u32,
                );
                assert_eq!(s.to_vec(), hx(&c["locator_seed"]));
                assert_eq!(public_key(&s).to_vec(), hx(&c["locator_public_key"]));
            }
            "aead" => {
                let (key, aad, pt) = (h32(&c["key"]), hx(&c["aad"]), hx(&c["plaintext"]));
                let nonce: [u8; 12] = hx(&c["nonce"]).try_into().unwrap();
                let ct = crypto::aead_encrypt(&key, &nonce, &aad, &pt);
                assert_eq!(ct, hx(&c["ciphertext"]));
                assert_eq!(crypto::aead_decrypt(&key, &nonce, &aad, &ct).unwrap(), pt);
                let mut bad = ct.clone();
                bad[0] ^= 1;
                assert!(crypto::aead_decrypt(&key, &nonce, &aad, &bad).is_err());
            }
            "sealed_box" => {
                let owner = h32(&c["owner_public_key"]);
                let seed = h32(&c["owner_seed"]);
                assert_eq!(public_key(&seed), owner);
                assert_eq!(
                    crypto::x25519_public(&owner).unwrap().to_vec(),
                    hx(&c["owner_x25519_public_key"])
                );
                let pt = hx(&c["plaintext"]);
                let sealed = crypto::seal(&owner, &pt, &h32(&c["ephemeral_seed"])).unwrap();
                assert_eq!(sealed, hx(&c["sealed"]));
                assert_eq!(sealed[..32].to_vec(), hx(&c["ephemeral_public_key"]));
                assert_eq!(crypto::open(&seed, &sealed).unwrap(), pt);
                let mut bad = sealed.clone();
                *bad.last_mut().unwrap() ^= 1;
                assert!(crypto::open(&seed, &bad).is_err());
                assert!(crypto::open(&[7u8; 32], &sealed).is_err());
            }
            "owner_key_invalid" => {
                let owner = h32(&c["owner_public_key"]);
                assert!(
                    crypto::x25519_public(&owner).is_none(),
                    "{}",
                    st(&c["name"])
                );
                assert!(crypto::seal(&owner, b"holder info", &[0u8; 32]).is_err());
            }
            other => panic!("crypto.json: unknown kind {other}"),
        }
        t.done(kind);
    }
    t.finish(&[
        "data_key",
        "wanderer_id",
        "locator_seed",
        "aead",
        "sealed_box",
        "owner_key_invalid",
    ]);
}

#[test]
fn erasure_vectors() {
    let cases = load("erasure.json");
    let mut t = Tally::new("erasure.json", cases.len());
    for c in &cases {
        let kind = st(&c["kind"]);
        let (k, n) = (u(&c["k"]) as usize, u(&c["n"]) as usize);
        let expected: Vec<Vec<u8>> = c["shards"].as_array().unwrap().iter().map(hx).collect();
        let data = match kind {
            "raw" => hx(&c["data"]),
            "pipeline" => {
                let seed = h32(&c["owner_seed"]);
                let owner = public_key(&seed);
                assert_eq!(owner.to_vec(), hx(&c["owner_public_key"]));
                let wid = crypto::wanderer_id(&owner);
                assert_eq!(wid.to_vec(), hx(&c["wanderer_id"]));
                let key = crypto::data_key(&seed);
                assert_eq!(key.to_vec(), hx(&c["data_key"]));
                let nonce: [u8; 12] = hx(&c["nonce"]).try_into().unwrap();
                let ct = crypto::aead_encrypt(&key, &nonce, &wid, &hx(&c["payload"]));
                assert_eq!(ct, hx(&c["ciphertext"]));
                ct
            }
            other => panic!("erasure.json: unknown kind {other}"),
        };
        let shards = erasure::encode(&data, k, n).unwrap();
        assert_eq!(shards, expected, "{}: shards", c["name"]);
        assert_eq!(
            erasure::shard_size(data.len(), k) as u64,
            u(&c["shard_size"])
        );
        // Rebuild from the last k shards and from the vector's subset.
        let last: Vec<(usize, &[u8])> = (n - k..n).map(|i| (i, shards[i].as_slice())).collect();
        assert_eq!(erasure::decode(&last, k, n, data.len()).unwrap(), data);
        if kind == "pipeline" {
            let seed = h32(&c["owner_seed"]);
            let hashes: Vec<Vec<u8>> = shards.iter().map(|s| signing::sha256(s).to_vec()).collect();
            let listed: Vec<Vec<u8>> = c["shard_hashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(hx)
                .collect();
            assert_eq!(hashes, listed);
            // The owner's manifest, signed byte for byte, and accepted by the checks of §4.1.
            let body = ManifestBody {
                version: 1,
                wanderer_id: hx(&c["wanderer_id"]),
                owner_key: hx(&c["owner_public_key"]),
                cipher: Cipher::Chacha20Poly1305 as i32,
                nonce: hx(&c["nonce"]),
                payload_size: hx(&c["payload"]).len() as u64,
                k: k as u32,
                n: n as u32,
                shard_size: u(&c["shard_size"]),
                shard_hashes: hashes,
                epoch_seconds: u(&c["epoch_seconds"]) as u32,
                created_at_ms: u(&c["created_at_ms"]),
                ..Default::default()
            };
            let m = sign_body(&body, signing::DOMAIN_MANIFEST, &signing_key(&seed));
            assert_eq!(m.body, hx(&c["manifest"]["body"]));
            assert_eq!(m.signature, hx(&c["manifest"]["signature"]));
            assert_eq!(m.hash.to_vec(), hx(&c["manifest"]["hash"]));
            let parsed = parse_manifest(&m.to_signed()).expect("manifest passes §4.1");
            assert!(parsed.verify(signing::DOMAIN_MANIFEST, &parsed.fields.owner_key));
            let subset: Vec<(usize, &[u8])> = c["rebuild_from"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (u(i) as usize, expected[u(i) as usize].as_slice()))
                .collect();
            assert_eq!(subset.len(), k);
            let ct = erasure::decode(&subset, k, n, data.len()).unwrap();
            let nonce: [u8; 12] = hx(&c["nonce"]).try_into().unwrap();
            let wid = crypto::wanderer_id(&public_key(&seed));
            let plain = crypto::aead_decrypt(&crypto::data_key(&seed), &nonce, &wid, &ct).unwrap();
            assert_eq!(plain, hx(&c["payload"]));
        }
        t.done(kind);
    }
    t.finish(&["raw", "pipeline"]);
}

// ---------------------------------------------------------------- objects and messages

#[test]
fn objects() {
    let cases = load("objects.json");
    let mut t = Tally::new("objects.json", cases.len());
    for c in &cases {
        let kind = st(&c["kind"]);
        if kind != "holder_info" {
            let signed = Signed::decode(hx(&c["signed"]).as_slice()).expect("signed decodes");
            assert_eq!(signed, json_signed(c));
            assert_eq!(signed.encode_to_vec(), hx(&c["signed"]));
        }
        match kind {
            "manifest" => {
                check_manifest_json(c);
            }
            "custody_record" => {
                check_record_json(c);
            }
            "receipt" => check_receipt_json(c),
            "holder_info" => {
                let h = holder_info(&c["fields"]);
                assert_eq!(h.encode_to_vec(), hx(&c["body"]));
                assert_eq!(parse_holder_info(&hx(&c["body"])).unwrap(), h);
                for (bytes, text) in h.addrs.iter().zip(c["addrs_text"].as_array().unwrap()) {
                    let addr = libp2p::Multiaddr::try_from(bytes.clone()).expect("multiaddr");
                    assert_eq!(addr.to_string(), st(text));
                }
            }
            "locator" => {
                let secret = h32(&c["locator_secret"]);
                let lk = public_key(&secret);
                assert_eq!(lk.to_vec(), hx(&c["signer_public_key"]));
                assert_eq!(locator::dht_key(&lk), st(&c["dht_key"]).as_bytes());
                let f = locator_body(&c["fields"]);
                let value = hx(&c["signed"]);
                let now = f.expires_at_ms - 1;
                let parsed = locator::validate(st(&c["dht_key"]).as_bytes(), &value, now).unwrap();
                check_parsed(c, &parsed, f.clone());
                let seed = h32(&c["owner_seed"]);
                let holder = parse_holder_info(&hx(&c["holder_info_body"])).unwrap();
                let built = locator::build_value(
                    &secret,
                    &public_key(&seed),
                    f.generation,
                    f.hop,
                    f.expires_at_ms,
                    &holder,
                    &h32(&c["ephemeral_seed"]),
                )
                .unwrap();
                assert_eq!(
                    hex::encode(built),
                    hex::encode(&value),
                    "locator value built byte for byte"
                );
                assert_eq!(locator::open_holder(&seed, &parsed).unwrap(), holder);
            }
            other => panic!("objects.json: unknown kind {other}"),
        }
        if kind != "holder_info" && kind != "locator" {
            let domain = st(&c["domain"]);
            assert!(signing::verify(
                &hx(&c["signer_public_key"]),
                domain,
                &hx(&c["body"]),
                &hx(&c["signature"])
            ));
        }
        t.done(kind);
    }
    t.finish(&[
        "manifest",
        "custody_record",
        "receipt",
        "holder_info",
        "locator",
    ]);
}

fn offer_from_json(f: &Value) -> proto::Offer {
    proto::Offer {
        manifest: Some(json_signed(&f["manifest"])),
        chain: f["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| proto::CustodyLink {
                record: Some(json_signed(&l["record"])),
                receipt: Some(json_signed(&l["receipt"])),
            })
            .collect(),
        record: Some(json_signed(&f["record"])),
        locator_secret: hx(&f["locator_secret"]),
    }
}

#[test]
fn messages() {
    let cases = load("messages.json");
    let mut t = Tally::new("messages.json", cases.len());
    for c in &cases {
        let kind = st(&c["kind"]);
        let name = st(&c["name"]);
        match kind {
            "message" => {
                let frame = hx(&c["frame"]);
                let p = payload(&frame);
                assert_eq!(p.len() as u64, u(&c["payload_length"]));
                let f = &c["fields"];
                let msg = decode_migrate(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
                use migrate_message::Kind as K;
                let built = match (st(&c["message"]), &msg) {
                    ("offer", Msg::Offer(o)) => {
                        check_manifest_json(&f["manifest"]);
                        check_record_json(&f["record"]);
                        for l in f["chain"].as_array().unwrap() {
                            check_record_json(&l["record"]);
                            check_receipt_json(&l["receipt"]);
                        }
                        assert_eq!(o.chain.len(), f["chain"].as_array().unwrap().len());
                        assert_eq!(o.locator_secret.to_vec(), hx(&f["locator_secret"]));
                        assert_eq!(
                            wdp_interop::messages::offer_frame(o),
                            frame,
                            "re-encoded offer"
                        );
                        K::Offer(offer_from_json(f))
                    }
                    ("accept", Msg::Accept { record_hash }) => {
                        assert_eq!(record_hash.to_vec(), hx(&f["record_hash"]));
                        K::Accept(proto::Accept {
                            record_hash: hx(&f["record_hash"]),
                        })
                    }
                    ("reject", Msg::Reject { code: got, detail }) => {
                        assert_eq!(*got, code(&f["code"]));
                        assert_eq!(detail, st(&f["detail"]));
                        K::Reject(reject_proto(f))
                    }
                    ("data", Msg::Data { offset, chunk }) => {
                        assert_eq!(*offset, u(&f["offset"]));
                        assert_eq!(chunk, &hx(&f["chunk"]));
                        K::Data(proto::Data {
                            offset: u(&f["offset"]),
                            chunk: hx(&f["chunk"]),
                        })
                    }
                    ("receipt", Msg::Receipt(_)) => {
                        check_receipt_json(&f["receipt"]);
                        K::Receipt(proto::Receipt {
                            receipt: Some(json_signed(&f["receipt"])),
                        })
                    }
                    ("done", Msg::Done { record_hash }) => {
                        assert_eq!(record_hash.to_vec(), hx(&f["record_hash"]));
                        K::Done(proto::Done {
                            record_hash: hx(&f["record_hash"]),
                        })
                    }
                    (m, got) => panic!("{name}: vector says {m}, decoded {}", got.kind_name()),
                };
                let encoded = proto::MigrateMessage { kind: Some(built) }.encode_to_vec();
                assert_eq!(
                    hex::encode(encode_frame(&encoded)),
                    hex::encode(&frame),
                    "{name}: encoding"
                );
            }
            "varint" => {
                let bytes = hx(&c["bytes"]);
                let value = u(&c["value"]);
                let mut out = Vec::new();
                encode_varint(value, &mut out);
                assert_eq!(out, bytes, "{name}");
                assert_eq!(
                    decode_varint(&bytes).unwrap(),
                    Some((value, bytes.len())),
                    "{name}"
                );
            }
            "frame_prefix" => {
                let got = match decode_frame(&hx(&c["bytes"])) {
                    Ok(None) => "incomplete".to_string(),
                    Ok(Some(_)) => "frame".to_string(),
                    Err(e) => e.code.name().to_string(),
                };
                assert_eq!(got, st(&c["expect"]), "{name}");
            }
            "invalid_message" => {
                let frame = hx(&c["frame"]);
                let got = match decode_frame(&frame) {
                    Err(e) => e.code,
                    Ok(None) => panic!("{name}: incomplete frame"),
                    Ok(Some((prefix, _))) => decode_migrate(&frame[prefix..]).expect_err(name).code,
                };
                assert_eq!(got, code(&c["expect"]), "{name}");
            }
            "equivalent_message" => {
                let frame = hx(&c["frame"]);
                let equivalent = hx(&c["equivalent_frame"]);
                assert_ne!(frame, equivalent, "{name}");
                let msg =
                    decode_migrate(&payload(&frame)).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(msg.kind_name(), st(&c["message"]), "{name}");
                assert_eq!(
                    msg,
                    decode_migrate(&payload(&equivalent)).unwrap(),
                    "{name}"
                );
            }
            other => panic!("messages.json: unknown kind {other}"),
        }
        t.done(kind);
    }
    t.finish(&[
        "message",
        "varint",
        "frame_prefix",
        "invalid_message",
        "equivalent_message",
    ]);
}

// ---------------------------------------------------------------- offers and handoffs

/// A carrier book in the local state of a vector's `receiver_state`
/// (custody.json description): highest hops seen, draining, limits, and the
/// shards it carries.
fn book_from_state(local_seed: &[u8; 32], state: Option<&Value>) -> CarrierBook {
    let mut config = CarrierConfig::default();
    let Some(state) = state else {
        return CarrierBook::new(config);
    };
    for key in state
        .as_object()
        .expect("receiver_state is an object")
        .keys()
    {
        assert!(
            [
                "seen",
                "shutting_down",
                "max_inbound",
                "capacity",
                "carries"
            ]
            .contains(&key.as_str()),
            "unknown receiver_state key {key}"
        );
    }
    if let Some(v) = state.get("max_inbound") {
        config.max_inbound = u(v) as usize;
    }
    if let Some(v) = state.get("capacity") {
        config.capacity = u(v);
    }
    let mut book = CarrierBook::new(config);
    for seen in state
        .get("seen")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        book.note_seen(
            h32(&seen["wanderer_id"]),
            u(&seen["shard_index"]) as u32,
            u(&seen["generation"]) as u32,
            u(&seen["hop"]),
        );
    }
    for held in state
        .get("carries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let signed = |v: &Value| Signed::decode(hx(v).as_slice()).expect("a Signed");
        let manifest = parse_manifest(&signed(&held["manifest"])).unwrap();
        let record = parse_record(&signed(&held["record"])).unwrap();
        let receipt = parse_receipt(&signed(&held["receipt"]), RejectCode::BadReceipt).unwrap();
        let shard = hx(&held["shard"]);
        assert_eq!(record.fields.to_peer, public_key(local_seed).to_vec());
        assert!(receipt.verify(signing::DOMAIN_RECEIPT, &record.fields.to_peer));
        assert_eq!(receipt.fields.record_hash, record.hash.to_vec());
        assert_eq!(signing::sha256(&shard).to_vec(), record.fields.shard_hash);
        assert_eq!(shard.len() as u64, manifest.fields.shard_size);
        book.take_custody(Custody {
            manifest,
            record,
            receipt,
            chain: Vec::new(),
            locator_secret: h32(&held["locator_secret"]),
        });
    }
    book.shutting_down = state
        .get("shutting_down")
        .map(|v| v.as_bool().expect("a bool"))
        .unwrap_or(false);
    book
}

#[test]
fn custody_offer_checks() {
    let cases = load("custody.json");
    let mut t = Tally::new("custody.json", cases.len());
    let now = 1_700_000_010_000;
    for c in &cases {
        let name = st(&c["name"]);
        let seed = h32(&c["local_seed"]);
        assert_eq!(public_key(&seed).to_vec(), hx(&c["local_peer"]));
        let state = c.get("receiver_state");
        let mut book = book_from_state(&seed, state);
        let mut rx = Receiver::new(signing_key(&seed), Some(h32(&c["remote_peer"])), now);
        rx.feed(now, &hx(&c["offer_frame"]), &mut book);
        let Some(ReceiverOutput::Send(answer)) = rx.poll_output() else {
            panic!("{name}: the receiver sent nothing");
        };
        let got = match decode_migrate(&payload(&answer)).unwrap() {
            Msg::Accept { .. } => "accept".to_string(),
            Msg::Receipt(r) => {
                // Stage C: the receipt this node signed before, byte for byte.
                let carried = state.expect("a retried offer needs a carried shard")["carries"]
                    .as_array()
                    .unwrap();
                assert!(
                    carried
                        .iter()
                        .any(|h| hx(&h["receipt"]) == r.to_signed().encode_to_vec()),
                    "{name}: not the stored receipt"
                );
                "receipt".to_string()
            }
            Msg::Reject { code, .. } => code.name().to_string(),
            other => panic!("{name}: answered {}", other.kind_name()),
        };
        assert_eq!(got, st(&c["expect"]), "{name}: {}", st(&c["note"]));
        t.done(if state.is_some() {
            "offer_with_state"
        } else {
            "offer"
        });
    }
    t.finish(&["offer", "offer_with_state"]);
}

/// One entry of a handoff transcript: a frame, or a side's timer firing.
enum Event {
    Frame { dir: String, frame: Vec<u8> },
    Timer { side: String, at_ms: u64 },
}

fn handoff_events(c: &Value) -> Vec<Event> {
    c["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| match st(&f["dir"]) {
            "timer" => Event::Timer {
                side: st(&f["side"]).to_string(),
                at_ms: u(&f["at_ms"]),
            },
            dir => Event::Frame {
                dir: dir.to_string(),
                frame: hx(&f["frame"]),
            },
        })
        .collect()
}

fn frames_of(events: &[Event], want: &str) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Frame { dir, frame } if dir == want => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

/// Replays the receiver: feeds it the s2r frames and its timers (checking a
/// timer does not fire one millisecond early); returns its frames and state.
fn replay_handoff_receiver(c: &Value, events: &[Event]) -> (Vec<Vec<u8>>, String) {
    let now = u(&c["now_ms"]);
    let seed = h32(&c["receiver_seed"]);
    let mut book = book_from_state(&seed, c.get("receiver_state"));
    let mut rx = Receiver::new(signing_key(&seed), Some(h32(&c["remote_peer"])), now);
    let late = match c.get("store") {
        None => false,
        Some(v) => {
            assert_eq!(st(v), "late", "unknown store behaviour");
            true
        }
    };
    let mut ours: Vec<Vec<u8>> = Vec::new();
    let mut stores = 0;
    let mut drain = |rx: &mut Receiver, book: &mut CarrierBook, ours: &mut Vec<Vec<u8>>| {
        while let Some(out) = rx.poll_output() {
            match out {
                ReceiverOutput::Send(f) => ours.push(f),
                ReceiverOutput::Store { .. } => {
                    stores += 1;
                    if !late {
                        rx.store_finished(now, true);
                    }
                }
                ReceiverOutput::Custody(cu) => book.take_custody(*cu),
                ReceiverOutput::Release { record_hash } => book.release(&record_hash),
                ReceiverOutput::DeleteStored { .. } => panic!("deleted a copy it never stored"),
                ReceiverOutput::Close => {}
            }
        }
    };
    for e in events {
        match e {
            Event::Frame { dir, frame } if dir == "s2r" => rx.feed(now, frame, &mut book),
            Event::Timer { side, at_ms } if side == "receiver" => {
                let before = rx.state();
                rx.handle_timer(at_ms - 1);
                assert_eq!(rx.state(), before, "the receiver timer fired early");
                assert!(rx.poll_output().is_none(), "the receiver timer fired early");
                rx.handle_timer(*at_ms);
            }
            _ => {}
        }
        drain(&mut rx, &mut book, &mut ours);
    }
    if late {
        // The store succeeds after all: the receiver deletes that copy, sends nothing.
        assert_eq!(stores, 1, "one store request");
        rx.store_finished(now, true);
        let outs: Vec<ReceiverOutput> = std::iter::from_fn(|| rx.poll_output()).collect();
        assert!(
            matches!(outs.as_slice(), [ReceiverOutput::DeleteStored { .. }]),
            "a late store must be deleted, got {outs:?}"
        );
    }
    (ours, format!("{:?}", rx.state()).to_uppercase())
}

/// Replays the sender: starts it with the transcript's offer and feeds it the
/// r2s frames and its timers; returns its frames, state, failure and wipe.
fn replay_handoff_sender(
    c: &Value,
    events: &[Event],
) -> (Vec<Vec<u8>>, String, Option<RejectCode>, bool) {
    let now = u(&c["now_ms"]);
    let first = frames_of(events, "s2r").remove(0);
    let Msg::Offer(offer) = decode_migrate(&payload(&first)).unwrap() else {
        panic!("the first s2r frame is not an offer");
    };
    let mut tx = Sender::new_unverified(*offer, hx(&c["sender_shard"]), 1 << 20);
    tx.start(now);
    let mut ours: Vec<Vec<u8>> = Vec::new();
    let mut wiped = false;
    let drain = |tx: &mut Sender, ours: &mut Vec<Vec<u8>>, wiped: &mut bool| {
        while let Some(out) = tx.poll_output() {
            match out {
                SenderOutput::Send(f) => ours.push(f),
                SenderOutput::Wipe { .. } => *wiped = true,
                SenderOutput::Close => {}
            }
        }
    };
    drain(&mut tx, &mut ours, &mut wiped);
    for e in events {
        match e {
            Event::Frame { dir, frame } if dir == "r2s" => tx.feed(now, frame),
            Event::Timer { side, at_ms } if side == "sender" => {
                let before = tx.state();
                tx.handle_timer(at_ms - 1);
                assert_eq!(tx.state(), before, "the sender timer fired early");
                assert!(tx.poll_output().is_none(), "the sender timer fired early");
                tx.handle_timer(*at_ms);
            }
            _ => {}
        }
        drain(&mut tx, &mut ours, &mut wiped);
    }
    let state = format!("{:?}", tx.state()).to_uppercase();
    (ours, state, tx.failure().map(|f| f.0.code), wiped)
}

#[test]
fn handoff_transcripts() {
    let cases = load("handoff.json");
    let mut t = Tally::new("handoff.json", cases.len());
    for c in &cases {
        let name = st(&c["name"]);
        let events = handoff_events(c);
        let replay: Vec<&str> = c["replay"].as_array().unwrap().iter().map(st).collect();
        let outcome = &c["outcome"];
        let seed = h32(&c["receiver_seed"]);
        assert_eq!(public_key(&seed).to_vec(), hx(&c["receiver_peer"]));
        let expected_code = outcome["code"].as_str();
        let mut replayed = Vec::new();

        if replay.contains(&"receiver") {
            let (ours, state) = replay_handoff_receiver(c, &events);
            let theirs = frames_of(&events, "r2s");
            assert_eq!(ours.len(), theirs.len(), "{name}: receiver frame count");
            for (a, b) in ours.iter().zip(&theirs) {
                assert_same_frame(a, b, frame_code, name);
            }
            assert_eq!(
                state,
                st(&outcome["receiver_state"]).replace('_', ""),
                "{name}"
            );
            replayed.push("receiver");
        } else {
            assert!(
                outcome["receiver_state"].is_null(),
                "{name}: scripted receiver"
            );
        }
        if replay.contains(&"sender") {
            let (ours, state, failure, wiped) = replay_handoff_sender(c, &events);
            let theirs = frames_of(&events, "s2r");
            assert_eq!(ours.len(), theirs.len(), "{name}: sender frame count");
            for (a, b) in ours.iter().zip(&theirs) {
                assert_same_frame(a, b, frame_code, name);
            }
            assert_eq!(state, st(&outcome["sender_state"]), "{name}");
            assert_eq!(wiped, state == "DONE", "{name}: wipe only with a receipt");
            assert_eq!(failure.map(|c| c.name()), expected_code, "{name}");
            replayed.push("sender");
        } else if !outcome["sender_state"].is_null() {
            // A re-chunked transcript: the reference sender ran but sent other chunks.
            assert_eq!(replay, ["receiver"], "{name}");
        }
        t.done(&replayed.join("_and_"));
    }
    t.finish(&["receiver", "sender", "receiver_and_sender"]);
}

// ---------------------------------------------------------------- locator

#[test]
fn locator_vectors() {
    let cases = load("locator.json");
    let mut t = Tally::new("locator.json", cases.len());
    for c in &cases {
        let kind = st(&c["kind"]);
        let name = st(&c["name"]);
        let key = st(&c["key"]).as_bytes();
        let now = u(&c["now_ms"]);
        match kind {
            "validate" => {
                let got = locator::validate(key, &hx(&c["value"]), now);
                match st(&c["expect"]) {
                    "valid" => {
                        let l = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                        assert_eq!(l.fields, locator_body(&c["fields"]), "{name}");
                        if let Some(seed) = c.get("owner_seed") {
                            let h = locator::open_holder(&h32(seed), &l).unwrap();
                            assert_eq!(h.encode_to_vec(), hx(&c["holder_info_body"]));
                        }
                    }
                    "invalid" => {
                        let e = got.expect_err(name);
                        assert_eq!(e.code, code(&c["reference_code"]), "{name}: {e}");
                    }
                    other => panic!("{name}: unknown verdict {other}"),
                }
            }
            "select" => {
                let values: Vec<Vec<u8>> = c["values"].as_array().unwrap().iter().map(hx).collect();
                let got = locator::select(key, &values, now);
                assert_eq!(got, Some(u(&c["expect_index"]) as usize), "{name}");
            }
            other => panic!("locator.json: unknown kind {other}"),
        }
        t.done(kind);
    }
    t.finish(&["validate", "select"]);
}

// ---------------------------------------------------------------- fetch

/// A carrier of the fetch vectors: what it carries, if anything.
struct FixtureCarrier {
    key: [u8; 32],
    carried: Option<(Manifest, Record, Vec<u8>)>,
}

impl Holdings for FixtureCarrier {
    fn carried(&self, wanderer_id: &[u8; 32], shard_index: u32) -> Option<(Manifest, Record)> {
        self.carried.as_ref().and_then(|(m, r, _)| {
            (r.fields.wanderer_id == wanderer_id && r.fields.shard_index == shard_index)
                .then(|| (m.clone(), r.clone()))
        })
    }
}

fn fixture(c: &Value) -> FixtureCarrier {
    let seed = h32(&c["seed"]);
    let key = public_key(&seed);
    assert_eq!(key.to_vec(), hx(&c["peer"]));
    let carried = (!c["manifest"].is_null()).then(|| {
        let m = parse_manifest(&Signed::decode(hx(&c["manifest"]).as_slice()).unwrap()).unwrap();
        let r = parse_record(&Signed::decode(hx(&c["record"]).as_slice()).unwrap()).unwrap();
        assert_eq!(
            r.fields.to_peer, key,
            "the record made this node the carrier"
        );
        let shard = hx(&c["shard"]);
        assert_eq!(
            signing::sha256(&shard).to_vec(),
            m.fields.shard_hashes[r.fields.shard_index as usize]
        );
        (m, r, shard)
    });
    FixtureCarrier { key, carried }
}

/// Runs a carrier machine over client frames; returns the frames it sent.
fn run_carrier(
    carrier: &FixtureCarrier,
    nonces: &mut NonceCache,
    now: u64,
    client_frames: &[&Vec<u8>],
) -> (FetchCarrier, Vec<Vec<u8>>) {
    let mut m = FetchCarrier::new(carrier.key, 1 << 20, now);
    let mut sent = Vec::new();
    for f in client_frames {
        m.feed(now, f, nonces, carrier);
        while let Some(out) = m.poll_output() {
            match out {
                CarrierOutput::Send(f) => sent.push(f),
                CarrierOutput::Load { .. } => {
                    let shard = carrier.carried.as_ref().map(|(_, _, s)| s.as_slice());
                    m.loaded(shard);
                }
                CarrierOutput::Close => {}
            }
        }
    }
    (m, sent)
}

#[test]
fn fetch_vectors() {
    let cases = load("fetch.json");
    let mut t = Tally::new("fetch.json", cases.len());
    let mut carriers: BTreeMap<String, FixtureCarrier> = BTreeMap::new();
    for c in cases.iter().filter(|c| c["kind"] == "carrier") {
        carriers.insert(st(&c["name"]).to_string(), fixture(c));
        t.done("carrier");
    }
    for c in cases.iter().filter(|c| c["kind"] != "carrier") {
        let kind = st(&c["kind"]);
        let name = st(&c["name"]);
        match kind {
            "request" => {
                check_request_json(c);
                let f = request_body(&c["fields"]);
                let owner = signing_key(&h32(&c["owner_seed"]));
                let req = fetch::sign_request(
                    &owner,
                    f.shard_index,
                    &key32(&f.carrier),
                    f.time_ms,
                    &f.nonce.clone().try_into().unwrap(),
                );
                assert_eq!(req.body, hx(&c["body"]));
                assert_eq!(req.signature, hx(&c["signature"]));
                assert_eq!(req.to_signed().encode_to_vec(), hx(&c["signed"]));
                assert_eq!(fetch::request_frame(&req), hx(&c["frame"]));
                assert_eq!(st(&c["domain"]), signing::DOMAIN_FETCH);
            }
            "check" => {
                let carrier = &carriers[st(&c["carrier"])];
                let now = u(&c["now_ms"]);
                let mut nonces = NonceCache::default();
                for s in c["seen_nonces"].as_array().unwrap() {
                    nonces.insert(&hx(&s["nonce"]), u(&s["time_ms"]), now);
                }
                let frame = hx(&c["request_frame"]);
                let (_, sent) = run_carrier(carrier, &mut nonces, now, &[&frame]);
                let first = sent.first().unwrap_or_else(|| panic!("{name}: no answer"));
                let got = match decode_fetch(&payload(first)).unwrap() {
                    FetchMsg::Header { .. } => "serve".to_string(),
                    FetchMsg::Reject { code, .. } => code.name().to_string(),
                    other => panic!("{name}: answered {}", other.kind_name()),
                };
                assert_eq!(got, st(&c["expect"]), "{name}");
            }
            "transcript" => check_fetch_transcript(c, &carriers),
            "message" => {
                let frame = hx(&c["frame"]);
                let msg = decode_fetch(&payload(&frame)).unwrap_or_else(|e| panic!("{name}: {e}"));
                let f = &c["fields"];
                use fetch_message::Kind as K;
                let built = match (st(&c["message"]), &msg) {
                    ("request", FetchMsg::Request(_)) => {
                        check_request_json(&f["request"]);
                        K::Request(json_signed(&f["request"]))
                    }
                    ("header", FetchMsg::Header { .. }) => {
                        check_manifest_json(&f["manifest"]);
                        check_record_json(&f["record"]);
                        K::Header(proto::FetchHeader {
                            manifest: Some(json_signed(&f["manifest"])),
                            record: Some(json_signed(&f["record"])),
                        })
                    }
                    ("data", FetchMsg::Data { offset, chunk }) => {
                        assert_eq!((*offset, chunk.clone()), (u(&f["offset"]), hx(&f["chunk"])));
                        K::Data(proto::Data {
                            offset: u(&f["offset"]),
                            chunk: hx(&f["chunk"]),
                        })
                    }
                    ("done", FetchMsg::Done { record_hash }) => {
                        assert_eq!(record_hash.to_vec(), hx(&f["record_hash"]));
                        K::Done(proto::Done {
                            record_hash: hx(&f["record_hash"]),
                        })
                    }
                    ("reject", FetchMsg::Reject { code: got, detail }) => {
                        assert_eq!(
                            (*got, detail.as_str()),
                            (code(&f["code"]), st(&f["detail"]))
                        );
                        K::Reject(reject_proto(f))
                    }
                    (m, got) => panic!("{name}: vector says {m}, decoded {}", got.kind_name()),
                };
                let encoded = proto::FetchMessage { kind: Some(built) }.encode_to_vec();
                assert_eq!(
                    hex::encode(encode_frame(&encoded)),
                    hex::encode(&frame),
                    "{name}"
                );
            }
            "invalid_message" => {
                let frame = hx(&c["frame"]);
                let got = decode_fetch(&payload(&frame)).expect_err(name).code;
                assert_eq!(got, code(&c["expect"]), "{name}");
            }
            "equivalent_message" => {
                let frame = hx(&c["frame"]);
                let equivalent = hx(&c["equivalent_frame"]);
                assert_ne!(frame, equivalent, "{name}");
                let msg = decode_fetch(&payload(&frame)).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(msg.kind_name(), st(&c["message"]), "{name}");
                assert_eq!(msg, decode_fetch(&payload(&equivalent)).unwrap(), "{name}");
            }
            other => panic!("fetch.json: unknown kind {other}"),
        }
        t.done(kind);
    }
    t.finish(&[
        "carrier",
        "request",
        "check",
        "transcript",
        "message",
        "invalid_message",
        "equivalent_message",
    ]);
}

fn check_fetch_transcript(c: &Value, carriers: &BTreeMap<String, FixtureCarrier>) {
    let name = st(&c["name"]);
    let now = u(&c["now_ms"]);
    let carrier = &carriers[st(&c["carrier"])];
    let frames: Vec<(String, Vec<u8>)> = c["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (st(&f["dir"]).to_string(), hx(&f["frame"])))
        .collect();
    let c2s: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|(d, _)| d == "c2s")
        .map(|(_, f)| f)
        .collect();
    let s2c: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|(d, _)| d == "s2c")
        .map(|(_, f)| f)
        .collect();
    let replay: Vec<&str> = c["replay"].as_array().unwrap().iter().map(st).collect();
    let outcome = &c["outcome"];

    // The client is made from the request in the first frame.
    assert!(replay.contains(&"client"), "{name}: client replay");
    let FetchMsg::Request(req) = decode_fetch(&payload(&frames[0].1)).unwrap() else {
        panic!("{name}: first frame is not a request");
    };
    let expected = c["expected_manifest_hash"]
        .as_str()
        .map(|_| h32(&c["expected_manifest_hash"]));
    let mut client = FetchClient::new(*req, expected);
    client.start(now);
    let mut sent = Vec::new();
    let mut fetched = None;
    let mut drain = |client: &mut FetchClient, sent: &mut Vec<Vec<u8>>| {
        while let Some(out) = client.poll_output() {
            match out {
                ClientOutput::Send(f) => sent.push(f),
                ClientOutput::Fetched(f) => fetched = Some(f),
                ClientOutput::Close { .. } => {}
            }
        }
    };
    drain(&mut client, &mut sent);
    for f in &s2c {
        client.feed(now, f);
        drain(&mut client, &mut sent);
    }
    assert_eq!(sent.len(), c2s.len(), "{name}: client frame count");
    for (a, b) in sent.iter().zip(&c2s) {
        assert_same_frame(a, b, fetch_frame_code, name);
    }
    assert_eq!(
        format!("{:?}", client.state()).to_uppercase(),
        st(&outcome["client_state"]),
        "{name}"
    );
    match outcome["code"].as_str() {
        None => {
            let got = fetched.expect("the client has the shard");
            assert_eq!(&got.shard, &carrier.carried.as_ref().unwrap().2);
        }
        Some(code_name) => {
            assert!(fetched.is_none(), "{name}: no shard on failure");
            assert_eq!(client.failure().unwrap().0.code.name(), code_name, "{name}");
        }
    }

    if replay.contains(&"carrier") {
        let mut nonces = NonceCache::default();
        let (m, sent) = run_carrier(carrier, &mut nonces, now, &c2s);
        assert_eq!(sent.len(), s2c.len(), "{name}: carrier frame count");
        for (a, b) in sent.iter().zip(&s2c) {
            assert_same_frame(a, b, fetch_frame_code, name);
        }
        let state = format!("{:?}", m.state()).to_uppercase();
        assert_eq!(state, st(&outcome["carrier_state"]), "{name}");
    }
}
