//! Manifest version 2 and `/wdp/audit/1.0` end to end in memory: an owner
//! launches a version 2 shard, audits its carrier (proof), the carrier hands
//! it on and answers the next audit with **moved**, the next carrier proves
//! it; replays, strangers, grants, a damaged copy, a wrong signed root and
//! the audit timers get the spec's codes (§6.7, §18).

use wdp_interop::audit::{
    self, handed_on_lifetime_ms, AuditCarrier, AuditCarrierOutput, AuditCarrierState,
    AuditChallenger, AuditVerdict, ChallengeSpec, ChallengerOutput, ChallengerState, HandedOn,
};
use wdp_interop::carrier::CarrierBook;
use wdp_interop::custody::{
    key32, make_offer, sign_hop0_record, sign_next_record, DecodedOffer, Link,
};
use wdp_interop::fetch::NonceCache;
use wdp_interop::limits::{AUDIT_REQUEST_TIMEOUT_MS, AUDIT_RESPONSE_TIMEOUT_MS};
use wdp_interop::merkle;
use wdp_interop::objects::{sealing_key, sign_body, AuditChallenge, Manifest};
use wdp_interop::proto::{Cipher, ManifestBody, Reason, RejectCode};
use wdp_interop::signing::{self, public_key, sha256, signing_key};
use wdp_interop::{crypto, erasure, locator, Receiver, ReceiverOutput, Sender, SenderOutput};

const T0: u64 = 1_700_000_000_000;
const OWNER_SEED: [u8; 32] = [0x24; 32];

/// A carrier: its book, shard bytes, audit nonces and handed-on hops.
struct Node {
    seed: [u8; 32],
    book: CarrierBook,
    stored: Vec<([u8; 32], Vec<u8>)>,
    nonces: NonceCache,
    handed_on: HandedOn,
}

impl Node {
    fn new(i: u8) -> Self {
        Node {
            seed: [i; 32],
            book: CarrierBook::default(),
            stored: Vec::new(),
            nonces: NonceCache::default(),
            handed_on: HandedOn::default(),
        }
    }
    fn key(&self) -> [u8; 32] {
        public_key(&self.seed)
    }
    fn shard_of(&self, record_hash: &[u8; 32]) -> Option<Vec<u8>> {
        self.stored
            .iter()
            .find(|(h, _)| h == record_hash)
            .map(|(_, s)| s.clone())
    }
}

/// A version 2 wanderer (repair key, shard roots), `roots` overridable.
fn wanderer_v2(payload: &[u8], k: usize, n: usize, bad_root: bool) -> (Manifest, Vec<Vec<u8>>) {
    let owner = public_key(&OWNER_SEED);
    let wid = crypto::wanderer_id(&owner);
    let nonce = [3u8; 12];
    let ct = crypto::aead_encrypt(&crypto::data_key(&OWNER_SEED), &nonce, &wid, payload);
    let shards = erasure::encode(&ct, k, n).unwrap();
    let mut roots: Vec<Vec<u8>> = shards.iter().map(|s| merkle::root(s).to_vec()).collect();
    if bad_root {
        roots[0][0] ^= 1;
    }
    let body = ManifestBody {
        version: 2,
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
        repair_key: public_key(&crypto::repair_seed(&OWNER_SEED)).to_vec(),
        shard_roots: roots,
    };
    let m = sign_body(&body, signing::DOMAIN_MANIFEST, &signing_key(&OWNER_SEED));
    (m, shards)
}

fn genesis(m: &Manifest, index: u32, to: &[u8; 32]) -> DecodedOffer {
    let secret = crypto::locator_seed_for(2, &OWNER_SEED, index, 0).unwrap();
    let rec = sign_hop0_record(
        &signing_key(&OWNER_SEED),
        m,
        index,
        0,
        to,
        &public_key(&secret),
        T0,
    );
    make_offer(m, &[], &rec, &secret)
}

