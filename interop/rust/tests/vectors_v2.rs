//! The vectors of manifest version 2 and of the audit protocol
//! (`protocols/vectors/v1/manifest-v2.json`, `audit.json`; spec §4.1, §6.7,
//! §16, §18, coding-and-crypto.md §2, §4, §8). Every case is checked; the
//! other files are in `vectors.rs`.

mod common;

use std::collections::BTreeMap;

use prost::Message;
use serde_json::Value;

use common::*;
use wdp_interop::audit::{
    self, decode_audit, AuditCarrier, AuditCarrierOutput, AuditChallenger, AuditMsg, AuditVerdict,
    ChallengeSpec, ChallengerOutput, HandedOn,
};
use wdp_interop::carrier::CarrierBook;
use wdp_interop::custody::{key32, Link};
use wdp_interop::fetch::{Holdings, NonceCache};
use wdp_interop::framing::encode_frame;
use wdp_interop::merkle;
use wdp_interop::messages::{decode_migrate, Msg};
use wdp_interop::objects::{
    is_auditable, parse_audit_challenge, parse_manifest, parse_receipt, parse_record, sealing_key,
    shard_root, sign_body, Manifest, Record,
};
use wdp_interop::proto::{
    self, audit_message, AuditChallengeBody, Cipher, ManifestBody, RejectCode, Signed,
};
use wdp_interop::signing::{self, public_key, signing_key};
use wdp_interop::ticket::Ticket;
use wdp_interop::{crypto, erasure, locator, Receiver, ReceiverOutput};

fn signed(v: &Value) -> Signed {
    Signed::decode(hx(v).as_slice()).expect("an encoded Signed")
}

fn migrate_code(frame: &[u8]) -> Option<RejectCode> {
    match decode_migrate(&payload(frame)).expect("a migrate frame decodes") {
        Msg::Reject { code, .. } => Some(code),
        _ => None,
    }
}

fn audit_code(frame: &[u8]) -> Option<RejectCode> {
    match decode_audit(&payload(frame)).expect("an audit frame decodes") {
        AuditMsg::Reject { code, .. } => Some(code),
        _ => None,
    }
}

// ---------------------------------------------------------------- manifest-v2.json

fn check_v2_keys(c: &Value) {
    let seed = h32(&c["owner_seed"]);
    let repair = crypto::repair_seed(&seed);
    assert_eq!(repair.to_vec(), hx(&c["repair_seed"]));
    let repair_key = public_key(&repair);
    assert_eq!(repair_key.to_vec(), hx(&c["repair_key"]));
    assert_eq!(
        crypto::x25519_secret(&repair).to_vec(),
        hx(&c["repair_x25519_private_key"])
    );
    assert_eq!(
        crypto::x25519_public(&repair_key).unwrap().to_vec(),
        hx(&c["repair_x25519_public_key"])
    );
    assert_eq!(crypto::sealing_seed(2, &seed).unwrap(), repair);
    assert_eq!(crypto::sealing_seed(1, &seed).unwrap(), seed);
    let grant = audit::sign_grant(&signing_key(&seed), &repair_key);
    assert_eq!(grant.to_vec(), hx(&c["repair_grant"]));
    let owner = public_key(&seed);
    let wid = crypto::wanderer_id(&owner);
    assert!(audit::grant_is_valid(&owner, &wid, &repair_key, &grant));
    for l in c["locators"].as_array().unwrap() {
        let (i, g) = (u(&l["shard_index"]) as u32, u(&l["generation"]) as u32);
        let v2 = crypto::locator_seed_v2(&repair, i, g);
        assert_eq!(
            v2.to_vec(),
            hx(&l["locator_seed"]),
            "v2 locator seed ({i}, {g})"
        );
        assert_eq!(crypto::locator_seed_for(2, &seed, i, g).unwrap(), v2);
        assert_eq!(public_key(&v2).to_vec(), hx(&l["locator_key"]));
        let v1 = crypto::locator_seed(&seed, i, g);
        assert_eq!(v1.to_vec(), hx(&l["v1_locator_seed"]));
        assert_eq!(crypto::locator_seed_for(1, &seed, i, g).unwrap(), v1);
    }
    // A locator sealed to the repair key opens with the repair seed only.
    let info = locator::holder_info(&[7; 32], &[], &[9; 32]);
    let value = locator::build_value(
        &crypto::locator_seed_v2(&repair, 0, 0),
        &repair_key,
        0,
        1,
        1_700_000_100_000,
        &info,
        &[0x20; 32],
    )
    .unwrap();
    let lkey = public_key(&crypto::locator_seed_v2(&repair, 0, 0));
    let rec = locator::validate(&locator::dht_key(&lkey), &value, 1_700_000_000_000).unwrap();
    assert_eq!(locator::open_holder(&repair, &rec).unwrap(), info);
    assert!(locator::open_holder(&seed, &rec).is_err());
}

