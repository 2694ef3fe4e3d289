//! The migrate and fetch machines end to end in memory: a Rust sender and a
//! Rust receiver exchange the bytes a libp2p stream would carry. Covers a
//! wanderer's launch and its hops (chain growth and truncation at 64 links),
//! refusals with the spec's codes, retried offers, timers and fetch.

use wdp_interop::carrier::{CarrierBook, CarrierConfig, Custody};
use wdp_interop::custody::{
    extend_chain, make_offer, sign_hop0_record, sign_next_record, DecodedOffer,
};
use wdp_interop::fetch::{
    self, CarrierOutput, ClientOutput, FetchCarrier, FetchClient, NonceCache,
};
use wdp_interop::limits::*;
use wdp_interop::messages::{self, decode_migrate, Msg};
use wdp_interop::objects::{sign_body, Manifest, Parsed};
use wdp_interop::proto::{Cipher, ManifestBody, Reason, ReceiptBody, RejectCode};
use wdp_interop::signing::{self, public_key, sha256, signing_key};
use wdp_interop::{
    crypto, erasure, framing, locator, Receiver, ReceiverOutcome, ReceiverOutput, ReceiverState,
    Sender, SenderOutput, SenderState,
};

const T0: u64 = 1_700_000_000_000;
const OWNER_SEED: [u8; 32] = [0x42; 32];

struct Node {
    seed: [u8; 32],
    book: CarrierBook,
    /// Shard bytes this node stores, by record hash.
    stored: Vec<([u8; 32], Vec<u8>)>,
}

impl Node {
    fn new(i: u8) -> Self {
        Node {
            seed: [i; 32],
            book: CarrierBook::new(CarrierConfig::default()),
            stored: Vec::new(),
        }
    }
    fn key(&self) -> [u8; 32] {
        public_key(&self.seed)
    }
    fn custody(&self, m: &Manifest, index: u32) -> Custody {
        let wid: [u8; 32] = m.fields.wanderer_id.clone().try_into().unwrap();
        self.book
            .held(&wid, index)
            .expect("this node carries the shard")
            .clone()
    }
    fn shard(&self, c: &Custody) -> Vec<u8> {
        self.stored
            .iter()
            .find(|(h, _)| *h == c.record.hash)
            .expect("stored")
            .1
            .clone()
    }
}

struct Wanderer {
    manifest: Manifest,
    shards: Vec<Vec<u8>>,
}

fn wanderer(payload: &[u8], k: usize, n: usize) -> Wanderer {
    let owner = public_key(&OWNER_SEED);
    let wid = crypto::wanderer_id(&owner);
    let nonce = [9u8; 12];
    let ct = crypto::aead_encrypt(&crypto::data_key(&OWNER_SEED), &nonce, &wid, payload);
    let shards = erasure::encode(&ct, k, n).unwrap();
    let body = ManifestBody {
        version: 1,
        wanderer_id: wid.to_vec(),
        owner_key: owner.to_vec(),
        cipher: Cipher::Chacha20Poly1305 as i32,
        nonce: nonce.to_vec(),
        payload_size: payload.len() as u64,
        k: k as u32,
        n: n as u32,
        shard_size: shards[0].len() as u64,
        shard_hashes: shards.iter().map(|s| sha256(s).to_vec()).collect(),
        epoch_seconds: 600,
        created_at_ms: T0,
        ..Default::default()
    };
    let manifest = sign_body(&body, signing::DOMAIN_MANIFEST, &signing_key(&OWNER_SEED));
    Wanderer { manifest, shards }
}

fn genesis_offer(w: &Wanderer, index: u32, to: &[u8; 32]) -> DecodedOffer {
    let secret = crypto::locator_seed(&OWNER_SEED, index, 0);
    let rec = sign_hop0_record(
        &signing_key(&OWNER_SEED),
        &w.manifest,
        index,
        0,
        to,
        &public_key(&secret),
        T0,
    );
    make_offer(&w.manifest, &[], &rec, &secret)
}