/// One handoff in memory; returns the receipt if custody passed, else the
/// receiver's code. `from` (None for the owner) remembers the hop as handed on.
fn handoff(
    offer: DecodedOffer,
    shard: Vec<u8>,
    sender_key: [u8; 32],
    from: Option<&mut Node>,
    to: &mut Node,
    now: u64,
) -> Result<(), RejectCode> {
    let mut tx = Sender::new_unverified(offer, shard, 1 << 20);
    let mut rx = Receiver::new(signing_key(&to.seed), Some(sender_key), now);
    tx.start(now);
    let mut receipt = None;
    for _ in 0..100 {
        let mut s2r = Vec::new();
        while let Some(out) = tx.poll_output() {
            match out {
                SenderOutput::Send(f) => s2r.extend(f),
                SenderOutput::Wipe { receipt: r } => receipt = Some(*r),
                SenderOutput::Close => {}
            }
        }
        rx.feed(now, &s2r, &mut to.book);
        let mut r2s = Vec::new();
        while let Some(out) = rx.poll_output() {
            match out {
                ReceiverOutput::Send(f) => r2s.extend(f),
                ReceiverOutput::Store { record_hash, shard } => {
                    to.stored.push((record_hash, shard));
                    rx.store_finished(now, true);
                }
                ReceiverOutput::Custody(c) => to.book.take_custody(*c),
                ReceiverOutput::Release { record_hash }
                | ReceiverOutput::DeleteStored { record_hash } => {
                    to.book.release(&record_hash);
                    to.stored.retain(|(h, _)| *h != record_hash);
                }
                ReceiverOutput::Close => {}
            }
        }
        tx.feed(now, &r2s);
        if tx.is_terminal() && rx.is_terminal() && s2r.is_empty() && r2s.is_empty() {
            break;
        }
    }
    match receipt {
        Some(receipt) => {
            if let Some(from) = from {
                let record = tx.offer().record.clone();
                let epoch = tx.offer().manifest.fields.epoch_seconds;
                let came_from = tx
                    .offer()
                    .chain
                    .last()
                    .map(|l| key32(&l.record.fields.from_peer))
                    .unwrap_or_default();
                from.book.handed_off(&record);
                from.stored.clear();
                let link = Link { record, receipt };
                from.handed_on
                    .remember(link, came_from, handed_on_lifetime_ms(epoch), now);
            }
            Ok(())
        }
        None => Err(tx.failure().expect("a failed handoff has a code").0.code),
    }
}

fn challenge(
    signer: &[u8; 32],
    carrier: &[u8; 32],
    leaf: u32,
    now: u64,
    nonce: u8,
) -> AuditChallenge {
    let spec = ChallengeSpec {
        owner_key: public_key(&OWNER_SEED),
        shard_index: 0,
        carrier: *carrier,
        leaf_index: leaf,
        time_ms: now,
        nonce: [nonce; 16],
    };
    let grant = audit::sign_grant(&signing_key(&OWNER_SEED), &public_key(signer));
    audit::sign_challenge(&signing_key(signer), &spec, &grant)
}

/// One audit stream between a challenger and `node`'s carrier machine;
/// `damage` corrupts the shard the carrier reads.
fn run_audit(
    node: &mut Node,
    ch: AuditChallenge,
    m: &Manifest,
    now: u64,
    damage: bool,
) -> (AuditChallenger, AuditCarrier) {
    let mut challenger = AuditChallenger::new(ch, m.clone()).unwrap();
    let mut carrier = AuditCarrier::new(node.key(), now);
    challenger.start(now);
    for _ in 0..4 {
        while let Some(out) = challenger.poll_output() {
            if let ChallengerOutput::Send(f) = out {
                carrier.feed(now, &f, &mut node.nonces, &node.book, &node.handed_on);
            }
        }
        while let Some(out) = carrier.poll_output() {
            match out {
                AuditCarrierOutput::Send(f) => challenger.feed(now, &f),
                AuditCarrierOutput::Load { record, .. } => {
                    let mut shard = node.shard_of(&record.hash);
                    if damage {
                        if let Some(s) = shard.as_mut() {
                            s[0] ^= 1;
                        }
                    }
                    carrier.loaded(shard.as_deref());
                }
                AuditCarrierOutput::Close => {}
            }
        }
    }
    assert!(challenger.is_terminal() && carrier.is_terminal());
    (challenger, carrier)
}

fn carrier_code(c: &AuditChallenger) -> Option<RejectCode> {
    c.failure()
        .filter(|(_, by_peer)| *by_peer)
        .map(|(e, _)| e.code)
}