fn check_merkle(name: &str, c: &Value) {
    let shard = hx(&c["shard"]);
    let size = shard.len() as u64;
    let leaves = u(&c["leaves"]);
    assert_eq!(merkle::leaf_count(size), leaves, "{name}");
    let root = merkle::root(&shard);
    assert_eq!(root.to_vec(), hx(&c["root"]), "{name}: root");
    let paths = c["paths"].as_array().unwrap();
    assert_eq!(paths.len() as u64, leaves, "{name}: a path per leaf");
    for (i, p) in paths.iter().enumerate() {
        let i = i as u64;
        let want: Vec<[u8; 32]> = p.as_array().unwrap().iter().map(h32).collect();
        let path = merkle::audit_path(&shard, i).unwrap();
        assert_eq!(path, want, "{name}: path of leaf {i}");
        let leaf = merkle::leaf(&shard, i).unwrap();
        assert!(
            merkle::verify(&root, size, i, leaf, &path),
            "{name}: leaf {i}"
        );
        // A flipped leaf bit, a flipped path hash, a short path, another index fail.
        let mut bad = leaf.to_vec();
        bad[0] ^= 1;
        assert!(!merkle::verify(&root, size, i, &bad, &path));
        if let Some(first) = path.first() {
            let mut bad_path = path.clone();
            bad_path[0][0] ^= 1;
            assert!(!merkle::verify(&root, size, i, leaf, &bad_path));
            assert!(!merkle::verify(&root, size, i, leaf, &path[1..]));
            let mut long = path.clone();
            long.push(*first);
            assert!(!merkle::verify(&root, size, i, leaf, &long));
        }
        if leaves > 1 {
            let other = (i + 1) % leaves;
            assert!(!merkle::verify(&root, size, other, leaf, &path));
        }
    }
    assert!(merkle::audit_path(&shard, leaves).is_none());
}