fn next_offer(
    from: &Node,
    custody: &Custody,
    to: &[u8; 32],
    reason: Reason,
    now: u64,
) -> DecodedOffer {
    let rec = sign_next_record(&signing_key(&from.seed), &custody.record, to, reason, now);
    make_offer(
        &custody.manifest,
        &custody.chain,
        &rec,
        &custody.locator_secret,
    )
}

struct Result2 {
    sender: Sender,
    receiver: Receiver,
    wiped: bool,
    /// Frames the receiver sent, decoded.
    answers: Vec<Msg>,
}

/// Runs one handoff over an in-memory stream, delivering every write in
/// `piece`-byte reads. `from` (None for the owner) and `to` are updated as a
/// driver would: custody, wipe, reservations, stored bytes.
fn run(
    offer: DecodedOffer,
    shard: Vec<u8>,
    sender_key: [u8; 32],
    mut from: Option<&mut Node>,
    to: &mut Node,
    now: u64,
    piece: usize,
) -> Result2 {
    let mut tx = Sender::new_unverified(offer, shard, 7);
    let mut rx = Receiver::new(signing_key(&to.seed), Some(sender_key), now);
    tx.start(now);
    let mut wiped = false;
    let mut answers = Vec::new();
    for _round in 0..10_000 {
        let mut s2r = Vec::new();
        while let Some(out) = tx.poll_output() {
            match out {
                SenderOutput::Send(f) => s2r.extend(f),
                SenderOutput::Wipe { receipt } => {
                    assert_eq!(receipt.fields.record_hash, tx.offer().record.hash.to_vec());
                    if let Some(n) = from.as_deref_mut() {
                        n.book.handed_off(&tx.offer().record);
                    }
                    wiped = true;
                }
                SenderOutput::Close => {}
            }
        }
        for piece in s2r.chunks(piece) {
            rx.feed(now, piece, &mut to.book);
        }
        let mut r2s = Vec::new();
        while let Some(out) = rx.poll_output() {
            match out {
                ReceiverOutput::Send(f) => {
                    answers.push(decode_migrate(&f[frame_prefix(&f)..]).unwrap());
                    r2s.extend(f);
                }
                ReceiverOutput::Store { record_hash, shard } => {
                    to.stored.push((record_hash, shard));
                    rx.store_finished(now, true);
                }
                ReceiverOutput::Custody(c) => to.book.take_custody(*c),
                ReceiverOutput::Release { record_hash } => to.book.release(&record_hash),
                ReceiverOutput::DeleteStored { record_hash } => {
                    to.stored.retain(|(h, _)| *h != record_hash)
                }
                ReceiverOutput::Close => {}
            }
        }
        for piece in r2s.chunks(piece) {
            tx.feed(now, piece);
        }
        if tx.is_terminal() && rx.is_terminal() && s2r.is_empty() && r2s.is_empty() {
            return Result2 {
                sender: tx,
                receiver: rx,
                wiped,
                answers,
            };
        }
    }
    panic!("the handoff did not end within 10000 rounds");
}

fn frame_prefix(frame: &[u8]) -> usize {
    framing::decode_frame(frame).unwrap().unwrap().0
}

fn reject_code(r: &Result2) -> Option<RejectCode> {
    r.answers.iter().find_map(|m| match m {
        Msg::Reject { code, .. } => Some(*code),
        _ => None,
    })
}