#[test]
fn a_version_2_shard_is_audited_then_moves_and_is_audited_again() {
    let (m, shards) = wanderer_v2(&[0x5a; 7000], 2, 3, false);
    let shard = shards[0].clone();
    let owner = public_key(&OWNER_SEED);
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let (ak, bk) = (a.key(), b.key());
    handoff(
        genesis(&m, 0, &a.key()),
        shard.clone(),
        owner,
        None,
        &mut a,
        T0,
    )
    .unwrap();
    let leaves = merkle::leaf_count(m.fields.shard_size) as u32;
    assert_eq!(leaves, 4, "3508-byte shard: four leaves");

    // The owner audits every leaf of A: proved.
    for leaf in 0..leaves {
        let now = T0 + 10;
        let (c, s) = run_audit(
            &mut a,
            challenge(&OWNER_SEED, &ak, leaf, now, leaf as u8),
            &m,
            now,
            false,
        );
        assert!(
            matches!(c.verdict(), Some(AuditVerdict::Proved { .. })),
            "leaf {leaf}"
        );
        assert_eq!(s.state(), AuditCarrierState::Done);
    }
    // The same challenge again: a replay (A7).
    let now = T0 + 20;
    let (c, _) = run_audit(
        &mut a,
        challenge(&OWNER_SEED, &ak, 0, T0 + 10, 0),
        &m,
        now,
        false,
    );
    assert_eq!(carrier_code(&c), Some(RejectCode::StaleHop));
    // The repair key, with the owner's grant, may audit too.
    let repair = crypto::repair_seed(&OWNER_SEED);
    let (c, _) = run_audit(&mut a, challenge(&repair, &ak, 1, now, 50), &m, now, false);
    assert!(matches!(c.verdict(), Some(AuditVerdict::Proved { .. })));
    // A stranger with a grant of its own making is refused before A8.
    let stranger = [0x77; 32];
    let spec = ChallengeSpec {
        owner_key: owner,
        shard_index: 0,
        carrier: a.key(),
        leaf_index: 0,
        time_ms: now,
        nonce: [51; 16],
    };
    let forged = audit::sign_challenge(&signing_key(&stranger), &spec, &[9; 64]);
    let (c, _) = run_audit(&mut a, forged, &m, now, false);
    assert_eq!(carrier_code(&c), Some(RejectCode::Unauthorized));
    // Another leaf past the end (A10) and a damaged copy (NOT_HELD).
    let (c, _) = run_audit(
        &mut a,
        challenge(&OWNER_SEED, &ak, leaves, now, 52),
        &m,
        now,
        false,
    );
    assert_eq!(carrier_code(&c), Some(RejectCode::Malformed));
    let (c, _) = run_audit(
        &mut a,
        challenge(&OWNER_SEED, &ak, 0, now, 53),
        &m,
        now,
        true,
    );
    assert_eq!(carrier_code(&c), Some(RejectCode::NotHeld));

    // A hands the shard on to B: A answers moved, B proves.
    let held = a
        .book
        .held(&crypto::wanderer_id(&owner), 0)
        .unwrap()
        .clone();
    let rec = sign_next_record(
        &signing_key(&a.seed),
        &held.record,
        &b.key(),
        Reason::Ttl,
        T0 + 30,
    );
    let offer = make_offer(&held.manifest, &held.chain, &rec, &held.locator_secret);
    let a_key = a.key();
    handoff(offer, shard.clone(), a_key, Some(&mut a), &mut b, T0 + 30).unwrap();
    let now = T0 + 40;
    let (c, s) = run_audit(
        &mut a,
        challenge(&OWNER_SEED, &ak, 2, now, 60),
        &m,
        now,
        false,
    );
    let Some(AuditVerdict::Moved { link }) = c.verdict() else {
        panic!("A answers moved, got {:?}", c.failure());
    };
    assert_eq!(link.record.fields.to_peer, b.key().to_vec());
    assert_eq!(s.state(), AuditCarrierState::Done);
    let (c, _) = run_audit(
        &mut b,
        challenge(&OWNER_SEED, &bk, 2, now, 61),
        &m,
        now,
        false,
    );
    let Some(AuditVerdict::Proved { record }) = c.verdict() else {
        panic!("B proves, got {:?}", c.failure());
    };
    assert_eq!(record.fields.hop, 1);
    // A node that never held it: NOT_HELD; one asked for another node: WRONG_RECIPIENT.
    let mut stranger_node = Node::new(3);
    let sk = stranger_node.key();
    let (c, _) = run_audit(
        &mut stranger_node,
        challenge(&OWNER_SEED, &sk, 0, now, 62),
        &m,
        now,
        false,
    );
    assert_eq!(carrier_code(&c), Some(RejectCode::NotHeld));
    let (c, _) = run_audit(
        &mut stranger_node,
        challenge(&OWNER_SEED, &bk, 0, now, 63),
        &m,
        now,
        false,
    );
    assert_eq!(carrier_code(&c), Some(RejectCode::WrongRecipient));
    // Once the hop is forgotten (2 epochs later), A says NOT_HELD.
    let later = now + handed_on_lifetime_ms(600) + 1;
    let (c, _) = run_audit(
        &mut a,
        challenge(&OWNER_SEED, &ak, 0, later, 64),
        &m,
        later,
        false,
    );
    assert_eq!(carrier_code(&c), Some(RejectCode::NotHeld));

    // B's locator is sealed to the repair key: the repair seed opens it.
    let b_held = b.book.held(&crypto::wanderer_id(&owner), 0).unwrap();
    assert_eq!(sealing_key(&b_held.manifest).to_vec(), m.fields.repair_key);
    let holder = locator::holder_info(&b.key(), &[], &b_held.record.hash);
    let value = locator::build_value(
        &b_held.locator_secret,
        &sealing_key(&b_held.manifest),
        0,
        1,
        locator::expires_at_ms(now, 600),
        &holder,
        &[8; 32],
    )
    .unwrap();
    let key = public_key(&crypto::locator_seed_for(2, &OWNER_SEED, 0, 0).unwrap());
    let rec = locator::validate(&locator::dht_key(&key), &value, now).unwrap();
    let opened =
        locator::open_holder(&crypto::sealing_seed(2, &OWNER_SEED).unwrap(), &rec).unwrap();
    assert_eq!(opened, holder);
    assert!(locator::open_holder(&OWNER_SEED, &rec).is_err());
}

