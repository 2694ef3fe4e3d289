//! The event loop: one libp2p swarm, the stdin control channel and the carrier's handoffs.
//!
//! The swarm lives in this task alone. Handoffs run as their own tasks on
//! libp2p-stream streams and report back through a channel; the loop keeps
//! the carrier state (what is held, when it moves on, who refused what).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, GetClosestPeersOk, GetRecordOk, PeerRecord, QueryId, QueryResult, Quorum};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, noise, ping, tcp, yamux, Multiaddr, PeerId, Swarm};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::behaviour::{
    Behaviour, BehaviourEvent, AUDIT_PROTOCOL, FETCH_PROTOCOL, KAD_PROTOCOL, MIGRATE_PROTOCOL,
};
use super::control::{self, Command};
use super::events::{emit, emit_line, hex};
use super::handoffs::{Carrier, HandoffReport, Tamper};
use super::locator;

/// Connections stay open this long without streams (py-libp2p keeps its own open).
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(300);
/// How long `ready` may take (listeners up).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// What the binary was started with.
pub struct Options {
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub key: Keypair,
    pub seed: [u8; 32],
    pub epoch: Option<Duration>,
    pub tamper: Tamper,
}

/// A control command waiting for a kad query to finish.
enum Pending {
    FindPeer {
        id: Value,
        target: PeerId,
    },
    GetRecord {
        id: Value,
        key: String,
        values: Vec<Value>,
    },
    PutRecord {
        id: Value,
        key: String,
    },
    Publish {
        key: String,
    },
}

pub async fn run(opts: Options) -> Result<(), String> {
    let mut swarm = build_swarm(opts.key.clone())?;
    let local = *swarm.local_peer_id();
    for addr in &opts.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    }
    let listen_addrs = await_listeners(&mut swarm, opts.listen.len()).await?;
    let shown: Vec<String> = listen_addrs
        .iter()
        .map(|a| a.clone().with(Protocol::P2p(local)).to_string())
        .collect();
    emit_line(&format!("ready {local} {}", shown.join(" ")));

    for addr in &opts.bootstrap {
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            return Err(format!("--bootstrap {addr} must end in /p2p/<peer id>"));
        };
        swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
        if let Err(e) = swarm.dial(addr.clone()) {
            emit(json!({"event": "dial_failed", "addr": addr.to_string(), "error": e.to_string()}));
        }
    }

    let mut commands = control::spawn_stdin_reader();
    let (report_tx, mut reports) = mpsc::unbounded_channel::<HandoffReport>();
    let mut stream_control = swarm.behaviour().stream.new_control();
    let incoming = stream_control
        .accept(MIGRATE_PROTOCOL)
        .map_err(|e| format!("cannot register {MIGRATE_PROTOCOL}: {e}"))?;
    let holder_addrs: Vec<Multiaddr> = listen_addrs
        .iter()
        .map(|a| a.clone().with(Protocol::P2p(local)))
        .collect();
    let mut carrier = Carrier::new(
        opts.seed,
        stream_control,
        report_tx,
        opts.epoch,
        opts.tamper,
        holder_addrs,
    );
    carrier.spawn_acceptor(incoming);
    let fetches = swarm
        .behaviour()
        .stream
        .new_control()
        .accept(FETCH_PROTOCOL)
        .map_err(|e| format!("cannot register {FETCH_PROTOCOL}: {e}"))?;
    carrier.spawn_fetch_acceptor(fetches);
    let audits = swarm
        .behaviour()
        .stream
        .new_control()
        .accept(AUDIT_PROTOCOL)
        .map_err(|e| format!("cannot register {AUDIT_PROTOCOL}: {e}"))?;
    carrier.spawn_audit_acceptor(audits);

    let mut pending: HashMap<QueryId, Pending> = HashMap::new();
    let mut migrate_peers: HashSet<PeerId> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut stdin_open = true;

    loop {
        tokio::select! {
            event = swarm.select_next_some() => {
                on_swarm_event(&mut swarm, event, &mut pending, &mut migrate_peers);
            }
            cmd = commands.recv(), if stdin_open => match cmd {
                Some(cmd) => on_command(&mut swarm, &mut carrier, cmd, &mut pending),
                None => stdin_open = false,
            },
            Some(report) = reports.recv() => {
                if let Some((key, value, expires)) = carrier.on_report(report) {
                    publish(&mut swarm, &mut pending, key, value, expires);
                }
                for (key, value) in carrier.take_unpublished() {
                    // Stop answering with our own locator (spec §6.10); a newer one
                    // stored meanwhile (the next carrier's) stays.
                    let rkey = kad::RecordKey::new(&key);
                    let kad = &mut swarm.behaviour_mut().kad;
                    if kad.store_mut().get(&rkey).is_some_and(|r| r.value == value) {
                        kad.remove_record(&rkey);
                        emit(json!({"event": "locator_withdrawn", "key": key}));
                    }
                }
            }
            _ = tick.tick() => {
                let peers: Vec<PeerId> = migrate_peers
                    .iter()
                    .filter(|p| swarm.is_connected(p))
                    .copied()
                    .collect();
                for (key, value, expires) in carrier.on_tick(Instant::now(), &peers) {
                    publish(&mut swarm, &mut pending, key, value, expires);
                }
            }
        }
    }
}

