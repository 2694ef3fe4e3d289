//! The vectors of files larger than one segment
//! (`protocols/vectors/v1/segments.json`; spec §10, §16, §19,
//! coding-and-crypto.md §2). Every case is checked, every field of every
//! case is read (a field this file does not know fails the test), and each
//! case kind must occur.

mod common;

use serde_json::Value;

use common::*;
use wdp_interop::crypto;
use wdp_interop::error::Result;
use wdp_interop::limits::{FILE_TICKET_VERSION, MAX_INDEX_SIZE};
use wdp_interop::segments::{
    self, build_index, check_index, check_segment_size, index_ticket, parse_index, segment_ticket,
    SegmentIndex,
};
use wdp_interop::signing::public_key;
use wdp_interop::ticket::Ticket;

/// The case (or entry) has exactly these fields: a new field in the vectors
/// is a value this file does not check yet.
fn fields_are(what: &str, c: &Value, expected: &[&str]) {
    let mut got: Vec<&str> = c
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object"))
        .keys()
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{what}: fields (a new one needs a check here)");
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(u)
        .collect()
}

/// Kind `seeds`: every seed and key a file seed derives (§19.1).
fn check_seeds(name: &str, c: &Value) {
    fields_are(
        name,
        c,
        &[
            "kind",
            "name",
            "file_seed",
            "file_repair_seed",
            "index_seed",
            "index_owner_key",
            "segments",
        ],
    );
    let file_seed = h32(&c["file_seed"]);
    let file_repair = crypto::repair_seed(&file_seed);
    assert_eq!(
        file_repair.to_vec(),
        hx(&c["file_repair_seed"]),
        "{name}: file repair seed"
    );
    let g = crypto::file_index_seed(&file_repair);
    assert_eq!(g.to_vec(), hx(&c["index_seed"]), "{name}: index seed");
    assert_eq!(
        segments::index_seed(&file_seed),
        g,
        "{name}: index seed from F"
    );
    assert_eq!(
        public_key(&g).to_vec(),
        hx(&c["index_owner_key"]),
        "{name}: index owner key"
    );
    let list = c["segments"].as_array().expect("segments");
    assert!(!list.is_empty(), "{name}: no segment");
    for s in list {
        let i = u(&s["index"]);
        let what = format!("{name}: segment {i}");
        fields_are(
            &what,
            s,
            &["index", "segment_seed", "owner_key", "repair_seed"],
        );
        let i = u32::try_from(i).unwrap_or_else(|_| panic!("{what}: index is a u32"));
        let seed = crypto::segment_seed(&file_seed, i);
        assert_eq!(seed.to_vec(), hx(&s["segment_seed"]), "{what}: seed");
        assert_eq!(
            public_key(&seed).to_vec(),
            hx(&s["owner_key"]),
            "{what}: owner key"
        );
        assert_eq!(
            crypto::repair_seed(&seed).to_vec(),
            hx(&s["repair_seed"]),
            "{what}: repair seed"
        );
    }
}

/// `"ok"` or the code's wdp.proto name.
fn verdict<T>(r: &Result<T>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code.name(),
    }
}

/// Kind `index`: a reader's verdict on an index payload (§19.2).
fn check_index_case(name: &str, c: &Value) {
    let payload = match (c.get("index"), c.get("zero_bytes")) {
        (Some(h), None) => hx(h),
        (None, Some(z)) => vec![0u8; u(z) as usize],
        _ => panic!("{name}: exactly one of index and zero_bytes"),
    };
    let source = if c.get("index").is_some() {
        "index"
    } else {
        "zero_bytes"
    };
    let want = st(&c["expect"]);
    match (parse_index(&payload), want) {
        (Ok(idx), "ok") => {
            fields_are(
                name,
                c,
                &[
                    "kind",
                    "name",
                    source,
                    "expect",
                    "file_size",
                    "segment_size",
                    "segment_sizes",
                ],
            );
            assert_eq!(idx.file_size, u(&c["file_size"]), "{name}: file_size");
            assert_eq!(
                idx.segment_size,
                u(&c["segment_size"]),
                "{name}: segment_size"
            );
            let sizes = u64s(&c["segment_sizes"]);
            assert_eq!(idx.segment_sizes(), sizes, "{name}: segment sizes");
            assert_eq!(sizes.iter().sum::<u64>(), idx.file_size, "{name}: sum");
            for (i, &size) in sizes.iter().enumerate() {
                check_segment_size(&idx, i as u32, size)
                    .unwrap_or_else(|e| panic!("{name}: segment {i}: {e}"));
            }
            assert_eq!(idx.encode(), payload, "{name}: encoding of the fields");
        }
        (Err(e), want) => {
            fields_are(name, c, &["kind", "name", source, "expect"]);
            assert_ne!(want, "ok", "{name}: refused with {e}");
            assert_eq!(e.code.name(), want, "{name}: {e}");
            if e.code.name() == "TOO_LARGE" {
                assert!(payload.len() > MAX_INDEX_SIZE, "{name}");
            }
        }
        (Ok(idx), want) => panic!("{name}: accepted {idx:?}, expected {want}"),
    }
}