#[test]
fn launch_and_three_hops_then_the_owner_finds_and_fetches_the_shard() {
    let w = wanderer(&[0xab; 5000], 3, 5);
    let shard = w.shards[1].clone();
    let owner = public_key(&OWNER_SEED);
    let mut nodes: Vec<Node> = (1..=4).map(Node::new).collect();

    let r = run(
        genesis_offer(&w, 1, &nodes[0].key()),
        shard.clone(),
        owner,
        None,
        &mut nodes[0],
        T0,
        1,
    );
    assert_eq!(r.sender.state(), SenderState::Done);
    assert!(r.wiped);
    assert_eq!(r.receiver.state(), ReceiverState::Closed);
    assert_eq!(
        r.receiver.outcome(),
        Some(&ReceiverOutcome::Carrier { retried: false })
    );
    assert!(matches!(r.answers[0], Msg::Accept { .. }));
    assert!(matches!(r.answers[1], Msg::Receipt(_)));

    let reasons = [Reason::Ttl, Reason::Threat, Reason::Drain];
    for hop in 1..=3usize {
        let (left, right) = nodes.split_at_mut(hop);
        let (from, to) = (&mut left[hop - 1], &mut right[0]);
        let c = from.custody(&w.manifest, 1);
        assert_eq!(c.chain.len(), hop, "a carrier keeps every link up to 64");
        let stored = from.shard(&c);
        let now = T0 + hop as u64 * 1000;
        let offer = next_offer(from, &c, &to.key(), reasons[hop - 1], now);
        let from_key = from.key();
        let r = run(offer, stored, from_key, Some(&mut *from), to, now, 1 << 20);
        assert_eq!(r.sender.state(), SenderState::Done, "hop {hop}");
        assert!(r.wiped);
        assert!(
            from.book.held_shards().next().is_none(),
            "the sender forgot the shard"
        );
        assert_eq!(from.book.seen(&c.wanderer_id(), 1), Some((0, hop as u64)));
    }
    let carrier = &nodes[3];
    let c = carrier.custody(&w.manifest, 1);
    assert_eq!(c.record.fields.hop, 3);
    assert_eq!(carrier.shard(&c), shard);
    assert_eq!(carrier.book.bytes_reserved(), 0);

    // The carrier publishes its locator; the owner finds and opens it.
    let holder = locator::holder_info(
        &carrier.key(),
        &[vec![4, 127, 0, 0, 1, 6, 0x0f, 0xa1]],
        &c.record.hash,
    );
    let expires = locator::expires_at_ms(T0, c.manifest.fields.epoch_seconds);
    let value = locator::build_value(
        &c.locator_secret,
        &owner,
        0,
        3,
        expires,
        &holder,
        &[5u8; 32],
    )
    .unwrap();
    let key = locator::dht_key(&public_key(&crypto::locator_seed(&OWNER_SEED, 1, 0)));
    let rec = locator::validate(&key, &value, T0 + 1).unwrap();
    assert_eq!(locator::open_holder(&OWNER_SEED, &rec).unwrap(), holder);
    assert!(
        locator::validate(&key, &value, expires).is_err(),
        "expired at expires_at_ms"
    );

    // The owner fetches the shard from the carrier, in 100-byte chunks.
    let req = fetch::sign_request(
        &signing_key(&OWNER_SEED),
        1,
        &carrier.key(),
        T0 + 5,
        &[1u8; 16],
    );
    let mut client = FetchClient::new(req, Some(w.manifest.hash));
    let mut server = FetchCarrier::new(carrier.key(), 100, T0 + 5);
    let mut nonces = NonceCache::default();
    client.start(T0 + 5);
    let mut got = None;
    for _ in 0..100 {
        while let Some(ClientOutput::Send(f)) = client.poll_output() {
            server.feed(T0 + 5, &f, &mut nonces, &carrier.book);
        }
        while let Some(out) = server.poll_output() {
            match out {
                CarrierOutput::Send(f) => client.feed(T0 + 5, &f),
                CarrierOutput::Load { record, .. } => {
                    let held = carrier.custody(&w.manifest, record.fields.shard_index);
                    server.loaded(Some(&carrier.shard(&held)));
                }
                CarrierOutput::Close => {}
            }
        }
        while let Some(out) = client.poll_output() {
            if let ClientOutput::Fetched(f) = out {
                got = Some(f);
            }
        }
        if got.is_some() {
            break;
        }
    }
    assert_eq!(got.expect("fetched").shard, shard);
    // A replay of the same request is refused (nonce cache).
    let req = fetch::sign_request(
        &signing_key(&OWNER_SEED),
        1,
        &carrier.key(),
        T0 + 5,
        &[1u8; 16],
    );
    let mut again = FetchCarrier::new(carrier.key(), 100, T0 + 6);
    again.feed(
        T0 + 6,
        &fetch::request_frame(&req),
        &mut nonces,
        &carrier.book,
    );
    assert_eq!(again.error().unwrap().code, RejectCode::StaleHop);
}

