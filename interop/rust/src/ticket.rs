//! The owner's ticket (spec §16): 71 bytes, and its text form `"wdp1"` +
//! lowercase unpadded RFC 4648 base32 (114 characters).
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 1 | version: 1 or 2, one wanderer of that manifest version; 3, a file of segments (§19) |
//! | 1 | 32 | owner seed (version 3: the file seed) |
//! | 33 | 32 | manifest hash (version 3: of the index wanderer's manifest) |
//! | 65 | 1 | k − 1 |
//! | 66 | 1 | n − 1 |
//! | 67 | 4 | first 4 bytes of SHA-256 of the 67 bytes before |
//!
//! A version 3 ticket is read here like the others; what it leads to (the
//! index wanderer's and the segments' version 2 tickets) is in
//! [`crate::segments`].

use crate::error::{fail, Result};
use crate::limits::TICKET_VERSIONS;
use crate::proto::RejectCode;
use crate::signing::sha256;

pub const TICKET_SIZE: usize = 71;
pub const TEXT_PREFIX: &str = "wdp1";
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub version: u32,
    pub owner_seed: [u8; 32],
    pub manifest_hash: [u8; 32],
    pub k: u32,
    pub n: u32,
}

impl Ticket {
    /// The 71-byte binary form. `k` and `n` must be 1..=256.
    pub fn to_bytes(&self) -> [u8; TICKET_SIZE] {
        let mut out = [0u8; TICKET_SIZE];
        out[0] = self.version as u8;
        out[1..33].copy_from_slice(&self.owner_seed);
        out[33..65].copy_from_slice(&self.manifest_hash);
        out[65] = (self.k - 1) as u8;
        out[66] = (self.n - 1) as u8;
        let sum = sha256(&out[..67]);
        out[67..].copy_from_slice(&sum[..4]);
        out
    }

    /// The text form: `"wdp1"` + base32 of the 71 bytes.
    pub fn to_text(&self) -> String {
        format!("{TEXT_PREFIX}{}", base32_encode(&self.to_bytes()))
    }

    /// Reads the binary form: refuses another length, a checksum mismatch or
    /// an unknown version (`UNSUPPORTED_VERSION`; versions 1, 2 and 3 are
    /// known, `TICKET_VERSIONS`), else `MALFORMED`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Ticket> {
        if bytes.len() != TICKET_SIZE {
            return Err(fail(RejectCode::Malformed, "a ticket is 71 bytes"));
        }
        if sha256(&bytes[..67])[..4] != bytes[67..] {
            return Err(fail(RejectCode::Malformed, "ticket checksum mismatch"));
        }
        let version = u32::from(bytes[0]);
        if !TICKET_VERSIONS.contains(&version) {
            return Err(fail(
                RejectCode::UnsupportedVersion,
                format!("ticket version {version} is not supported"),
            ));
        }
        Ok(Ticket {
            version,
            owner_seed: bytes[1..33].try_into().expect("32 bytes"),
            manifest_hash: bytes[33..65].try_into().expect("32 bytes"),
            k: u32::from(bytes[65]) + 1,
            n: u32::from(bytes[66]) + 1,
        })
    }

    /// Reads the text form, ignoring whitespace.
    pub fn from_text(text: &str) -> Result<Ticket> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let rest = compact
            .strip_prefix(TEXT_PREFIX)
            .ok_or_else(|| fail(RejectCode::Malformed, "a ticket starts with wdp1"))?;
        Ticket::from_bytes(&base32_decode(rest)?)
    }
}

/// RFC 4648 base32, lowercase, without padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes unpadded base32 (either case); `MALFORMED` on another character,
/// an impossible length or non-zero spare bits.
pub fn base32_decode(text: &str) -> Result<Vec<u8>> {
    let bad = |why: &str| fail(RejectCode::Malformed, format!("ticket base32: {why}"));
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return Err(bad("impossible length"));
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_lowercase())
            .ok_or_else(|| bad("not a base32 character"))?;
        acc = (acc << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if acc != 0 {
        return Err(bad("non-zero spare bits"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rfc4648_examples() {
        for (plain, coded) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), coded);
            assert_eq!(base32_decode(coded).unwrap(), plain.as_bytes());
        }
        assert!(base32_decode("mz").is_err(), "spare bits set");
    }

    #[test]
    fn text_round_trip_and_refusals() {
        let t = Ticket {
            version: 2,
            owner_seed: [7; 32],
            manifest_hash: [9; 32],
            k: 3,
            n: 256,
        };
        let text = t.to_text();
        assert_eq!(text.len(), 118, "\"wdp1\" and 114 base32 characters");
        assert_eq!(Ticket::from_text(&text).unwrap(), t);
        let spaced = format!("{} \n {}", &text[..50], &text[50..]);
        assert_eq!(Ticket::from_text(&spaced).unwrap(), t);
        let mut bytes = t.to_bytes();
        bytes[10] ^= 1;
        assert!(Ticket::from_bytes(&bytes).is_err(), "checksum");
        let v3 = Ticket {
            version: 3,
            ..t.clone()
        };
        assert_eq!(Ticket::from_bytes(&v3.to_bytes()).unwrap(), v3);
        for version in [0, 4, 255] {
            let other = Ticket {
                version,
                ..t.clone()
            };
            assert_eq!(
                Ticket::from_bytes(&other.to_bytes()).unwrap_err().code,
                RejectCode::UnsupportedVersion
            );
        }
        assert!(Ticket::from_text(&text.replacen("wdp1", "wdp2", 1)).is_err());
    }
}
