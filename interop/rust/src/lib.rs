//! WDP v1 from the spec alone: a sans-IO protocol core written from
//! `protocols/README.md`, `protocols/wdp.proto`, `protocols/coding-and-crypto.md`
//! and `protocols/vectors/v1/`. No libp2p, no async, no clock and no global
//! randomness in here: times (`now_ms`, Unix milliseconds) and random bytes
//! are parameters. The network driver lives in `net/` and `bin/`.
//!
//! # Public API, by task
//!
//! **Bytes on a stream** ([`framing`]): `encode_frame`, `FrameDecoder`
//! (`push` bytes, `next_payload`), prefix errors as [`WdpError`] with the
//! spec's [`RejectCode`].
//!
//! **Receiving a shard** (`/wdp/migrate/1.0`, spec §6.6, §7). One
//! [`CarrierBook`] per node, shared by all its streams (it answers stages C
//! and D and remembers custody); `remote_ed25519_key` is
//! `signing::key_from_peer_id_bytes(&peer_id.to_bytes())` (`None` if the
//! PeerId is not an Ed25519 identity: such a peer fails B8 at hop > 0):
//! ```text
//! let mut rx = Receiver::new(own_signing_key, remote_ed25519_key, now_ms);
//! loop {
//!     rx.feed(now_ms, &bytes_read, &mut book);   // book: CarrierBook (or your Admission)
//!     while let Some(out) = rx.poll_output() {
//!         match out {
//!             ReceiverOutput::Send(frame) => write(frame),
//!             ReceiverOutput::Store { record_hash, shard } => { store durably; rx.store_finished(now_ms, ok) }
//!             ReceiverOutput::Custody(c) => { book.take_custody(*c); publish locator; schedule next hop }
//!             ReceiverOutput::Release { record_hash } => book.release(&record_hash),
//!             ReceiverOutput::DeleteStored { record_hash } => delete that copy,
//!             ReceiverOutput::Close => close the stream,
//!         }
//!     }
//!     // timers: when now_ms >= rx.next_deadline() call rx.handle_timer(now_ms);
//!     // on reset/EOF call rx.stream_lost().
//! }
//! ```
//!
//! **Sending a shard** (spec §6.5, §6.10): build the record with
//! [`custody::sign_next_record`] (or [`custody::sign_hop0_record`] as the
//! owner), the offer with [`custody::make_offer`] (same manifest, the ≤ 64
//! links of [`Custody::chain`], the same locator secret), then
//! `Sender::new(offer, shard, 1 << 20)?`, `start(now_ms)`, `feed` the bytes read,
//! and drain `poll_output`: `Send(frame)`, `Wipe { receipt }` (custody passed:
//! call `book.handed_off(&record)`, wipe, stop republishing), `Close`.
//! `failure()` gives the code and whether the peer sent it (spec §8 back-off).
//! To retry after a lost receipt, resend the identical offer: keep the
//! `DecodedOffer` (`sender.offer().clone()`).
//!
//! **Locators** ([`locator`], spec §9): `dht_key`, `validate` (for a kad
//! record filter), `select`, `holder_info` + `build_value` (publish),
//! `expires_at_ms`, `open_holder` (owner).
//!
//! **Fetch** ([`fetch`], spec §15): `FetchCarrier` (the carrier's machine
//! with checks F1-F7 and its `NonceCache`), `FetchClient`.
//!
//! **Audit** ([`audit`], spec §18): `AuditCarrier` (the carrier's machine
//! with checks A1-A10, its own `NonceCache` and the [`audit::HandedOn`] hops
//! it answers **moved** with), `AuditChallenger` (checks P1-P4 and M1-M3),
//! `sign_challenge`, `sign_grant`; the Merkle tree of a shard is [`merkle`].
//!
//! **Manifest version 2** (spec §4.1): `objects::parse_manifest` takes
//! versions 1 and 2; `objects::shard_root` and `objects::sealing_key` (the
//! owner key in version 1, the repair key in version 2: locators are sealed
//! to it); `crypto::repair_seed`, `crypto::locator_seed_for`,
//! `crypto::sealing_seed` (manifest versions 1 and 2 only); the receiver checks a version 2 shard's Merkle
//! root (§6.7 rule 6). The owner's ticket (§16) is [`ticket`].
//!
//! **Files of several segments** (spec §19): [`segments`] decodes an index
//! wanderer's payload (`parse_index`, §19.2), turns a version 3 ticket into
//! the version 2 ticket of its index (`index_ticket`), checks that every
//! repair seed and repair grant of the index is the file seed's
//! (`check_index`, §19.4 step 1, before any segment is fetched), gives each
//! segment's version 2 ticket (`segment_ticket`) and checks a rebuilt
//! segment's size (`check_segment_size`); an owner builds the index with
//! `build_index`. The seeds are `crypto::segment_seed` and
//! `crypto::file_index_seed`. A version 3 ticket's seed is a file seed:
//! `crypto::locator_seed_for` and `crypto::sealing_seed` refuse its version.
//!
//! **Owner side / tests**: [`crypto`] (HKDF keys, AEAD, sealed box),
//! [`erasure`] (zfec code), [`objects`] (parse and sign each object),
//! [`custody`] (offer stages A and B), [`messages`] (decode and encode each
//! migrate message), [`signing`] (domains, signing input, strict verify,
//! PeerId bytes).
//!
//! Run `cargo test` from `interop/rust`; `tests/vectors.rs`,
//! `tests/vectors_v2.rs` and `tests/segments.rs` check every vector of
//! `protocols/vectors/v1/`.

pub mod audit;
pub mod capability;
pub mod carrier;
pub mod crypto;
pub mod custody;
pub mod erasure;
pub mod error;
pub mod fetch;
pub mod framing;
pub mod limits;
pub mod locator;
pub mod merkle;
pub mod messages;
pub mod objects;
pub mod proto;
pub mod receiver;
pub mod segments;
pub mod sender;
pub mod signing;
pub mod ticket;

pub use carrier::{Admission, CarrierBook, CarrierConfig, Custody};
pub use custody::{DecodedOffer, Link};
pub use error::WdpError;
pub use proto::RejectCode;
pub use receiver::{Receiver, ReceiverOutcome, ReceiverOutput, ReceiverState};
pub use sender::{Sender, SenderOutput, SenderState};
