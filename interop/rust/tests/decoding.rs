//! Decoding choices the vectors do not pin: unknown fields inside signed
//! bodies are kept and covered by the signature (spec §1, §2), and of two
//! `oneof` members in one frame the last one wins (spec §6.3 check 3).

use prost::Message;

use wdp_interop::carrier::{CarrierBook, CarrierConfig};
use wdp_interop::custody::make_offer;
use wdp_interop::messages::{self, decode_migrate, Msg};
use wdp_interop::objects::{parse_record, sign_body};
use wdp_interop::proto::{Cipher, CustodyRecordBody, ManifestBody, Reason, RejectCode, Signed};
use wdp_interop::signing::{self, public_key, sha256, signing_key};
use wdp_interop::{crypto, erasure, Receiver, ReceiverOutput};

const T0: u64 = 1_700_000_000_000;

#[test]
fn an_unknown_field_in_a_record_is_signed_kept_and_forwarded() {
    let owner_seed = [3u8; 32];
    let owner = public_key(&owner_seed);
    let node = [1u8; 32];
    let shards = erasure::encode(&[7u8; 40], 1, 1).unwrap();
    let manifest = sign_body(
        &ManifestBody {
            version: 1,
            wanderer_id: crypto::wanderer_id(&owner).to_vec(),
            owner_key: owner.to_vec(),
            cipher: Cipher::Chacha20Poly1305 as i32,
            nonce: vec![0; 12],
            payload_size: 24,
            k: 1,
            n: 1,
            shard_size: 40,
            shard_hashes: vec![sha256(&shards[0]).to_vec()],
            epoch_seconds: 60,
            created_at_ms: T0,
            ..Default::default()
        },
        signing::DOMAIN_MANIFEST,
        &signing_key(&owner_seed),
    );
    let secret = crypto::locator_seed(&owner_seed, 0, 0);
    let fields = CustodyRecordBody {
        version: 1,
        wanderer_id: manifest.fields.wanderer_id.clone(),
        shard_index: 0,
        generation: 0,
        hop: 0,
        from_peer: owner.to_vec(),
        to_peer: public_key(&node).to_vec(),
        shard_hash: manifest.fields.shard_hashes[0].clone(),
        manifest_hash: manifest.hash.to_vec(),
        locator_key: public_key(&secret).to_vec(),
        reason: Reason::Genesis as i32,
        time_ms: T0,
        prev_record_hash: vec![],
    };
    // Field 99 (varint 5) is unknown to v1: a future field.
    let mut body = fields.encode_to_vec();
    body.extend_from_slice(&[0x98, 0x06, 0x05]);
    let signature =
        signing::sign(&signing_key(&owner_seed), signing::DOMAIN_RECORD, &body).to_vec();
    let record = parse_record(&Signed {
        body: body.clone(),
        signature,
    })
    .unwrap();
    assert_eq!(
        record.fields, fields,
        "the unknown field is ignored by the parser"
    );
    assert_eq!(
        record.hash,
        sha256(&body),
        "the hash covers the received bytes"
    );

    let offer = make_offer(&manifest, &[], &record, &secret);
    let mut book = CarrierBook::new(CarrierConfig::default());
    let mut rx = Receiver::new(signing_key(&node), Some(owner), T0);
    rx.feed(T0, &messages::offer_frame(&offer), &mut book);
    rx.feed(T0, &messages::data_frame(0, &shards[0]), &mut book);
    let mut custody = None;
    while let Some(out) = rx.poll_output() {
        match out {
            ReceiverOutput::Store { .. } => rx.store_finished(T0, true),
            ReceiverOutput::Custody(c) => custody = Some(c),
            _ => {}
        }
    }
    let custody = custody.expect("custody taken");
    assert_eq!(
        custody.record.body, body,
        "the kept record is the received bytes"
    );
    assert_eq!(custody.receipt.fields.record_hash, sha256(&body).to_vec());
    assert_eq!(
        custody.chain[0].to_proto().record.unwrap().body,
        body,
        "forwarded as received"
    );
}

#[test]
fn of_two_message_kinds_the_last_one_wins() {
    let accept = messages::accept_frame(&[1u8; 32]);
    let done = messages::done_frame(&[2u8; 32]);
    let mut payload = accept[1..].to_vec();
    payload.extend_from_slice(&done[1..]);
    assert_eq!(
        decode_migrate(&payload).unwrap(),
        Msg::Done {
            record_hash: [2u8; 32]
        }
    );
    let mut reversed = done[1..].to_vec();
    reversed.extend_from_slice(&accept[1..]);
    assert_eq!(
        decode_migrate(&reversed).unwrap(),
        Msg::Accept {
            record_hash: [1u8; 32]
        }
    );
    // A known kind with the wrong wire type fails the parse (spec §1).
    let err = decode_migrate(&[0x10, 0x01]).expect_err("accept as a varint");
    assert_eq!(err.code, RejectCode::Malformed);
    // The same kind twice merges as protobuf says, and is one kind.
    let mut twice = accept[1..].to_vec();
    twice.extend_from_slice(&accept[1..]);
    assert!(matches!(decode_migrate(&twice), Ok(Msg::Accept { .. })));
    // Unknown top-level fields are ignored.
    let mut extra = done[1..].to_vec();
    extra.extend_from_slice(&[0x38, 0x01]);
    assert!(matches!(decode_migrate(&extra), Ok(Msg::Done { .. })));
}
