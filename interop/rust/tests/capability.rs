//! The repair capabilities of `protocols/vectors/v1/capability.json` (spec
//! §16.1): every case, every field.

mod common;

use serde_json::Value;

use common::*;
use wdp_interop::audit::grant_is_valid;
use wdp_interop::capability::Capability;
use wdp_interop::crypto;
use wdp_interop::segments::parse_index;
use wdp_interop::ticket::Ticket;

fn keys_of(c: &Value) -> Vec<String> {
    let mut keys: Vec<String> = c.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn check_derived(name: &str, c: &Value) {
    let ticket = Ticket::from_text(st(&c["ticket"])).unwrap();
    let cap = Capability::of_ticket(&ticket).expect("a version 2 or 3 ticket");
    assert_eq!(cap.to_text(), st(&c["text"]), "{name}: derived text");
    let decoded = Capability::from_text(st(&c["text"])).unwrap();
    assert_eq!(decoded, cap, "{name}: decodes to what the ticket gives");
    assert_eq!(u64::from(cap.version), u(&c["version"]), "{name}");
    assert_eq!(cap.repair_seed, h32(&c["repair_seed"]), "{name}");
    assert_eq!(
        cap.repair_seed,
        crypto::repair_seed(&ticket.owner_seed),
        "{name}"
    );
    assert_eq!(cap.repair_key(), h32(&c["repair_key"]), "{name}");
    assert_eq!(cap.manifest_hash, h32(&c["manifest_hash"]), "{name}");
    assert_eq!(
        (u64::from(cap.k), u64::from(cap.n)),
        (u(&c["k"]), u(&c["n"])),
        "{name}"
    );
    let common = [
        "kind",
        "name",
        "ticket",
        "text",
        "version",
        "repair_seed",
        "repair_key",
        "manifest_hash",
        "k",
        "n",
    ];
    if cap.version == 2 {
        let owner_key = cap.owner_key.unwrap();
        let wid = cap.wanderer_id().unwrap();
        let grant = cap.grant.unwrap();
        assert_eq!(owner_key, h32(&c["owner_key"]), "{name}");
        assert_eq!(wid, h32(&c["wanderer_id"]), "{name}");
        assert_eq!(grant.to_vec(), hx(&c["grant"]), "{name}");
        assert!(
            grant_is_valid(&owner_key, &wid, &cap.repair_key(), &grant),
            "{name}: grant"
        );
        assert_eq!(
            crypto::locator_seed_v2(&cap.repair_seed, 2, 1),
            h32(&c["locator_seed_shard2_gen1"]),
            "{name}: the keeper's locator seed"
        );
        assert_eq!(
            cap.repair_seed,
            h32(&c["sealing_seed"]),
            "{name}: sealing seed"
        );
        let extra = [
            "owner_key",
            "wanderer_id",
            "grant",
            "locator_seed_shard2_gen1",
            "sealing_seed",
        ];
        assert_eq!(
            keys_of(c),
            sorted(&[&common[..], &extra[..]].concat()),
            "{name}"
        );
    } else {
        let index = cap.index_ticket().unwrap();
        assert_eq!(
            index.to_text(),
            st(&c["index_ticket"]),
            "{name}: index ticket"
        );
        assert_eq!(
            keys_of(c),
            sorted(&[&common[..], &["index_ticket"][..]].concat()),
            "{name}"
        );
    }
}

fn check_segments(name: &str, c: &Value) {
    assert_eq!(
        keys_of(c),
        sorted(&["kind", "name", "text", "index", "segments"]),
        "{name}"
    );
    let cap = Capability::from_text(st(&c["text"])).unwrap();
    let index = parse_index(&hx(&c["index"])).unwrap();
    let want: Vec<&str> = c["segments"].as_array().unwrap().iter().map(st).collect();
    let got: Vec<String> = (0..want.len())
        .map(|i| cap.segment(&index, i).unwrap().to_text())
        .collect();
    assert_eq!(got, want, "{name}: each segment's capability");
    for text in want {
        assert!(
            Capability::from_text(text).is_ok(),
            "{name}: a segment's grant verifies"
        );
    }
}

fn check_bad(name: &str, c: &Value) {
    assert_eq!(
        keys_of(c),
        sorted(&["kind", "name", "text", "reason"]),
        "{name}"
    );
    let refusal = Capability::from_text(st(&c["text"])).expect_err(name);
    assert_eq!(
        refusal.name(),
        st(&c["reason"]),
        "{name}: the first rule broken"
    );
}

#[test]
fn capability_vectors() {
    let mut kinds = std::collections::BTreeSet::new();
    for c in load("capability.json") {
        let name = st(&c["name"]).to_string();
        let kind = st(&c["kind"]).to_string();
        match kind.as_str() {
            "derived" => check_derived(&name, &c),
            "segments" => check_segments(&name, &c),
            "bad" => check_bad(&name, &c),
            other => panic!("{name}: unknown kind {other}"),
        }
        kinds.insert(kind);
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["bad", "derived", "segments"]
    );
}