fn build_swarm(key: Keypair) -> Result<Swarm<Behaviour>, String> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| format!("tcp transport: {e}"))?
        .with_websocket(noise::Config::new, yamux::Config::default);
    let swarm = futures::executor::block_on(swarm)
        .map_err(|e| format!("websocket transport: {e}"))?
        .with_behaviour(Behaviour::new)
        .map_err(|e| format!("behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

async fn await_listeners(swarm: &mut Swarm<Behaviour>, n: usize) -> Result<Vec<Multiaddr>, String> {
    let mut addrs = Vec::new();
    let deadline = tokio::time::sleep(READY_TIMEOUT);
    tokio::pin!(deadline);
    while addrs.len() < n {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } => addrs.push(address),
                SwarmEvent::ListenerError { error, .. } => return Err(format!("listener: {error}")),
                SwarmEvent::ListenerClosed { reason: Err(e), addresses, .. } => {
                    return Err(format!("listener on {addresses:?} closed: {e}"))
                }
                _ => {}
            },
            _ = &mut deadline => return Err("listeners did not come up in time".into()),
        }
    }
    Ok(addrs)
}

fn transport_of(addr: &Multiaddr) -> &'static str {
    if addr
        .iter()
        .any(|p| matches!(p, Protocol::Ws(_) | Protocol::Wss(_)))
    {
        "ws"
    } else {
        "tcp"
    }
}

fn on_swarm_event(
    swarm: &mut Swarm<Behaviour>,
    event: SwarmEvent<BehaviourEvent>,
    pending: &mut HashMap<QueryId, Pending>,
    migrate_peers: &mut HashSet<PeerId>,
) {
    match event {
        SwarmEvent::ConnectionEstablished {
            peer_id,
            endpoint,
            num_established,
            ..
        } => {
            let addr = endpoint.get_remote_address();
            emit(json!({
                "event": "connected", "peer": peer_id.to_string(), "addr": addr.to_string(),
                "transport": transport_of(addr), "dialer": endpoint.is_dialer(),
                "connections": num_established.get(),
            }));
        }
        SwarmEvent::ConnectionClosed {
            peer_id,
            num_established,
            cause,
            ..
        } => {
            emit(json!({
                "event": "disconnected", "peer": peer_id.to_string(),
                "connections": num_established,
                "cause": cause.map(|c| c.to_string()),
            }));
        }
        SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
            emit(json!({
                "event": "dial_failed", "peer": peer_id.map(|p| p.to_string()),
                "error": error.to_string(),
            }));
        }
        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
            peer_id,
            info,
            ..
        })) => {
            let protocols: Vec<String> = info.protocols.iter().map(|p| p.to_string()).collect();
            if info.protocols.contains(&KAD_PROTOCOL) {
                for addr in &info.listen_addrs {
                    swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                }
            }
            if info.protocols.contains(&MIGRATE_PROTOCOL) {
                migrate_peers.insert(peer_id);
            }
            emit(json!({
                "event": "identified", "peer": peer_id.to_string(),
                "agent": info.agent_version, "protocols": protocols,
                "listen_addrs": info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            }));
        }
        SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result, .. })) => {
            match result {
                Ok(rtt) => emit(json!({
                    "event": "ping", "peer": peer.to_string(), "rtt_ms": rtt.as_secs_f64() * 1000.0,
                })),
                Err(e) => emit(
                    json!({"event": "ping_failed", "peer": peer.to_string(), "error": e.to_string()}),
                ),
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => on_kad_event(swarm, event, pending),
        _ => {}
    }
}