#[test]
fn a_chain_is_truncated_to_64_links_and_still_accepted() {
    let w = wanderer(b"long road", 1, 1);
    let mut a = Node::new(1);
    let mut b = Node::new(2);
    // Hops 0..=63 signed directly (as the machines would), alternating a and b;
    // b carries the shard after hop 63 with a 64-link chain.
    let secret = crypto::locator_seed(&OWNER_SEED, 0, 0);
    let mut rec = sign_hop0_record(
        &signing_key(&OWNER_SEED),
        &w.manifest,
        0,
        0,
        &a.key(),
        &public_key(&secret),
        T0,
    );
    let mut chain = Vec::new();
    for hop in 0..=63u64 {
        let (to, next) = if hop % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let body = ReceiptBody {
            version: 1,
            record_hash: rec.hash.to_vec(),
            receiver: to.key().to_vec(),
            shard_hash: rec.fields.shard_hash.clone(),
            time_ms: T0 + hop,
        };
        let receipt = sign_body(&body, signing::DOMAIN_RECEIPT, &signing_key(&to.seed));
        chain = extend_chain(&chain, &rec, &receipt);
        if hop == 63 {
            b.book.take_custody(Custody {
                manifest: w.manifest.clone(),
                record: rec.clone(),
                receipt,
                chain: chain.clone(),
                locator_secret: secret,
            });
            b.stored.push((rec.hash, w.shards[0].clone()));
            break;
        }
        rec = sign_next_record(
            &signing_key(&to.seed),
            &rec,
            &next.key(),
            Reason::Ttl,
            T0 + hop + 1,
        );
    }
    assert_eq!(chain.len(), 64);
    assert_eq!(chain[0].record.fields.hop, 0);
    // Hops 64..=66 through the machines: the offered chain stops reaching hop 0.
    for hop in 64..=66u64 {
        let (from, to) = if hop % 2 == 0 {
            (&mut b, &mut a)
        } else {
            (&mut a, &mut b)
        };
        let c = from.custody(&w.manifest, 0);
        assert_eq!(c.chain.len(), 64);
        let offer = next_offer(from, &c, &to.key(), Reason::Ttl, T0 + hop);
        assert_eq!(offer.chain[0].record.fields.hop, hop - 64);
        let shard = from.shard(&c);
        let from_key = from.key();
        let r = run(
            offer,
            shard,
            from_key,
            Some(&mut *from),
            &mut *to,
            T0 + hop,
            1 << 20,
        );
        assert_eq!(
            r.sender.state(),
            SenderState::Done,
            "hop {hop}: {:?}",
            r.answers
        );
    }
    let c = a.custody(&w.manifest, 0);
    assert_eq!(c.record.fields.hop, 66);
    assert_eq!(c.chain.len(), 64);
    assert_eq!(c.chain[0].record.fields.hop, 3);
}

#[test]
fn a_damaged_shard_is_refused_and_the_sender_keeps_its_copy() {
    let w = wanderer(b"payload", 2, 3);
    let mut a = Node::new(1);
    let mut damaged = w.shards[0].clone();
    damaged[0] ^= 1;
    let r = run(
        genesis_offer(&w, 0, &a.key()),
        damaged,
        public_key(&OWNER_SEED),
        None,
        &mut a,
        T0,
        3,
    );
    assert_eq!(reject_code(&r), Some(RejectCode::ShardHashMismatch));
    assert_eq!(r.sender.state(), SenderState::Failed);
    assert_eq!(
        r.sender.failure().unwrap().0.code,
        RejectCode::ShardHashMismatch
    );
    assert!(r.sender.failure().unwrap().1, "the peer sent the code");
    assert!(!r.wiped);
    assert_eq!(r.receiver.state(), ReceiverState::Rejected);
    assert_eq!(a.book.bytes_reserved(), 0, "the reservation is released");
    assert!(a.stored.is_empty());
    // The sender's own check refuses to send damaged bytes at all.
    let mut damaged = w.shards[0].clone();
    damaged[1] ^= 1;
    assert!(Sender::new(genesis_offer(&w, 0, &a.key()), damaged, 1 << 20).is_err());
}

