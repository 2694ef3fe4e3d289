//! wdp-rust-peer: a WDP v1 carrier on rust-libp2p, for interoperability tests.
//!
//! See `interop/rust/README.md`, section "Peer", for the options, the events
//! printed on stdout and the control commands read from stdin.

#[path = "../net/mod.rs"]
mod net;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use libp2p::Multiaddr;

use net::handoffs::Tamper;

const USAGE: &str = "usage: wdp-rust-peer --key-file PATH [--listen MULTIADDR]... \
[--bootstrap MULTIADDR/p2p/ID]... [--epoch SECS] [--tamper none|hash|signature|chain]

  --key-file PATH    Ed25519 identity (32-byte secret), created with mode 0600 if missing
  --listen ADDR      e.g. /ip4/127.0.0.1/tcp/0 or /ip4/127.0.0.1/tcp/0/ws (repeatable;
                     default /ip4/127.0.0.1/tcp/0)
  --bootstrap ADDR   a peer to join through, ending in /p2p/<peer id> (repeatable)
  --epoch SECS       hold each accepted shard this long before passing it on
                     (default: the manifest's epoch_seconds, at least 60 s)
  --tamper MODE      corrupt the next outbound handoff: hash (wrong shard bytes),
                     signature (bad record signature), chain (wrong prev_record_hash)";

fn fail(message: &str) -> ! {
    eprintln!("wdp-rust-peer: error: {message}\n\n{USAGE}");
    std::process::exit(2)
}

fn main() {
    let mut listen = Vec::new();
    let mut bootstrap = Vec::new();
    let mut key_file: Option<PathBuf> = None;
    let mut epoch = None;
    let mut tamper = Tamper::None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--listen" => listen.push(parse_addr(&value("--listen"))),
            "--bootstrap" => bootstrap.push(parse_addr(&value("--bootstrap"))),
            "--key-file" => key_file = Some(PathBuf::from(value("--key-file"))),
            "--epoch" => {
                let raw = value("--epoch");
                let secs: f64 = raw
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 604_800.0)
                    .unwrap_or_else(|| {
                        fail(&format!(
                            "--epoch {raw:?}: give seconds, 0 < SECS <= 604800"
                        ))
                    });
                epoch = Some(Duration::from_secs_f64(secs));
            }
            "--tamper" => {
                tamper = Tamper::from_str(&value("--tamper")).unwrap_or_else(|e| fail(&e))
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    let key_file = key_file.unwrap_or_else(|| fail("--key-file is required"));
    if listen.is_empty() {
        listen.push(parse_addr("/ip4/127.0.0.1/tcp/0"));
    }
    let (key, seed) = net::keyfile::load_or_create(&key_file).unwrap_or_else(|e| fail(&e));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let opts = net::peer::Options {
        listen,
        bootstrap,
        key,
        seed,
        epoch,
        tamper,
    };
    if let Err(e) = runtime.block_on(net::peer::run(opts)) {
        eprintln!("wdp-rust-peer: error: {e}");
        std::process::exit(1);
    }
}

fn parse_addr(text: &str) -> Multiaddr {
    Multiaddr::from_str(text).unwrap_or_else(|e| fail(&format!("{text:?} is not a multiaddr: {e}")))
}