/// An index's entries, field by field, as the wire has them.
fn entry_lists(x: &SegmentIndex) -> [(&'static str, Vec<Vec<u8>>); 4] {
    [
        (
            "manifest hash",
            x.manifest_hashes.iter().map(|e| e.to_vec()).collect(),
        ),
        (
            "repair seed",
            x.repair_seeds.iter().map(|e| e.to_vec()).collect(),
        ),
        (
            "repair grant",
            x.repair_grants.iter().map(|e| e.to_vec()).collect(),
        ),
        (
            "owner key",
            x.owner_keys.iter().map(|e| e.to_vec()).collect(),
        ),
    ]
}

/// Where two decoded indexes of the same file differ: `(field, segment)`.
fn differences(a: &SegmentIndex, b: &SegmentIndex) -> Vec<(&'static str, usize)> {
    assert_eq!(
        (a.file_size, a.segment_size),
        (b.file_size, b.segment_size),
        "same file"
    );
    let mut out = Vec::new();
    for ((field, xs), (_, ys)) in entry_lists(a).into_iter().zip(entry_lists(b)) {
        assert_eq!(xs.len(), ys.len(), "{field}s: same count");
        out.extend(
            xs.iter()
                .zip(&ys)
                .enumerate()
                .filter(|(_, (x, y))| x != y)
                .map(|(i, _)| (field, i)),
        );
    }
    out
}

/// Reads `"segment {i}'s {field} is not the file seed's"`: the one entry a
/// checked index changes.
fn described_change(what: &str) -> (&'static str, usize) {
    let rest = what.strip_prefix("segment ").unwrap_or_else(|| {
        panic!("what {what:?}: not 'segment i's ...' (a new wording needs a check here)")
    });
    let (i, rest) = rest
        .split_once("'s ")
        .unwrap_or_else(|| panic!("what {what:?}: no segment number"));
    let i: usize = i
        .parse()
        .unwrap_or_else(|_| panic!("what {what:?}: segment number"));
    let field = ["repair seed", "repair grant", "owner key", "manifest hash"]
        .into_iter()
        .find(|f| rest.starts_with(&format!("{f} is not the file seed's")))
        .unwrap_or_else(|| panic!("what {what:?}: which field (a new wording needs a check here)"));
    (field, i)
}

/// Kind `file_ticket`: a version 3 ticket, the version 2 tickets it leads to,
/// the reader's verdict of §19.4 step 1 on its index and on indexes that do
/// not belong to its file seed, and the size check of step 2.
fn check_file_ticket(name: &str, c: &Value) {
    fields_are(
        name,
        c,
        &[
            "kind",
            "name",
            "version",
            "file_seed",
            "manifest_hash",
            "k",
            "n",
            "text",
            "index_ticket",
            "index",
            "index_check",
            "segment_tickets",
            "checked_indexes",
            "rebuilt_sizes",
        ],
    );
    let file_seed = h32(&c["file_seed"]);
    let version = u(&c["version"]) as u32;
    assert_eq!(version, FILE_TICKET_VERSION, "{name}: version");
    // The version 3 ticket, both ways.
    let want = segments::file_ticket(
        &file_seed,
        &h32(&c["manifest_hash"]),
        u(&c["k"]) as u32,
        u(&c["n"]) as u32,
    );
    let t = Ticket::from_text(st(&c["text"])).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t, want, "{name}: ticket read");
    assert_eq!(want.to_text(), st(&c["text"]), "{name}: ticket text");
    assert_eq!(t.version, version, "{name}: ticket version");
    // A file seed is no owner seed: the one-wanderer derivations refuse it.
    assert_eq!(
        crypto::sealing_seed(t.version, &t.owner_seed)
            .unwrap_err()
            .code
            .name(),
        "UNSUPPORTED_VERSION",
        "{name}: sealing seed of a version 3 ticket"
    );
    assert!(
        crypto::locator_seed_for(t.version, &t.owner_seed, 0, 0).is_err(),
        "{name}: locator seed of a version 3 ticket"
    );
    // Step 1: the index wanderer's version 2 ticket.
    let it = index_ticket(&t).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(it.to_text(), st(&c["index_ticket"]), "{name}: index ticket");
    assert_eq!(
        Ticket::from_text(st(&c["index_ticket"])).unwrap(),
        it,
        "{name}: index ticket read"
    );
    assert_eq!(it.version, 2, "{name}");
    assert_eq!(it.owner_seed, segments::index_seed(&file_seed), "{name}");
    assert_eq!(it.manifest_hash, t.manifest_hash, "{name}");
    assert_eq!((it.k, it.n), (t.k, t.n), "{name}: the ticket's k and n");
    // Step 1: the index decodes, and belongs to the file seed (or not).
    let index_bytes = hx(&c["index"]);
    let idx = parse_index(&index_bytes).unwrap_or_else(|e| panic!("{name}: index: {e}"));
    let want_check = st(&c["index_check"]);
    assert_eq!(
        verdict(&check_index(&t, &idx)),
        want_check,
        "{name}: index_check"
    );
    if want_check == "ok" {
        // The owner's index for the same manifests, byte for byte (its
        // repair seeds and deterministic grants included).
        let rebuilt = build_index(
            &file_seed,
            idx.file_size,
            idx.segment_size,
            &idx.manifest_hashes,
        )
        .unwrap_or_else(|e| panic!("{name}: build_index: {e}"));
        assert_eq!(rebuilt, idx, "{name}: the owner's index");
        assert_eq!(rebuilt.encode(), index_bytes, "{name}: index bytes");
        for i in 0..idx.count() {
            let (seed, grant) = segments::segment_repair(&file_seed, i);
            assert_eq!(idx.repair_seeds[i as usize], seed, "{name}: seed {i}");
            assert_eq!(idx.repair_grants[i as usize], grant, "{name}: grant {i}");
        }
    }
    // Indexes that decode (19.2) but do not belong to the file seed.
    let checked = c["checked_indexes"].as_array().expect("checked_indexes");
    assert!(!checked.is_empty(), "{name}: no checked index");
    for (at, x) in checked.iter().enumerate() {
        let what = format!("{name}: checked_indexes[{at}]");
        fields_are(&what, x, &["what", "index", "expect"]);
        let desc = st(&x["what"]);
        let what = format!("{what} ({desc})");
        let other = parse_index(&hx(&x["index"])).unwrap_or_else(|e| panic!("{what}: {e}"));
        // It is what its description says: the good index with one entry changed.
        assert_eq!(
            differences(&idx, &other),
            [described_change(desc)],
            "{what}: what differs from the good index"
        );
        assert_eq!(
            verdict(&check_index(&t, &other)),
            st(&x["expect"]),
            "{what}: verdict"
        );
    }
    // Step 2: every segment's version 2 ticket and size, in file order.
    let list = c["segment_tickets"].as_array().expect("segment_tickets");
    assert_eq!(list.len(), idx.count() as usize, "{name}: one per segment");
    for (at, s) in list.iter().enumerate() {
        let i = u(&s["index"]) as u32;
        let what = format!("{name}: segment {i}");
        fields_are(&what, s, &["index", "ticket", "size"]);
        assert_eq!(i as usize, at, "{what}: file order");
        let st2 = segment_ticket(&t, &idx, i).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(st2.to_text(), st(&s["ticket"]), "{what}: ticket");
        assert_eq!(Ticket::from_text(st(&s["ticket"])).unwrap(), st2, "{what}");
        assert_eq!(st2.version, 2, "{what}");
        assert_eq!(
            st2.owner_seed,
            crypto::segment_seed(&file_seed, i),
            "{what}"
        );
        assert_eq!(st2.manifest_hash, idx.manifest_hashes[at], "{what}");
        assert_eq!((st2.k, st2.n), (t.k, t.n), "{what}: the file's k and n");
        let size = u(&s["size"]);
        assert_eq!(idx.segment_len(i), Some(size), "{what}: size");
        check_segment_size(&idx, i, size).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    assert!(
        segment_ticket(&t, &idx, idx.count()).is_err(),
        "{name}: no segment past the last"
    );
    // Step 2: the verdict on a segment rebuilding to each size.
    let sizes = c["rebuilt_sizes"].as_array().expect("rebuilt_sizes");
    assert!(!sizes.is_empty(), "{name}: no rebuilt size");
    for (at, r) in sizes.iter().enumerate() {
        let what = format!("{name}: rebuilt_sizes[{at}]");
        fields_are(&what, r, &["segment", "size", "expect"]);
        let i = u32::try_from(u(&r["segment"])).expect("segment is a u32");
        let size = u(&r["size"]);
        let got = check_segment_size(&idx, i, size);
        assert_eq!(
            verdict(&got),
            st(&r["expect"]),
            "{what}: segment {i} of {size} bytes"
        );
        // And the verdict is what the index implies.
        assert_eq!(
            got.is_ok(),
            idx.segment_len(i) == Some(size),
            "{what}: segment {i} of {size} bytes"
        );
    }
}

#[test]
fn segments_vectors() {
    let cases = load("segments.json");
    let mut t = Tally::new("segments.json", cases.len());
    for c in &cases {
        let kind = st(&c["kind"]);
        let name = st(&c["name"]);
        match kind {
            "seeds" => check_seeds(name, c),
            "index" => check_index_case(name, c),
            "file_ticket" => check_file_ticket(name, c),
            other => panic!("segments.json: unknown kind {other}"),
        }
        t.done(kind);
    }
    t.finish(&["seeds", "index", "file_ticket"]);
}