fn tamper<F: FnOnce(&mut DecodedOffer)>(
    w: &Wanderer,
    carriers: &mut [Node; 3],
    f: F,
) -> Option<RejectCode> {
    // Offer of hop 2 from carriers[1] to carriers[2] with a 2-link chain, then tampered.
    let [a, b, c] = carriers;
    let r = run(
        genesis_offer(w, 0, &a.key()),
        w.shards[0].clone(),
        public_key(&OWNER_SEED),
        None,
        &mut *a,
        T0,
        1 << 20,
    );
    assert_eq!(r.sender.state(), SenderState::Done);
    let ca = a.custody(&w.manifest, 0);
    let offer = next_offer(a, &ca, &b.key(), Reason::Ttl, T0 + 1);
    let (shard, a_key) = (a.shard(&ca), a.key());
    assert_eq!(
        run(offer, shard, a_key, Some(&mut *a), &mut *b, T0 + 1, 1 << 20)
            .sender
            .state(),
        SenderState::Done
    );
    let cb = b.custody(&w.manifest, 0);
    let mut offer = next_offer(b, &cb, &c.key(), Reason::Threat, T0 + 2);
    f(&mut offer);
    let (shard, b_key) = (b.shard(&cb), b.key());
    let r = run(offer, shard, b_key, Some(&mut *b), &mut *c, T0 + 2, 1 << 20);
    assert_eq!(
        r.sender.state(),
        if reject_code(&r).is_some() {
            SenderState::Failed
        } else {
            SenderState::Done
        }
    );
    reject_code(&r)
}

fn nodes3() -> [Node; 3] {
    [Node::new(1), Node::new(2), Node::new(3)]
}

#[test]
fn tampered_offers_get_the_spec_codes() {
    let w = wanderer(b"tamper", 2, 2);
    assert_eq!(
        tamper(&w, &mut nodes3(), |_| {}),
        None,
        "the untampered offer is accepted"
    );
    assert_eq!(
        tamper(&w, &mut nodes3(), |o| o.record.signature[0] ^= 1),
        Some(RejectCode::BadSignature)
    );
    assert_eq!(
        tamper(&w, &mut nodes3(), |o| o.manifest.signature[5] ^= 1),
        Some(RejectCode::BadManifest)
    );
    assert_eq!(
        tamper(&w, &mut nodes3(), |o| o.chain[1].receipt.signature[0] ^= 1),
        Some(RejectCode::BadSignature)
    );
    // The receipts of the two links swapped: each names the other record.
    assert_eq!(
        tamper(&w, &mut nodes3(), |o| {
            let r0 = o.chain[0].receipt.clone();
            o.chain[0].receipt = o.chain[1].receipt.clone();
            o.chain[1].receipt = r0;
        }),
        Some(RejectCode::BadChain)
    );
    assert_eq!(
        tamper(&w, &mut nodes3(), |o| {
            o.chain.remove(0);
        }),
        Some(RejectCode::BadChain)
    );
    assert_eq!(
        tamper(&w, &mut nodes3(), |o| o.locator_secret = [1; 32]),
        Some(RejectCode::BadLocatorKey)
    );
    // A body change after signing: the kept bytes no longer match the signature.
    assert_eq!(
        tamper(&w, &mut nodes3(), |o| {
            let last = o.record.body.len() - 1;
            o.record.body[last] ^= 1;
        }),
        Some(RejectCode::BadSignature)
    );
}

