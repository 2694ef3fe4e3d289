//! `/wdp/audit/1.0`, the carrier's side: the owner (or a key it granted)
//! asks this node to prove it still holds a shard (spec §18).
//!
//! Each stream drives the library's `wdp_interop::audit::AuditCarrier`
//! (checks A1-A10 of spec §18.4) against the carrier book, the audit nonce
//! cache, the handed-on hops (answered with **moved**) and the shard bytes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, Stream};
use serde_json::json;
use wdp_interop::audit::{AuditAnswer, AuditCarrier, AuditCarrierOutput, AuditCarrierState};

use super::events::{emit, hex};
use super::handoffs::{sleep_until_ms, write, Shared, READ_SIZE};
use super::locator::now_ms;

/// Serve one inbound audit stream from `peer`; emits one `audit_served` line.
pub(super) async fn serve(
    peer: PeerId,
    mut stream: Stream,
    local_key: [u8; 32],
    shared: Arc<Mutex<Shared>>,
) {
    let mut ac = AuditCarrier::new(local_key, now_ms());
    let mut buf = vec![0u8; READ_SIZE];
    let mut closed = false;
    loop {
        while let Some(output) = ac.poll_output() {
            match output {
                AuditCarrierOutput::Send(bytes) => {
                    if !closed && !write(&mut stream, &bytes, None).await {
                        ac.stream_lost();
                    }
                }
                AuditCarrierOutput::Load {
                    manifest: _,
                    record,
                } => {
                    let shard = shared
                        .lock()
                        .expect("carrier lock")
                        .shards
                        .get(&record.hash)
                        .cloned();
                    ac.loaded(shard.as_deref());
                }
                AuditCarrierOutput::Close => {
                    if !closed {
                        let _ = tokio::time::timeout(Duration::from_secs(5), stream.close()).await;
                        closed = true;
                    }
                }
            }
        }
        if ac.is_terminal() || closed {
            break;
        }
        tokio::select! {
            n = stream.read(&mut buf) => match n {
                Ok(0) | Err(_) => ac.stream_lost(),
                Ok(n) => {
                    let mut s = shared.lock().expect("carrier lock");
                    let Shared { book, audit_nonces, handed_on, .. } = &mut *s;
                    ac.feed(now_ms(), &buf[..n], audit_nonces, &*book, &*handed_on);
                }
            },
            _ = sleep_until_ms(ac.next_deadline()) => ac.handle_timer(now_ms()),
        }
    }
    let (shard_index, leaf_index) = match ac.challenged() {
        Some((s, l)) => (Some(s), Some(l)),
        None => (None, None),
    };
    let mut event = json!({
        "event": "audit_served", "from": peer.to_string(),
        "shard_index": shard_index, "leaf_index": leaf_index,
        "ok": false, "answer": null, "code": null,
    });
    match (ac.state(), ac.answer(), ac.error()) {
        (AuditCarrierState::Done, Some(AuditAnswer::Proof { record, .. }), _) => {
            event["ok"] = json!(true);
            event["answer"] = json!("proof");
            event["hop"] = json!(record.fields.hop);
            event["wanderer"] = json!(hex(&record.fields.wanderer_id));
        }
        (AuditCarrierState::Done, Some(AuditAnswer::Moved { record }), _) => {
            event["answer"] = json!("moved");
            event["hop"] = json!(record.fields.hop);
            event["wanderer"] = json!(hex(&record.fields.wanderer_id));
            event["to_key"] = json!(hex(&record.fields.to_peer));
        }
        (_, _, Some(e)) => {
            event["answer"] = json!(if ac.was_lost() { "lost" } else { "reject" });
            event["code"] = json!(e.code.name());
            event["code_num"] = json!(e.code as i32);
            event["detail"] = json!(e.detail);
        }
        _ => {}
    }
    emit(event);
}