/// A spot audit (§18.4 A3): signed by a carrier's own peer key, no grant.
fn spot(by: &Node, carrier: &[u8; 32], now: u64, nonce: u8) -> AuditChallenge {
    let spec = ChallengeSpec {
        owner_key: public_key(&OWNER_SEED),
        shard_index: 0,
        carrier: *carrier,
        leaf_index: 1,
        time_ms: now,
        nonce: [nonce; 16],
    };
    audit::sign_challenge(&signing_key(&by.seed), &spec, &[])
}

/// Hands `from`'s copy of shard 0 on to `to` by a TTL hop.
fn ttl_hop(m: &Manifest, shard: &[u8], from: &mut Node, to: &mut Node, now: u64) {
    let owner = public_key(&OWNER_SEED);
    let held = from
        .book
        .held(&crypto::wanderer_id(&owner), 0)
        .unwrap()
        .clone();
    let rec = sign_next_record(
        &signing_key(&from.seed),
        &held.record,
        &to.key(),
        Reason::Ttl,
        now,
    );
    let offer = make_offer(&m.clone(), &held.chain, &rec, &held.locator_secret);
    let from_key = from.key();
    handoff(offer, shard.to_vec(), from_key, Some(from), to, now).unwrap();
}

#[test]
fn the_peer_that_handed_a_shard_on_may_audit_its_receiver_and_nobody_else_may() {
    let (m, shards) = wanderer_v2(&[0x33; 5000], 2, 3, false);
    let owner = public_key(&OWNER_SEED);
    let (mut a, mut b, mut c) = (Node::new(1), Node::new(2), Node::new(3));
    handoff(
        genesis(&m, 0, &a.key()),
        shards[0].clone(),
        owner,
        None,
        &mut a,
        T0,
    )
    .unwrap();
    ttl_hop(&m, &shards[0], &mut a, &mut b, T0 + 10);
    let (bk, ck) = (b.key(), c.key());
    // A handed B the shard: B proves to A, without any grant.
    let now = T0 + 20;
    let (v, _) = run_audit(&mut b, spot(&a, &bk, now, 1), &m, now, false);
    assert!(
        matches!(v.verdict(), Some(AuditVerdict::Proved { .. })),
        "{:?}",
        v.failure()
    );
    // C never handed B anything: refused at A3, as a stranger.
    let (v, _) = run_audit(&mut b, spot(&c, &bk, now, 2), &m, now, false);
    assert_eq!(carrier_code(&v), Some(RejectCode::Unauthorized));
    // B hands it on to C: A may still audit B, which shows the hop (moved).
    ttl_hop(&m, &shards[0], &mut b, &mut c, T0 + 30);
    let now = T0 + 40;
    let (v, _) = run_audit(&mut b, spot(&a, &bk, now, 3), &m, now, false);
    let Some(AuditVerdict::Moved { link }) = v.verdict() else {
        panic!("B answers moved, got {:?}", v.failure());
    };
    assert_eq!(link.record.fields.to_peer, ck.to_vec());
    // A may not audit C (B handed it there); B may.
    let (v, _) = run_audit(&mut c, spot(&a, &ck, now, 4), &m, now, false);
    assert_eq!(carrier_code(&v), Some(RejectCode::Unauthorized));
    let (v, _) = run_audit(&mut c, spot(&b, &ck, now, 5), &m, now, false);
    assert!(
        matches!(v.verdict(), Some(AuditVerdict::Proved { .. })),
        "{:?}",
        v.failure()
    );
    // A damaged copy fails B's spot audit like the owner's.
    let (v, _) = run_audit(&mut c, spot(&b, &ck, now, 6), &m, now, true);
    assert_eq!(carrier_code(&v), Some(RejectCode::NotHeld));
}