#[test]
fn wrong_recipient_wrong_sender_and_local_admission() {
    let w = wanderer(b"admission", 2, 3);
    let owner = public_key(&OWNER_SEED);
    let mut a = Node::new(1);
    let mut b = Node::new(2);
    // Delivered to the wrong node.
    let r = run(
        genesis_offer(&w, 0, &a.key()),
        w.shards[0].clone(),
        owner,
        None,
        &mut b,
        T0,
        1 << 20,
    );
    assert_eq!(reject_code(&r), Some(RejectCode::WrongRecipient));
    // Shard 0 to a; then shard 1 to a is a sibling.
    run(
        genesis_offer(&w, 0, &a.key()),
        w.shards[0].clone(),
        owner,
        None,
        &mut a,
        T0,
        1 << 20,
    );
    let r = run(
        genesis_offer(&w, 1, &a.key()),
        w.shards[1].clone(),
        owner,
        None,
        &mut a,
        T0,
        1 << 20,
    );
    assert_eq!(reject_code(&r), Some(RejectCode::SiblingHeld));
    // Hop 1 from a, on a stream authenticated as someone else.
    let ca = a.custody(&w.manifest, 0);
    let offer = next_offer(&a, &ca, &b.key(), Reason::Ttl, T0 + 1);
    let r = run(
        offer.clone(),
        a.shard(&ca),
        Node::new(9).key(),
        None,
        &mut b,
        T0 + 1,
        1 << 20,
    );
    assert_eq!(reject_code(&r), Some(RejectCode::WrongSender));
    // A receiver that is shutting down, full, or busy.
    let mut full = Node::new(2);
    full.book.shutting_down = true;
    let r = run(
        offer.clone(),
        a.shard(&ca),
        a.key(),
        None,
        &mut full,
        T0 + 1,
        1 << 20,
    );
    assert_eq!(reject_code(&r), Some(RejectCode::ShuttingDown));
    let mut full = Node::new(2);
    full.book.config.capacity = w.manifest.fields.shard_size - 1;
    let r = run(
        offer.clone(),
        a.shard(&ca),
        a.key(),
        None,
        &mut full,
        T0 + 1,
        1 << 20,
    );
    assert_eq!(reject_code(&r), Some(RejectCode::Capacity));
    let mut busy = Node::new(2);
    busy.book.config.max_inbound = 0;
    let r = run(
        offer.clone(),
        a.shard(&ca),
        a.key(),
        None,
        &mut busy,
        T0 + 1,
        1 << 20,
    );
    assert_eq!(reject_code(&r), Some(RejectCode::Busy));
    // The real hop, then its replay after b handed the shard on: STALE_HOP.
    let shard = a.shard(&ca);
    let a_key = a.key();
    assert_eq!(
        run(
            offer.clone(),
            shard.clone(),
            a_key,
            Some(&mut a),
            &mut b,
            T0 + 1,
            1 << 20
        )
        .sender
        .state(),
        SenderState::Done
    );
    let cb = b.custody(&w.manifest, 0);
    let mut c = Node::new(3);
    let next = next_offer(&b, &cb, &c.key(), Reason::Ttl, T0 + 2);
    let b_key = b.key();
    let shard_b = b.shard(&cb);
    assert_eq!(
        run(next, shard_b, b_key, Some(&mut b), &mut c, T0 + 2, 1 << 20)
            .sender
            .state(),
        SenderState::Done
    );
    let r = run(offer, shard, a_key, None, &mut b, T0 + 3, 1 << 20);
    assert_eq!(reject_code(&r), Some(RejectCode::StaleHop));
}

