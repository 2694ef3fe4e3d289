//! The libp2p behaviours of a WDP carrier, and the settings that make it talk to py-libp2p.

use std::num::NonZeroUsize;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore, Mode, StoreInserts};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, ping, StreamProtocol};

/// Kademlia protocol name: the py-libp2p reference runs the IPFS DHT protocol.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/kad/1.0.0");
/// The WDP handoff protocol (spec section 6).
pub const MIGRATE_PROTOCOL: StreamProtocol = StreamProtocol::new("/wdp/migrate/1.0");
/// The owner's read protocol (spec §15).
pub const FETCH_PROTOCOL: StreamProtocol = StreamProtocol::new("/wdp/fetch/1.0");
/// The possession audit protocol (spec §18).
pub const AUDIT_PROTOCOL: StreamProtocol = StreamProtocol::new("/wdp/audit/1.0");
/// Identify's protocol version string (informative; py-libp2p sends `ipfs/0.1.0`).
pub const IDENTIFY_VERSION: &str = "ipfs/0.1.0";
/// Kad message limit. Locator values are at most 2048 bytes, so the rust-libp2p
/// default (16 KiB) would do; a closest-peers answer with many addresses is larger.
pub const KAD_MAX_PACKET: usize = 64 * 1024;
/// Kad request timeout.
pub const KAD_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often each connection is pinged (RTT events).
pub const PING_INTERVAL: Duration = Duration::from_secs(1);

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<MemoryStore>,
    pub stream: libp2p_stream::Behaviour,
}

impl Behaviour {
    pub fn new(key: &Keypair) -> Self {
        let peer_id = key.public().to_peer_id();
        let mut config = kad::Config::new(KAD_PROTOCOL);
        config
            .set_max_packet_size(KAD_MAX_PACKET)
            .set_query_timeout(KAD_QUERY_TIMEOUT)
            // Every inbound PUT comes to us as an event; we validate and store it ourselves.
            .set_record_filtering(StoreInserts::FilterBoth)
            // WDP records carry their own expiry; the publisher republishes.
            .set_replication_interval(None)
            .set_publication_interval(None)
            .set_record_ttl(None)
            .set_replication_factor(NonZeroUsize::new(20).expect("non-zero"));
        let mut kad = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), config);
        kad.set_mode(Some(Mode::Server));
        Self {
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_VERSION.to_string(), key.public())
                    .with_agent_version(format!("wdp-rust-peer/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_INTERVAL)),
            kad,
            stream: libp2p_stream::Behaviour::new(),
        }
    }
}
