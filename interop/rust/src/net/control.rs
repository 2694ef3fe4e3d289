//! The stdin control channel: one JSON command per line, answered by a `reply` line on stdout.
//!
//! Every command may carry an `"id"` (any JSON value), echoed in its reply.

use std::str::FromStr;

use libp2p::{Multiaddr, PeerId};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::handoffs::Tamper;

pub enum Command {
    /// `{"cmd":"dial","addr":"/ip4/.../p2p/<id>"}`
    Dial { id: Value, addr: Multiaddr },
    /// `{"cmd":"bootstrap"}`: run a Kademlia bootstrap (self lookup).
    Bootstrap { id: Value },
    /// `{"cmd":"find_peer","peer":"12D3..."}`: Kademlia FIND_NODE lookup.
    FindPeer { id: Value, peer: PeerId },
    /// `{"cmd":"get_record","key":"/wdp/..."}`: Kademlia GET_VALUE; every value is validated.
    GetRecord { id: Value, key: String },
    /// `{"cmd":"put_record","key":"/wdp/...","value":"<hex>"}`: PUT_VALUE to the
    /// connected peers as is (not validated, not stored here).
    PutRecord {
        id: Value,
        key: String,
        value: Vec<u8>,
    },
    /// `{"cmd":"peers"}`: connected peers.
    Peers { id: Value },
    /// `{"cmd":"status"}`: shards held.
    Status { id: Value },
    /// `{"cmd":"tamper","mode":"none|hash|signature|chain"}`: corrupt the next outbound handoff.
    Tamper { id: Value, tamper: Tamper },
    /// `{"cmd":"hand_off"}`: every held shard is due now (instead of at its epoch).
    HandOff { id: Value },
    /// A line that is not a valid command.
    Invalid { id: Value, error: String },
}

pub fn spawn_stdin_reader() -> mpsc::UnboundedReceiver<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            if tx.send(parse(&line)).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn parse(line: &str) -> Command {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return Command::Invalid {
                id: Value::Null,
                error: format!("not JSON: {e}"),
            };
        }
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    match parse_fields(&value, id.clone()) {
        Ok(cmd) => cmd,
        Err(error) => Command::Invalid { id, error },
    }
}

fn field<'a>(value: &'a Value, name: &str) -> Result<&'a str, String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field {name:?}"))
}

fn parse_fields(value: &Value, id: Value) -> Result<Command, String> {
    let cmd = field(value, "cmd")?;
    Ok(match cmd {
        "dial" => {
            let addr = field(value, "addr")?;
            let addr = Multiaddr::from_str(addr).map_err(|e| format!("bad addr {addr:?}: {e}"))?;
            Command::Dial { id, addr }
        }
        "bootstrap" => Command::Bootstrap { id },
        "find_peer" => {
            let peer = field(value, "peer")?;
            let peer = PeerId::from_str(peer).map_err(|e| format!("bad peer id {peer:?}: {e}"))?;
            Command::FindPeer { id, peer }
        }
        "get_record" => Command::GetRecord {
            id,
            key: field(value, "key")?.to_string(),
        },
        "put_record" => {
            let raw = field(value, "value")?;
            let bytes = hex::decode(raw).map_err(|e| format!("value is not hex: {e}"))?;
            Command::PutRecord {
                id,
                key: field(value, "key")?.to_string(),
                value: bytes,
            }
        }
        "peers" => Command::Peers { id },
        "status" => Command::Status { id },
        "tamper" => Command::Tamper {
            id,
            tamper: Tamper::from_str(field(value, "mode")?)?,
        },
        "hand_off" => Command::HandOff { id },
        other => {
            return Err(format!(
                "unknown cmd {other:?}; known: dial, bootstrap, find_peer, get_record, put_record, \
                 peers, status, tamper, hand_off"
            ))
        }
    })
}