fn check_v2_pipeline(name: &str, c: &Value) {
    let seed = h32(&c["owner_seed"]);
    let owner = public_key(&seed);
    let wid = crypto::wanderer_id(&owner);
    let payload = hx(&c["payload"]);
    let nonce: [u8; 12] = hx(&c["nonce"]).try_into().unwrap();
    let (k, n) = (u(&c["k"]) as usize, u(&c["n"]) as usize);
    let ct = crypto::aead_encrypt(&crypto::data_key(&seed), &nonce, &wid, &payload);
    let shards = erasure::encode(&ct, k, n).unwrap();
    let want: Vec<Vec<u8>> = c["shards"].as_array().unwrap().iter().map(hx).collect();
    assert_eq!(shards, want, "{name}: shards");
    let hashes: Vec<Vec<u8>> = shards.iter().map(|s| signing::sha256(s).to_vec()).collect();
    let roots: Vec<Vec<u8>> = shards.iter().map(|s| merkle::root(s).to_vec()).collect();
    let listed =
        |key: &str| -> Vec<Vec<u8>> { c[key].as_array().unwrap().iter().map(hx).collect() };
    assert_eq!(hashes, listed("shard_hashes"), "{name}: hashes");
    assert_eq!(roots, listed("shard_roots"), "{name}: roots");
    let repair_key = public_key(&crypto::repair_seed(&seed));
    assert_eq!(repair_key.to_vec(), hx(&c["repair_key"]));
    let body = ManifestBody {
        version: 2,
        wanderer_id: wid.to_vec(),
        owner_key: owner.to_vec(),
        cipher: Cipher::Chacha20Poly1305 as i32,
        nonce: nonce.to_vec(),
        payload_size: payload.len() as u64,
        k: k as u32,
        n: n as u32,
        shard_size: u(&c["shard_size"]),
        shard_hashes: hashes,
        epoch_seconds: u(&c["epoch_seconds"]) as u32,
        created_at_ms: u(&c["created_at_ms"]),
        repair_key: repair_key.to_vec(),
        shard_roots: roots,
    };
    let m = sign_body(&body, signing::DOMAIN_MANIFEST, &signing_key(&seed));
    let j = &c["manifest"];
    assert_eq!(
        hex::encode(&m.body),
        st(&j["body"]),
        "{name}: manifest body"
    );
    assert_eq!(m.signature.to_vec(), hx(&j["signature"]));
    assert_eq!(m.hash.to_vec(), hx(&j["hash"]));
    let parsed = parse_manifest(&m.to_signed()).unwrap();
    assert!(is_auditable(&parsed) && parsed.verify(signing::DOMAIN_MANIFEST, &owner));
    assert_eq!(sealing_key(&parsed), repair_key);
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(shard_root(&parsed, i as u32), Some(merkle::root(s)));
    }
    let ticket = Ticket {
        version: 2,
        owner_seed: seed,
        manifest_hash: m.hash,
        k: k as u32,
        n: n as u32,
    };
    assert_eq!(ticket.to_text(), st(&c["ticket"]), "{name}: ticket");
    assert_eq!(Ticket::from_text(st(&c["ticket"])).unwrap(), ticket);
    // The payload comes back from any k shards.
    let picked: Vec<(usize, &[u8])> = shards
        .iter()
        .enumerate()
        .skip(n - k)
        .map(|(i, s)| (i, s.as_slice()))
        .collect();
    let coded = erasure::decode(&picked, k, n, ct.len()).unwrap();
    let plain = crypto::aead_decrypt(&crypto::data_key(&seed), &nonce, &wid, &coded).unwrap();
    assert_eq!(plain, payload);
}

fn check_manifest_case(name: &str, c: &Value) {
    let s = Signed {
        body: hx(&c["body"]),
        signature: hx(&c["signature"]),
    };
    match (parse_manifest(&s), st(&c["expect"])) {
        (Ok(m), "ok") => {
            assert!(
                m.verify(signing::DOMAIN_MANIFEST, &m.fields.owner_key),
                "{name}: signature"
            );
            assert_eq!(Some(is_auditable(&m)), c["auditable"].as_bool(), "{name}");
            if !is_auditable(&m) {
                // Fields 13 and 14 of a version 1 body are ignored ...
                assert_eq!(sealing_key(&m).to_vec(), m.fields.owner_key, "{name}");
                assert_eq!(shard_root(&m, 0), None, "{name}");
                // ... and kept in the body bytes the signature covers.
                assert_eq!(m.body, s.body, "{name}");
            }
        }
        (Err(e), want) => {
            assert!(c["auditable"].is_null(), "{name}");
            assert_eq!(e.code.name(), want, "{name}: {e}");
        }
        (Ok(_), want) => panic!("{name}: decoded, expected {want}"),
    }
}

fn check_ticket(name: &str, c: &Value) {
    let seed = h32(&c["owner_seed"]);
    let version = u(&c["version"]) as u32;
    let t = Ticket::from_text(st(&c["text"])).unwrap_or_else(|e| panic!("{name}: {e}"));
    let want = Ticket {
        version,
        owner_seed: seed,
        manifest_hash: h32(&c["manifest_hash"]),
        k: u(&c["k"]) as u32,
        n: u(&c["n"]) as u32,
    };
    assert_eq!(t, want, "{name}");
    assert_eq!(want.to_text(), st(&c["text"]), "{name}");
    assert_eq!(
        crypto::sealing_seed(version, &seed).unwrap().to_vec(),
        hx(&c["sealing_seed"]),
        "{name}"
    );
    assert_eq!(
        crypto::locator_seed_for(version, &seed, 2, 0)
            .unwrap()
            .to_vec(),
        hx(&c["locator_seed_shard2_gen0"]),
        "{name}"
    );
}

