//! stdout is the test interface: a `ready` line, then one JSON object per line.
//! stderr is the log: the same events (pings left out) with a timestamp.

use std::io::Write;

use serde_json::Value;

/// Write one JSON object as a line on stdout (flushed at once: tests read line by line).
pub fn emit(value: Value) {
    let line = value.to_string();
    if value.get("event").and_then(Value::as_str) != Some("ping") {
        log(&line);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Write a raw line (the first `ready ...` line).
pub fn emit_line(line: &str) {
    log(line);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One log line on stderr, prefixed with Unix time in seconds.
pub fn log(message: &str) {
    let now = super::locator::now_ms();
    eprintln!("{}.{:03} wdp-rust-peer: {message}", now / 1000, now % 1000);
}

/// Lowercase hex, for bytes in events.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}