#[test]
fn a_lost_receipt_is_recovered_by_the_identical_offer() {
    let w = wanderer(b"retry", 1, 2);
    let owner = public_key(&OWNER_SEED);
    let mut a = Node::new(1);
    let offer = genesis_offer(&w, 0, &a.key());
    // First attempt: the receiver stores and signs, the receipt never arrives.
    let mut tx = Sender::new(offer.clone(), w.shards[0].clone(), 1 << 20).unwrap();
    let mut rx = Receiver::new(signing_key(&a.seed), Some(owner), T0);
    tx.start(T0);
    let mut guard = 0;
    while rx.state() != ReceiverState::AwaitDone {
        guard += 1;
        assert!(guard < 100, "no progress");
        while let Some(SenderOutput::Send(f)) = tx.poll_output() {
            rx.feed(T0, &f, &mut a.book);
        }
        while let Some(out) = rx.poll_output() {
            match out {
                ReceiverOutput::Send(f) if rx.state() == ReceiverState::Receiving => {
                    tx.feed(T0, &f)
                }
                ReceiverOutput::Store { record_hash, shard } => {
                    a.stored.push((record_hash, shard));
                    rx.store_finished(T0, true);
                }
                ReceiverOutput::Custody(c) => a.book.take_custody(*c),
                _ => {}
            }
        }
    }
    tx.stream_lost();
    assert_eq!(tx.state(), SenderState::Failed);
    assert_eq!(tx.failure().unwrap().0.code, RejectCode::Timeout);
    rx.handle_timer(T0 + DONE_TIMEOUT_MS);
    assert_eq!(
        rx.state(),
        ReceiverState::Closed,
        "the receiver keeps the shard"
    );
    // The retry: answered with the stored receipt, no Accept, no Data.
    let r = run(
        offer,
        w.shards[0].clone(),
        owner,
        None,
        &mut a,
        T0 + 5000,
        1 << 20,
    );
    assert_eq!(r.sender.state(), SenderState::Done);
    assert!(r.wiped);
    assert_eq!(r.answers.len(), 1);
    assert!(matches!(r.answers[0], Msg::Receipt(_)));
    assert_eq!(
        r.receiver.outcome(),
        Some(&ReceiverOutcome::Carrier { retried: true })
    );
    assert_eq!(a.stored.len(), 1);
}

#[test]
fn timers_follow_section_6_4() {
    let w = wanderer(b"timers", 1, 1);
    let owner = public_key(&OWNER_SEED);
    let a = Node::new(1);
    // Receiver: no offer within OFFER_TIMEOUT.
    let mut rx = Receiver::new(signing_key(&a.seed), Some(owner), T0);
    assert_eq!(rx.next_deadline(), Some(T0 + OFFER_TIMEOUT_MS));
    rx.handle_timer(T0 + OFFER_TIMEOUT_MS - 1);
    assert_eq!(
        rx.state(),
        ReceiverState::AwaitOffer,
        "not before the deadline"
    );
    rx.handle_timer(T0 + OFFER_TIMEOUT_MS);
    assert_eq!(rx.state(), ReceiverState::Rejected);
    let Some(ReceiverOutput::Send(f)) = rx.poll_output() else {
        panic!("a reject")
    };
    assert!(matches!(
        decode_migrate(&f[1..]).unwrap(),
        Msg::Reject {
            code: RejectCode::Timeout,
            ..
        }
    ));
    // Sender: the receipt deadline after Accept is 30 s + shard_size / 256 KiB/s.
    let offer = genesis_offer(&w, 0, &a.key());
    let mut tx = Sender::new(offer.clone(), w.shards[0].clone(), 1 << 20).unwrap();
    tx.start(T0);
    assert_eq!(tx.next_deadline(), Some(T0 + OFFER_TIMEOUT_MS));
    tx.feed(T0 + 1, &messages::accept_frame(&offer.record.hash));
    assert_eq!(tx.state(), SenderState::AwaitReceipt);
    assert_eq!(
        tx.next_deadline(),
        Some(T0 + 1 + receipt_deadline_ms(w.manifest.fields.shard_size))
    );
    assert_eq!(receipt_deadline_ms(128 << 20), 542_000, "128 MiB → 542 s");
    tx.handle_timer(T0 + 1 + 30_001);
    assert_eq!(tx.state(), SenderState::Failed);
    assert_eq!(tx.failure().unwrap().0.code, RejectCode::Timeout);
    // An Accept for another record is a protocol violation.
    let mut tx = Sender::new(offer, w.shards[0].clone(), 1 << 20).unwrap();
    tx.start(T0);
    tx.feed(T0, &messages::accept_frame(&[0u8; 32]));
    assert_eq!(tx.failure().unwrap().0.code, RejectCode::ProtocolViolation);
}