/// A whole hop 0 of a version 2 shard: the receiver's frames and verdict.
fn check_receive(name: &str, c: &Value) {
    let now = u(&c["now_ms"]);
    let seed = h32(&c["local_seed"]);
    let mut book = CarrierBook::default();
    let mut rx = Receiver::new(signing_key(&seed), Some(h32(&c["remote_peer"])), now);
    let frames: Vec<(String, Vec<u8>)> = c["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (st(&f["dir"]).to_string(), hx(&f["frame"])))
        .collect();
    let mut ours = Vec::new();
    let mut custody = false;
    for (dir, frame) in &frames {
        if dir == "s2r" {
            rx.feed(now, frame, &mut book);
        }
        while let Some(out) = rx.poll_output() {
            match out {
                ReceiverOutput::Send(f) => ours.push(f),
                ReceiverOutput::Store { .. } => rx.store_finished(now, true),
                ReceiverOutput::Custody(cu) => {
                    custody = true;
                    book.take_custody(*cu);
                }
                ReceiverOutput::Release { record_hash } => book.release(&record_hash),
                ReceiverOutput::DeleteStored { .. } | ReceiverOutput::Close => {}
            }
        }
    }
    let theirs: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|(d, _)| d == "r2s")
        .map(|(_, f)| f)
        .collect();
    assert_eq!(ours.len(), theirs.len(), "{name}: receiver frame count");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_same_frame(a, b, migrate_code, name);
    }
    let got = match decode_migrate(&payload(ours.last().unwrap())).unwrap() {
        Msg::Receipt(_) => "receipt".to_string(),
        Msg::Reject { code, .. } => code.name().to_string(),
        other => panic!("{name}: ended with {}", other.kind_name()),
    };
    assert_eq!(got, st(&c["expect"]), "{name}");
    assert_eq!(
        custody,
        got == "receipt",
        "{name}: custody only with a receipt"
    );
}

#[test]
fn manifest_v2_vectors() {
    let cases = load("manifest-v2.json");
    let mut t = Tally::new("manifest-v2.json", cases.len());
    for c in &cases {
        let kind = st(&c["kind"]);
        let name = st(&c["name"]);
        match kind {
            "keys" => check_v2_keys(c),
            "merkle" => check_merkle(name, c),
            "pipeline" => check_v2_pipeline(name, c),
            "manifest" => check_manifest_case(name, c),
            "ticket" => check_ticket(name, c),
            "receive" => check_receive(name, c),
            other => panic!("manifest-v2.json: unknown kind {other}"),
        }
        t.done(kind);
    }
    t.finish(&[
        "keys", "merkle", "pipeline", "manifest", "ticket", "receive",
    ]);
}

// ---------------------------------------------------------------- audit.json

/// A carrier of the audit vectors: what it carries, what it handed on.
struct AuditFixture {
    key: [u8; 32],
    carried: Option<(Manifest, Record, Vec<u8>)>,
    handed_on: HandedOn,
}

impl Holdings for AuditFixture {
    fn carried(&self, wanderer_id: &[u8; 32], shard_index: u32) -> Option<(Manifest, Record)> {
        self.carried.as_ref().and_then(|(m, r, _)| {
            (r.fields.wanderer_id == wanderer_id && r.fields.shard_index == shard_index)
                .then(|| (m.clone(), r.clone()))
        })
    }
}