fn on_kad_event(
    swarm: &mut Swarm<Behaviour>,
    event: kad::Event,
    pending: &mut HashMap<QueryId, Pending>,
) {
    match event {
        kad::Event::InboundRequest {
            request:
                kad::InboundRequest::PutRecord {
                    source,
                    record: Some(record),
                    ..
                },
        } => {
            let key = String::from_utf8_lossy(record.key.as_ref()).into_owned();
            match locator::validate(record.key.as_ref(), &record.value, locator::now_ms()) {
                Ok(info) => {
                    let mut record = record;
                    record.expires = Some(locator::expiry_instant(info.expires_at_ms));
                    record.publisher = None;
                    let stored = swarm.behaviour_mut().kad.store_mut().put(record).is_ok();
                    emit(json!({
                        "event": "record_stored", "key": key, "from": source.to_string(),
                        "generation": info.generation, "hop": info.hop, "stored": stored,
                    }));
                }
                Err(e) => emit(json!({
                    "event": "record_refused", "key": key, "from": source.to_string(),
                    "code": e.code, "reason": e.reason,
                })),
            }
        }
        kad::Event::RoutingUpdated { peer, .. } => {
            emit(json!({"event": "routing_updated", "peer": peer.to_string()}));
        }
        kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } => on_query_progress(swarm, id, result, step.last, pending),
        _ => {}
    }
}

fn on_query_progress(
    swarm: &mut Swarm<Behaviour>,
    id: QueryId,
    result: QueryResult,
    last: bool,
    pending: &mut HashMap<QueryId, Pending>,
) {
    match result {
        QueryResult::GetClosestPeers(result) => {
            let Some(Pending::FindPeer { id: cmd_id, target }) = pending.remove(&id) else {
                return;
            };
            let peers = match result {
                Ok(GetClosestPeersOk { peers, .. }) => peers,
                Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
            };
            let hit = peers.iter().find(|p| p.peer_id == target);
            // The query keeps the addresses of the last answer naming the peer (py-libp2p
            // may name it without addresses); the routing table has what was dialed.
            let query_addrs: Vec<String> = hit
                .map(|p| p.addrs.iter().map(|a| a.to_string()).collect())
                .unwrap_or_default();
            let mut routing_addrs: Vec<String> = Vec::new();
            for bucket in swarm.behaviour_mut().kad.kbuckets() {
                for entry in bucket.iter() {
                    if *entry.node.key.preimage() == target {
                        routing_addrs.extend(entry.node.value.iter().map(|a| a.to_string()));
                    }
                }
            }
            let mut addrs = query_addrs.clone();
            addrs.extend(
                routing_addrs
                    .iter()
                    .filter(|a| !query_addrs.contains(a))
                    .cloned(),
            );
            emit(json!({
                "reply": "find_peer", "id": cmd_id, "peer": target.to_string(),
                "found": hit.is_some(), "addrs": addrs, "query_addrs": query_addrs,
                "routing_addrs": routing_addrs, "connected": swarm.is_connected(&target),
                "closest": peers.iter().map(|p| p.peer_id.to_string()).collect::<Vec<_>>(),
            }));
        }
        QueryResult::GetRecord(result) => {
            if let Some(Pending::GetRecord { values, .. }) = pending.get_mut(&id) {
                if let Ok(GetRecordOk::FoundRecord(PeerRecord { peer, record })) = result {
                    let verdict =
                        locator::validate(record.key.as_ref(), &record.value, locator::now_ms());
                    values.push(json!({
                        "from": peer.map(|p| p.to_string()),
                        "value": hex(&record.value),
                        "valid": verdict.is_ok(),
                        "code": verdict.as_ref().err().map(|e| e.code.clone()),
                        "hop": verdict.as_ref().ok().map(|i| i.hop),
                    }));
                }
            }
            if last {
                if let Some(Pending::GetRecord {
                    id: cmd_id,
                    key,
                    values,
                }) = pending.remove(&id)
                {
                    emit(
                        json!({"reply": "get_record", "id": cmd_id, "key": key, "values": values}),
                    );
                }
            }
        }
        QueryResult::PutRecord(result) => {
            let (ok, error) = match &result {
                Ok(_) => (true, None),
                Err(e) => (false, Some(e.to_string())),
            };
            match pending.remove(&id) {
                Some(Pending::PutRecord { id: cmd_id, key }) => emit(json!({
                    "reply": "put_record", "id": cmd_id, "key": key, "ok": ok, "error": error,
                })),
                Some(Pending::Publish { key }) => emit(json!({
                    "event": "locator_published", "key": key, "ok": ok, "error": error,
                })),
                _ => {}
            }
        }
        QueryResult::Bootstrap(Ok(_)) if last => {
            let known: usize = swarm
                .behaviour_mut()
                .kad
                .kbuckets()
                .map(|b| b.num_entries())
                .sum();
            emit(json!({"event": "bootstrapped", "routing_table": known}));
        }
        _ => {}
    }
}

