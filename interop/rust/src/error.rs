//! The one error type of the library: a spec reject code with a detail for logs (spec §8).

use crate::proto::RejectCode;

/// A check failed: `code` is what goes on the wire (spec §8), `detail` is
/// for logs only (a node MUST NOT act on it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", code.name())]
pub struct WdpError {
    pub code: RejectCode,
    pub detail: String,
}

impl WdpError {
    pub fn new(code: RejectCode, detail: impl Into<String>) -> Self {
        WdpError {
            code,
            detail: detail.into(),
        }
    }
}

/// Shorthand: `Err(fail(code, "..."))`.
pub fn fail(code: RejectCode, detail: impl Into<String>) -> WdpError {
    WdpError::new(code, detail)
}

pub type Result<T> = std::result::Result<T, WdpError>;