fn audit_fixture(c: &Value, now: u64) -> AuditFixture {
    let key = public_key(&h32(&c["seed"]));
    assert_eq!(key.to_vec(), hx(&c["peer"]));
    let carried = (!c["carries"].is_null()).then(|| {
        let held = &c["carries"];
        let m = parse_manifest(&signed(&held["manifest"])).unwrap();
        let r = parse_record(&signed(&held["record"])).unwrap();
        let p = parse_receipt(&signed(&held["receipt"]), RejectCode::BadReceipt).unwrap();
        let shard = hx(&held["shard"]);
        assert_eq!(
            r.fields.to_peer, key,
            "the record made this node the carrier"
        );
        assert_eq!(p.fields.record_hash, r.hash.to_vec());
        assert!(p.verify(signing::DOMAIN_RECEIPT, &key));
        assert_eq!(shard.len() as u64, m.fields.shard_size);
        assert_eq!(
            signing::sha256(&shard).to_vec(),
            m.fields.shard_hashes[r.fields.shard_index as usize]
        );
        (m, r, shard)
    });
    let mut handed_on = HandedOn::default();
    if !c["handed_on"].is_null() {
        let h = &c["handed_on"];
        let record = parse_record(&signed(&h["record"])).unwrap();
        let receipt = parse_receipt(&signed(&h["receipt"]), RejectCode::Malformed).unwrap();
        assert_eq!(record.fields.from_peer, key, "this node signed the hop");
        let from = h32(&h["received_from"]);
        handed_on.remember(Link { record, receipt }, from, 86_400_000, now);
    }
    AuditFixture {
        key,
        carried,
        handed_on,
    }
}

/// Runs a carrier machine on one challenge frame; returns what it sent.
fn run_audit_carrier(
    fx: &AuditFixture,
    nonces: &mut NonceCache,
    now: u64,
    frame: &[u8],
) -> Vec<Vec<u8>> {
    let mut m = AuditCarrier::new(fx.key, now);
    m.feed(now, frame, nonces, fx, &fx.handed_on);
    let mut sent = Vec::new();
    while let Some(out) = m.poll_output() {
        match out {
            AuditCarrierOutput::Send(f) => sent.push(f),
            AuditCarrierOutput::Load { record, .. } => {
                let (_, held, shard) = fx.carried.as_ref().expect("loads what it carries");
                assert_eq!(held.hash, record.hash);
                m.loaded(Some(shard));
            }
            AuditCarrierOutput::Close => {}
        }
    }
    assert!(m.is_terminal(), "one challenge ends the stream");
    sent
}

