//! `/wdp/fetch/1.0`, the carrier's side: the owner reads a shard this node carries.
//!
//! Each stream drives the library's `wdp_interop::fetch::carrier::FetchCarrier`
//! (checks F1-F7 of spec §15.5) against the carrier book and the shard bytes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, Stream};
use serde_json::json;
use wdp_interop::fetch::carrier::{CarrierOutput, CarrierState, FetchCarrier};

use super::events::emit;
use super::handoffs::{sleep_until_ms, write, Shared, CHUNK_SIZE, READ_SIZE};
use super::locator::now_ms;

/// Serve one inbound fetch stream from `peer`.
pub(super) async fn serve(
    peer: PeerId,
    mut stream: Stream,
    local_key: [u8; 32],
    shared: Arc<Mutex<Shared>>,
) {
    let mut fc = FetchCarrier::new(local_key, CHUNK_SIZE, now_ms());
    let mut buf = vec![0u8; READ_SIZE];
    let mut served = None;
    let mut closed = false;
    loop {
        while let Some(output) = fc.poll_output() {
            match output {
                CarrierOutput::Send(bytes) => {
                    if !closed && !write(&mut stream, &bytes, None).await {
                        fc.stream_lost();
                    }
                }
                CarrierOutput::Load {
                    manifest: _,
                    record,
                } => {
                    let shard = shared
                        .lock()
                        .expect("carrier lock")
                        .shards
                        .get(&record.hash)
                        .cloned();
                    served = Some((record.fields.shard_index, record.fields.hop));
                    fc.loaded(shard.as_deref());
                }
                CarrierOutput::Close => {
                    if !closed {
                        let _ = tokio::time::timeout(Duration::from_secs(5), stream.close()).await;
                        closed = true;
                    }
                }
            }
        }
        if matches!(fc.state(), CarrierState::Done | CarrierState::Rejected) || closed {
            break;
        }
        tokio::select! {
            n = stream.read(&mut buf) => match n {
                Ok(0) | Err(_) => fc.stream_lost(),
                Ok(n) => {
                    let mut s = shared.lock().expect("carrier lock");
                    let Shared { book, nonces, .. } = &mut *s;
                    fc.feed(now_ms(), &buf[..n], nonces, &*book);
                }
            },
            _ = sleep_until_ms(fc.next_deadline()) => fc.handle_timer(now_ms()),
        }
    }
    match (fc.state(), fc.error()) {
        (CarrierState::Done, _) => emit(json!({
            "event": "fetch_served", "from": peer.to_string(),
            "shard_index": served.map(|s| s.0), "hop": served.map(|s| s.1),
        })),
        (_, Some(e)) => emit(json!({
            "event": "fetch_refused", "from": peer.to_string(),
            "code": e.code.name(), "code_num": e.code as i32, "detail": e.detail,
        })),
        _ => {}
    }
}