#[test]
fn the_sender_refuses_a_bad_receipt_and_keeps_the_shard() {
    let w = wanderer(b"receipt", 1, 1);
    let a = Node::new(1);
    let offer = genesis_offer(&w, 0, &a.key());
    let good = ReceiptBody {
        version: 1,
        record_hash: offer.record.hash.to_vec(),
        receiver: a.key().to_vec(),
        shard_hash: offer.record.fields.shard_hash.clone(),
        time_ms: T0,
    };
    let cases: Vec<(Parsed<ReceiptBody>, Option<RejectCode>)> = vec![
        (
            sign_body(&good, signing::DOMAIN_RECEIPT, &signing_key(&a.seed)),
            None,
        ),
        (
            sign_body(&good, signing::DOMAIN_RECEIPT, &signing_key(&[9; 32])),
            Some(RejectCode::BadReceipt),
        ),
        (
            sign_body(
                &ReceiptBody {
                    shard_hash: vec![0; 32],
                    ..good.clone()
                },
                signing::DOMAIN_RECEIPT,
                &signing_key(&a.seed),
            ),
            Some(RejectCode::BadReceipt),
        ),
        (
            sign_body(
                &ReceiptBody {
                    version: 2,
                    ..good.clone()
                },
                signing::DOMAIN_RECEIPT,
                &signing_key(&a.seed),
            ),
            Some(RejectCode::UnsupportedVersion),
        ),
    ];
    for (receipt, expect) in cases {
        let mut tx = Sender::new(offer.clone(), w.shards[0].clone(), 1 << 20).unwrap();
        tx.start(T0);
        while tx.poll_output().is_some() {}
        tx.feed(T0, &messages::receipt_frame(&receipt));
        let mut wiped = false;
        while let Some(out) = tx.poll_output() {
            wiped |= matches!(out, SenderOutput::Wipe { .. });
        }
        match expect {
            None => assert!(wiped && tx.state() == SenderState::Done),
            Some(code) => {
                assert!(!wiped, "no wipe without a valid receipt");
                assert_eq!(tx.failure().unwrap().0.code, code);
            }
        }
    }
}

#[test]
fn frames_split_anywhere_decode_the_same() {
    let w = wanderer(&[1u8; 300], 2, 3);
    let offer = genesis_offer(&w, 0, &Node::new(1).key());
    let frame = messages::offer_frame(&offer);
    let mut dec = framing::FrameDecoder::new();
    let mut got = Vec::new();
    for b in &frame {
        dec.push(&[*b]);
        if let Some(p) = dec.next_payload().unwrap() {
            got.push(p);
        }
    }
    assert_eq!(got.len(), 1);
    assert_eq!(dec.buffered(), 0);
    let Msg::Offer(o) = decode_migrate(&got[0]).unwrap() else {
        panic!("offer")
    };
    assert_eq!(*o, offer);
    // A receiver refuses an oversized prefix before any payload arrives.
    let mut a = Node::new(1);
    let mut rx = Receiver::new(signing_key(&a.seed), None, T0);
    rx.feed(T0, &[0x81, 0x80, 0x44], &mut a.book);
    let Some(ReceiverOutput::Send(f)) = rx.poll_output() else {
        panic!("a reject")
    };
    assert!(matches!(
        decode_migrate(&f[1..]).unwrap(),
        Msg::Reject {
            code: RejectCode::TooLarge,
            ..
        }
    ));
}