fn check_audit_check(name: &str, c: &Value, carriers: &BTreeMap<String, Value>) {
    let now = u(&c["now_ms"]);
    let fx = audit_fixture(&carriers[st(&c["carrier"])], now);
    let mut nonces = NonceCache::default();
    for s in c["seen_nonces"].as_array().unwrap() {
        nonces.insert(&hx(&s["nonce"]), u(&s["time_ms"]), now);
    }
    let frame = hx(&c["challenge_frame"]);
    let before = nonces.len();
    let sent = run_audit_carrier(&fx, &mut nonces, now, &frame);
    let theirs: Vec<Vec<u8>> = c["answer_frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(hx)
        .collect();
    assert_eq!(sent.len(), theirs.len(), "{name}: answer count");
    for (a, b) in sent.iter().zip(&theirs) {
        assert_same_frame(a, b, audit_code, name);
    }
    let got = match decode_audit(&payload(&sent[0])).unwrap() {
        AuditMsg::Proof { .. } => "proof".to_string(),
        AuditMsg::Moved(_) => "moved".to_string(),
        AuditMsg::Reject { code, .. } => code.name().to_string(),
        other => panic!("{name}: answered {}", other.kind_name()),
    };
    assert_eq!(got, st(&c["expect"]), "{name}");
    // A challenge that passed A1-A7 is in the nonce cache (whatever A8-A10
    // said): the same frame again is a replay.
    let passed_a7 = nonces.len() > before;
    if ["proof", "moved", "NOT_HELD"].contains(&got.as_str()) {
        assert!(passed_a7, "{name}: the nonce is remembered");
    }
    if passed_a7 {
        let again = run_audit_carrier(&fx, &mut nonces, now, &frame);
        assert_eq!(
            audit_code(&again[0]),
            Some(RejectCode::StaleHop),
            "{name}: replay"
        );
    }
}

fn check_verdict(name: &str, c: &Value) {
    let manifest = parse_manifest(&signed(&c["manifest"])).unwrap();
    let challenge_frame = hx(&c["challenge_frame"]);
    let AuditMsg::Challenge(ch) = decode_audit(&payload(&challenge_frame)).unwrap() else {
        panic!("{name}: not a challenge");
    };
    let now = ch.fields.time_ms;
    let mut m = AuditChallenger::new(*ch, manifest).unwrap();
    m.start(now);
    let Some(ChallengerOutput::Send(first)) = m.poll_output() else {
        panic!("{name}: the challenger sent nothing");
    };
    assert_eq!(first, challenge_frame, "{name}: the challenge frame");
    m.feed(now, &hx(&c["answer_frame"]));
    let outs: Vec<ChallengerOutput> = std::iter::from_fn(|| m.poll_output()).collect();
    let got = match (m.verdict(), m.failure()) {
        (Some(AuditVerdict::Proved { .. }), _) => "proved".to_string(),
        (Some(AuditVerdict::Moved { .. }), _) => "moved".to_string(),
        (None, Some((e, true))) => format!("carrier:{}", e.code.name()),
        (None, Some((e, false))) => {
            // Our own refusal goes to the carrier, and the stream is reset.
            let ChallengerOutput::Send(reject) = &outs[0] else {
                panic!("{name}: no reject sent");
            };
            assert_eq!(audit_code(reject), Some(e.code), "{name}");
            assert_eq!(outs[1], ChallengerOutput::Close { reset: true });
            e.code.name().to_string()
        }
        _ => panic!("{name}: no verdict"),
    };
    assert_eq!(got, st(&c["expect"]), "{name}");
}

fn challenge_body(f: &Value) -> AuditChallengeBody {
    AuditChallengeBody {
        version: u(&f["version"]) as u32,
        wanderer_id: hx(&f["wanderer_id"]),
        owner_key: hx(&f["owner_key"]),
        challenger_key: hx(&f["challenger_key"]),
        grant: hx(&f["grant"]),
        shard_index: u(&f["shard_index"]) as u32,
        carrier: hx(&f["carrier"]),
        leaf_index: u(&f["leaf_index"]) as u32,
        time_ms: u(&f["time_ms"]),
        nonce: hx(&f["nonce"]),
    }
}

fn check_challenge_json(j: &Value) {
    let ch = parse_audit_challenge(&json_signed(j)).expect("challenge parses");
    check_parsed(j, &ch, challenge_body(&j["fields"]));
    assert!(ch.verify(signing::DOMAIN_AUDIT, &ch.fields.challenger_key));
}

fn check_challenge_case(name: &str, c: &Value) {
    check_challenge_json(c);
    let f = challenge_body(&c["fields"]);
    let spec = ChallengeSpec {
        owner_key: key32(&f.owner_key),
        shard_index: f.shard_index,
        carrier: key32(&f.carrier),
        leaf_index: f.leaf_index,
        time_ms: f.time_ms,
        nonce: f.nonce.clone().try_into().unwrap(),
    };
    let signer = signing_key(&h32(&c["signer_seed"]));
    let ch = audit::sign_challenge(&signer, &spec, &f.grant);
    assert_eq!(ch.body, hx(&c["body"]), "{name}: body");
    assert_eq!(ch.signature, hx(&c["signature"]), "{name}: signature");
    assert_eq!(ch.hash.to_vec(), hx(&c["hash"]), "{name}: hash");
    assert_eq!(ch.to_signed().encode_to_vec(), hx(&c["signed"]), "{name}");
    assert_eq!(
        audit::challenge_frame(&ch),
        hx(&c["frame"]),
        "{name}: frame"
    );
    assert_eq!(st(&c["domain"]), signing::DOMAIN_AUDIT);
}

fn check_grant(c: &Value) {
    let seed = h32(&c["owner_seed"]);
    let owner = public_key(&seed);
    let wid = h32(&c["wanderer_id"]);
    assert_eq!(wid, crypto::wanderer_id(&owner));
    let key = h32(&c["repair_key"]);
    assert_eq!(audit::grant_body(&wid, &key).to_vec(), hx(&c["body"]));
    let grant = audit::sign_grant(&signing_key(&seed), &key);
    assert_eq!(grant.to_vec(), hx(&c["grant"]));
    assert_eq!(st(&c["domain"]), signing::DOMAIN_REPAIR_GRANT);
    assert!(audit::grant_is_valid(&owner, &wid, &key, &grant));
    assert!(!audit::grant_is_valid(&owner, &wid, &owner, &grant));
}

fn check_message(name: &str, c: &Value) {
    use audit_message::Kind as K;
    let frame = hx(&c["frame"]);
    let msg = decode_audit(&payload(&frame)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let f = &c["fields"];
    let built = match (st(&c["message"]), &msg) {
        ("challenge", AuditMsg::Challenge(_)) => {
            check_challenge_json(&f["challenge"]);
            K::Challenge(json_signed(&f["challenge"]))
        }
        ("proof", AuditMsg::Proof { record, leaf, path }) => {
            let r = check_record_json(&f["record"]);
            assert_eq!(**record, r);
            assert_eq!(*leaf, hx(&f["leaf"]));
            let want: Vec<[u8; 32]> = f["path"].as_array().unwrap().iter().map(h32).collect();
            assert_eq!(*path, want);
            K::Proof(proto::AuditProof {
                record: Some(json_signed(&f["record"])),
                leaf: hx(&f["leaf"]),
                path: want.iter().map(|h| h.to_vec()).collect(),
            })
        }
        ("moved", AuditMsg::Moved(link)) => {
            let l = &f["link"];
            assert_eq!(link.record, check_record_json(&l["record"]));
            check_receipt_json(&l["receipt"]);
            assert_eq!(link.receipt.body, hx(&l["receipt"]["body"]));
            K::Moved(proto::AuditMoved {
                link: Some(proto::CustodyLink {
                    record: Some(json_signed(&l["record"])),
                    receipt: Some(json_signed(&l["receipt"])),
                }),
            })
        }
        ("reject", AuditMsg::Reject { code: got, detail }) => {
            assert_eq!(
                (*got, detail.as_str()),
                (code(&f["code"]), st(&f["detail"]))
            );
            assert_eq!(
                audit::reject_frame(*got, detail),
                frame,
                "{name}: our reject frame"
            );
            K::Reject(reject_proto(f))
        }
        (m, got) => panic!("{name}: vector says {m}, decoded {}", got.kind_name()),
    };
    let encoded = proto::AuditMessage { kind: Some(built) }.encode_to_vec();
    assert_eq!(
        hex::encode(encode_frame(&encoded)),
        hex::encode(&frame),
        "{name}"
    );
}

#[test]
fn audit_vectors() {
    let cases = load("audit.json");
    let mut t = Tally::new("audit.json", cases.len());
    let mut carriers: BTreeMap<String, Value> = BTreeMap::new();
    for c in cases.iter().filter(|c| c["kind"] == "carrier") {
        audit_fixture(c, 0);
        carriers.insert(st(&c["name"]).to_string(), c.clone());
        t.done("carrier");
    }
    for c in cases.iter().filter(|c| c["kind"] != "carrier") {
        let kind = st(&c["kind"]);
        let name = st(&c["name"]);
        match kind {
            "challenge" => check_challenge_case(name, c),
            "grant" => check_grant(c),
            "check" => check_audit_check(name, c, &carriers),
            "verdict" => check_verdict(name, c),
            "message" => check_message(name, c),
            "invalid_message" => {
                let got = decode_audit(&payload(&hx(&c["frame"])))
                    .expect_err(name)
                    .code;
                assert_eq!(got, code(&c["expect"]), "{name}");
            }
            other => panic!("audit.json: unknown kind {other}"),
        }
        t.done(kind);
    }
    t.finish(&[
        "carrier",
        "challenge",
        "grant",
        "check",
        "verdict",
        "message",
        "invalid_message",
    ]);
}