#[test]
fn a_shard_whose_signed_root_is_wrong_is_refused() {
    let (m, shards) = wanderer_v2(&[1; 3000], 2, 2, true);
    let mut a = Node::new(1);
    let got = handoff(
        genesis(&m, 0, &a.key()),
        shards[0].clone(),
        public_key(&OWNER_SEED),
        None,
        &mut a,
        T0,
    );
    assert_eq!(got, Err(RejectCode::ShardHashMismatch));
    assert!(a.book.held_shards().next().is_none() && a.stored.is_empty());
    // The other shard's root is right.
    handoff(
        genesis(&m, 1, &a.key()),
        shards[1].clone(),
        public_key(&OWNER_SEED),
        None,
        &mut a,
        T0,
    )
    .unwrap();
}

#[test]
fn audit_timers_and_a_version_1_manifest() {
    let a = Node::new(1);
    let mut carrier = AuditCarrier::new(a.key(), T0);
    carrier.handle_timer(T0 + AUDIT_REQUEST_TIMEOUT_MS - 1);
    assert_eq!(carrier.state(), AuditCarrierState::AwaitChallenge);
    carrier.handle_timer(T0 + AUDIT_REQUEST_TIMEOUT_MS);
    assert_eq!(carrier.state(), AuditCarrierState::Rejected);
    assert_eq!(carrier.error().unwrap().code, RejectCode::Timeout);

    let (m, _) = wanderer_v2(&[2; 100], 1, 1, false);
    let ch = challenge(&OWNER_SEED, &a.key(), 0, T0, 1);
    let mut c = AuditChallenger::new(ch.clone(), m.clone()).unwrap();
    c.start(T0);
    c.handle_timer(T0 + AUDIT_RESPONSE_TIMEOUT_MS - 1);
    assert_eq!(c.state(), ChallengerState::Challenged);
    c.handle_timer(T0 + AUDIT_RESPONSE_TIMEOUT_MS);
    assert_eq!(c.state(), ChallengerState::Failed);
    assert_eq!(c.failure().unwrap().0.code, RejectCode::Timeout);

    // A version 1 manifest cannot be audited by a challenger.
    let mut body = m.fields.clone();
    body.version = 1;
    let v1 = sign_body(&body, signing::DOMAIN_MANIFEST, &signing_key(&OWNER_SEED));
    let err = AuditChallenger::new(ch, v1).err().unwrap();
    assert_eq!(err.code, RejectCode::UnsupportedVersion);
}