fn publish(
    swarm: &mut Swarm<Behaviour>,
    pending: &mut HashMap<QueryId, Pending>,
    key: String,
    value: Vec<u8>,
    expires_at_ms: u64,
) {
    let mut record = kad::Record::new(kad::RecordKey::new(&key), value);
    record.expires = Some(locator::expiry_instant(expires_at_ms));
    match swarm.behaviour_mut().kad.put_record(record, Quorum::One) {
        Ok(qid) => {
            pending.insert(qid, Pending::Publish { key });
        }
        Err(e) => emit(
            json!({"event": "locator_published", "key": key, "ok": false, "error": e.to_string()}),
        ),
    }
}

fn on_command(
    swarm: &mut Swarm<Behaviour>,
    carrier: &mut Carrier,
    cmd: Command,
    pending: &mut HashMap<QueryId, Pending>,
) {
    match cmd {
        Command::Invalid { id, error } => emit(json!({"reply": "error", "id": id, "error": error})),
        Command::Dial { id, addr } => {
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
            let result = swarm.dial(addr.clone());
            emit(json!({
                "reply": "dial", "id": id, "addr": addr.to_string(), "ok": result.is_ok(),
                "error": result.err().map(|e| e.to_string()),
            }));
        }
        Command::Bootstrap { id } => {
            let result = swarm.behaviour_mut().kad.bootstrap();
            emit(json!({"reply": "bootstrap", "id": id, "ok": result.is_ok()}));
        }
        Command::FindPeer { id, peer } => {
            let qid = swarm.behaviour_mut().kad.get_closest_peers(peer);
            pending.insert(qid, Pending::FindPeer { id, target: peer });
        }
        Command::GetRecord { id, key } => {
            let qid = swarm
                .behaviour_mut()
                .kad
                .get_record(kad::RecordKey::new(&key));
            pending.insert(
                qid,
                Pending::GetRecord {
                    id,
                    key,
                    values: Vec::new(),
                },
            );
        }
        Command::PutRecord { id, key, value } => {
            // Sent as is to the connected DHT peers, never stored here: this is how the
            // tests hand a Python node a record (a forged one included) to judge.
            let peers: Vec<PeerId> = swarm.connected_peers().copied().collect();
            let record = kad::Record::new(kad::RecordKey::new(&key), value);
            let qid =
                swarm
                    .behaviour_mut()
                    .kad
                    .put_record_to(record, peers.into_iter(), Quorum::One);
            pending.insert(qid, Pending::PutRecord { id, key });
        }
        Command::Peers { id } => {
            let peers: Vec<String> = swarm.connected_peers().map(|p| p.to_string()).collect();
            emit(json!({"reply": "peers", "id": id, "peers": peers}));
        }
        Command::Status { id } => {
            emit(json!({"reply": "status", "id": id, "held": carrier.status()}))
        }
        Command::Tamper { id, tamper } => {
            carrier.set_tamper(tamper);
            emit(json!({"reply": "tamper", "id": id, "ok": true}));
        }
        Command::HandOff { id } => {
            carrier.hand_off_now();
            emit(json!({"reply": "hand_off", "id": id, "ok": true}));
        }
    }
}
