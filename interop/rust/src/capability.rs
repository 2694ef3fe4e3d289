//! The repair capability of a keeper (spec §16.1): "wdpr" + base32 of 167
//! bytes (version 2, one wanderer) or 71 bytes (version 3, a file).
//!
//! It holds the repair seed, never the owner seed: its holder finds, audits,
//! fetches ciphertext and relaunches, but cannot decrypt.

use crate::audit::{grant_is_valid, sign_grant};
use crate::crypto;
use crate::error::{fail, Result};
use crate::objects::wanderer_id;
use crate::proto::RejectCode;
use crate::segments::SegmentIndex;
use crate::signing::{public_key, sha256, signing_key};
use crate::ticket::{base32_decode, base32_encode, Ticket, TEXT_PREFIX as TICKET_PREFIX};

pub const TEXT_PREFIX: &str = "wdpr";
pub const WANDERER_CAPABILITY: u8 = 2;
pub const FILE_CAPABILITY: u8 = 3;
const WANDERER_SIZE: usize = 167;
const FILE_SIZE: usize = 71;

/// Why a text is not a capability, in the order §16.1 checks (the names of
/// `capability.json`'s `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Prefix,
    Characters,
    Length,
    Checksum,
    Version,
    KN,
    Grant,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Prefix => "prefix",
            Refusal::Characters => "characters",
            Refusal::Length => "length",
            Refusal::Checksum => "checksum",
            Refusal::Version => "version",
            Refusal::KN => "k_n",
            Refusal::Grant => "grant",
        }
    }
}

/// A decoded capability. `owner_key` and `grant` are those of a version 2
/// capability; a file's (version 3) has neither.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capability {
    pub version: u8,
    pub repair_seed: [u8; 32],
    pub owner_key: Option<[u8; 32]>,
    pub grant: Option<[u8; 64]>,
    pub manifest_hash: [u8; 32],
    pub k: u32,
    pub n: u32,
}

impl Capability {
    /// What the owner of `ticket` hands a keeper; `None` for a version 1
    /// ticket (no repair key: only its owner can keep it).
    pub fn of_ticket(ticket: &Ticket) -> Option<Capability> {
        let seed = crypto::repair_seed(&ticket.owner_seed);
        let (version, owner_key, grant) = match ticket.version {
            3 => (FILE_CAPABILITY, None, None),
            2 => {
                let owner = signing_key(&ticket.owner_seed);
                let grant = sign_grant(&owner, &public_key(&seed));
                (
                    WANDERER_CAPABILITY,
                    Some(public_key(&ticket.owner_seed)),
                    Some(grant),
                )
            }
            _ => return None,
        };
        Some(Capability {
            version,
            repair_seed: seed,
            owner_key,
            grant,
            manifest_hash: ticket.manifest_hash,
            k: ticket.k,
            n: ticket.n,
        })
    }

    pub fn repair_key(&self) -> [u8; 32] {
        public_key(&self.repair_seed)
    }

    /// The wanderer id of a version 2 capability.
    pub fn wanderer_id(&self) -> Option<[u8; 32]> {
        self.owner_key.map(|k| wanderer_id(&k))
    }

    /// A file's index wanderer, which its keeper reads as that wanderer's
    /// owner (§19.1): `(2, G, manifest hash, k, n)`.
    pub fn index_ticket(&self) -> Option<Ticket> {
        (self.version == FILE_CAPABILITY).then(|| Ticket {
            version: 2,
            owner_seed: crypto::file_index_seed(&self.repair_seed),
            manifest_hash: self.manifest_hash,
            k: self.k,
            n: self.n,
        })
    }

    /// Segment `i`'s version 2 capability, from a file's index (§19.1);
    /// `None` past the last segment or for an index without owner keys.
    pub fn segment(&self, index: &SegmentIndex, i: usize) -> Option<Capability> {
        if self.version != FILE_CAPABILITY {
            return None;
        }
        Some(Capability {
            version: WANDERER_CAPABILITY,
            repair_seed: *index.repair_seeds.get(i)?,
            owner_key: Some(*index.owner_keys.get(i)?),
            grant: Some(*index.repair_grants.get(i)?),
            manifest_hash: *index.manifest_hashes.get(i)?,
            k: self.k,
            n: self.n,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.version];
        out.extend_from_slice(&self.repair_seed);
        if let (Some(key), Some(grant)) = (self.owner_key, self.grant) {
            out.extend_from_slice(&key);
            out.extend_from_slice(&grant);
        }
        out.extend_from_slice(&self.manifest_hash);
        out.push((self.k - 1) as u8);
        out.push((self.n - 1) as u8);
        let sum = sha256(&out);
        out.extend_from_slice(&sum[..4]);
        out
    }

    pub fn to_text(&self) -> String {
        format!("{TEXT_PREFIX}{}", base32_encode(&self.to_bytes()))
    }

    /// Decodes a capability, refusing in §16.1's order.
    pub fn from_text(text: &str) -> std::result::Result<Capability, Refusal> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let rest = compact.strip_prefix(TEXT_PREFIX).ok_or(Refusal::Prefix)?;
        if !rest
            .bytes()
            .all(|c| c.is_ascii_alphabetic() || (b'2'..=b'7').contains(&c))
        {
            return Err(Refusal::Characters);
        }
        let raw = base32_decode(rest).map_err(|_| Refusal::Length)?;
        let size = match raw.first() {
            Some(&WANDERER_CAPABILITY) => Some(WANDERER_SIZE),
            Some(&FILE_CAPABILITY) => Some(FILE_SIZE),
            _ => None,
        };
        if size.is_some_and(|s| s != raw.len()) {
            return Err(Refusal::Length);
        }
        if raw.len() < 5 || sha256(&raw[..raw.len() - 4])[..4] != raw[raw.len() - 4..] {
            return Err(Refusal::Checksum);
        }
        if size.is_none() {
            return Err(Refusal::Version);
        }
        let body = &raw[..raw.len() - 4];
        let arr = |a: usize| -> [u8; 32] { body[a..a + 32].try_into().expect("32 bytes") };
        let (owner_key, grant, tail) = if raw[0] == WANDERER_CAPABILITY {
            let grant: [u8; 64] = body[65..129].try_into().expect("64 bytes");
            (Some(arr(33)), Some(grant), 129)
        } else {
            (None, None, 33)
        };
        let cap = Capability {
            version: raw[0],
            repair_seed: arr(1),
            owner_key,
            grant,
            manifest_hash: arr(tail),
            k: u32::from(body[tail + 32]) + 1,
            n: u32::from(body[tail + 33]) + 1,
        };
        if cap.k > cap.n {
            return Err(Refusal::KN);
        }
        if let (Some(key), Some(grant)) = (cap.owner_key, cap.grant) {
            if !grant_is_valid(&key, &wanderer_id(&key), &cap.repair_key(), &grant) {
                return Err(Refusal::Grant);
            }
        }
        Ok(cap)
    }

    /// [`Capability::from_text`] as a protocol error, saying that a ticket
    /// is not a capability.
    pub fn parse(text: &str) -> Result<Capability> {
        Capability::from_text(text).map_err(|r| {
            let hint = if text.trim_start().starts_with(TICKET_PREFIX) {
                " (this is a ticket, which reads the data)"
            } else {
                ""
            };
            fail(
                RejectCode::Malformed,
                format!("not a repair capability: {}{hint}", r.name()),
            )
        })
    }
}
