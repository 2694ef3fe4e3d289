//! Files larger than one segment (spec §19): a file is cut into consecutive
//! segments of `segment_size` plaintext bytes (the last one holds the rest),
//! each its own version 2 wanderer, plus one **index wanderer** whose payload
//! is a [`SegmentIndexBody`] listing them. Its ticket has version 3 (§16):
//! `(3, F, H(index manifest body), k, n)` with `F` the file seed.
//!
//! Carriers never see any of this (§19: "nothing in sections 4 to 18
//! changes"); what is here concerns the owner and the reader:
//!
//! - seeds (§19.1): [`crypto::segment_seed`], [`crypto::file_index_seed`],
//!   and [`index_seed`] from the file seed;
//! - the index (§19.2): [`parse_index`] checks a payload in the spec's order,
//!   [`SegmentIndex::segment_len`] / [`SegmentIndex::segment_sizes`];
//!   [`build_index`] (repair seeds and repair grants included) and
//!   [`SegmentIndex::encode`] for an owner;
//! - get (§19.4): [`index_ticket`] and [`check_index`] (step 1: the index
//!   wanderer's ticket, then every repair seed and repair grant against the
//!   file seed, before any segment is fetched), [`segment_ticket`] (step 2)
//!   and [`check_segment_size`] (step 2, the size check);
//! - [`segment_repair`]: segment i's repair seed and grant, as the owner
//!   lists them and the reader recomputes them.
//!
//! The codes name failures for vectors and logs; nothing is sent to a peer.

use prost::Message;

use crate::audit::sign_grant;
use crate::crypto;
use crate::error::{fail, Result};
use crate::limits::{
    FILE_TICKET_VERSION, HASH_SIZE, INDEX_VERSION, KEY_SIZE, MAX_INDEX_SIZE, MAX_SEGMENTS,
    MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SIGNATURE_SIZE,
};
use crate::proto::{RejectCode, SegmentIndexBody};
use crate::signing::{public_key, signing_key};
use crate::ticket::Ticket;

/// The version a segment's or the index wanderer's ticket has: each is a
/// version 2 wanderer (§19, §19.4).
pub const SEGMENT_TICKET_VERSION: u32 = 2;

/// A decoded index (§19.2): every rule of the table held. Whether it
/// belongs to a file seed is [`check_index`] (§19.4 step 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentIndex {
    /// Bytes in the whole file: `segment_size < file_size ≤ MAX_SEGMENTS × segment_size`.
    pub file_size: u64,
    /// Plaintext bytes of every segment but the last:
    /// `MIN_SEGMENT_SIZE ≤ segment_size ≤ MAX_SEGMENT_SIZE`.
    pub segment_size: u64,
    /// SHA-256 of segment i's manifest body, in file order (`count()` entries).
    pub manifest_hashes: Vec<[u8; HASH_SIZE]>,
    /// Segment i's repair seed, in file order (`count()` entries).
    pub repair_seeds: Vec<[u8; KEY_SIZE]>,
    /// Segment i's repair grant (§18.2: segment i's owner key granting
    /// segment i's repair key), in file order (`count()` entries).
    pub repair_grants: Vec<[u8; SIGNATURE_SIZE]>,
    /// Segment i's owner key, in file order: `count()` entries, or none in
    /// an index written before keepers (§19.2 field 7).
    pub owner_keys: Vec<[u8; KEY_SIZE]>,
}

/// `c = ceil(file_size / segment_size)` (§19.2); 0 for a zero `segment_size`.
pub fn segment_count(file_size: u64, segment_size: u64) -> u64 {
    if segment_size == 0 {
        0
    } else {
        file_size.div_ceil(segment_size)
    }
}

impl SegmentIndex {
    /// The number of segments, `c` (at most `MAX_SEGMENTS`).
    pub fn count(&self) -> u32 {
        self.manifest_hashes.len() as u32
    }

    /// The plaintext size segment `i` must rebuild to (§19.4 step 2): the
    /// last `file_size − (c−1) × segment_size`, every other `segment_size`;
    /// `None` past the last segment.
    pub fn segment_len(&self, i: u32) -> Option<u64> {
        let c = u64::from(self.count());
        let i = u64::from(i);
        if i + 1 < c {
            Some(self.segment_size)
        } else if i + 1 == c {
            Some(self.file_size - (c - 1) * self.segment_size)
        } else {
            None
        }
    }

    /// Every segment's size, in file order; they add up to `file_size`.
    pub fn segment_sizes(&self) -> Vec<u64> {
        (0..self.count())
            .map(|i| self.segment_len(i).expect("i < count"))
            .collect()
    }

    /// The byte offset of segment `i` in the file.
    pub fn segment_offset(&self, i: u32) -> u64 {
        u64::from(i) * self.segment_size
    }

    pub fn to_body(&self) -> SegmentIndexBody {
        SegmentIndexBody {
            version: INDEX_VERSION,
            file_size: self.file_size,
            segment_size: self.segment_size,
            manifest_hashes: self.manifest_hashes.iter().map(|h| h.to_vec()).collect(),
            repair_seeds: self.repair_seeds.iter().map(|s| s.to_vec()).collect(),
            repair_grants: self.repair_grants.iter().map(|g| g.to_vec()).collect(),
            owner_keys: self.owner_keys.iter().map(|k| k.to_vec()).collect(),
        }
    }

    /// The index wanderer's payload (fields in field-number order, defaults
    /// omitted, as spec §1 asks of encoders).
    pub fn encode(&self) -> Vec<u8> {
        self.to_body().encode_to_vec()
    }
}

/// Decodes and checks an index wanderer's payload (§19.2), in the spec's
/// order, refusing on the first failure: the size (`TOO_LARGE`), the parse
/// (`MALFORMED`), `version` = 1 (`UNSUPPORTED_VERSION`; an absent field is
/// 0), then `segment_size`, `file_size`, `manifest_hashes`, `repair_seeds`
/// and `repair_grants` (`MALFORMED`).
///
/// This is the payload after the index wanderer's AEAD opened it; the
/// manifest it came with was checked against the ticket's manifest hash.
/// It says nothing about the file seed: [`check_index`] does.
pub fn parse_index(payload: &[u8]) -> Result<SegmentIndex> {
    if payload.len() > MAX_INDEX_SIZE {
        return Err(fail(
            RejectCode::TooLarge,
            format!(
                "index of {} bytes > MAX_INDEX_SIZE {MAX_INDEX_SIZE}",
                payload.len()
            ),
        ));
    }
    let body = SegmentIndexBody::decode(payload)
        .map_err(|e| fail(RejectCode::Malformed, format!("index does not parse: {e}")))?;
    if body.version != INDEX_VERSION {
        return Err(fail(
            RejectCode::UnsupportedVersion,
            format!("index version {} is not supported", body.version),
        ));
    }
    let s = body.segment_size;
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&s) {
        return Err(fail(
            RejectCode::Malformed,
            format!("segment_size {s} outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}"),
        ));
    }
    let f = body.file_size;
    if f <= s {
        return Err(fail(
            RejectCode::Malformed,
            format!("file_size {f} fits one segment of {s} (that is a version 2 ticket)"),
        ));
    }
    // s ≤ 2^26 and MAX_SEGMENTS = 2^16: no overflow.
    if f > MAX_SEGMENTS * s {
        return Err(fail(
            RejectCode::Malformed,
            format!("file_size {f} needs more than {MAX_SEGMENTS} segments of {s}"),
        ));
    }
    let c = segment_count(f, s) as usize;
    let manifest_hashes = entries(&body.manifest_hashes, c, "manifest_hashes")?;
    let repair_seeds = entries(&body.repair_seeds, c, "repair_seeds")?;
    let repair_grants = entries(&body.repair_grants, c, "repair_grants")?;
    let owner_keys = if body.owner_keys.is_empty() {
        Vec::new()
    } else {
        entries(&body.owner_keys, c, "owner_keys")?
    };
    Ok(SegmentIndex {
        file_size: f,
        segment_size: s,
        manifest_hashes,
        repair_seeds,
        repair_grants,
        owner_keys,
    })
}

/// Exactly `c` entries of `N` bytes, else `MALFORMED` (§19.2 fields 4 and
/// 5: 32 bytes; field 6: 64 bytes).
fn entries<const N: usize>(list: &[Vec<u8>], c: usize, field: &str) -> Result<Vec<[u8; N]>> {
    if list.len() != c {
        return Err(fail(
            RejectCode::Malformed,
            format!("{field}: {} entries, the file has {c} segments", list.len()),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            <[u8; N]>::try_from(e.as_slice()).map_err(|_| {
                fail(
                    RejectCode::Malformed,
                    format!("{field}[{i}] is {} bytes, not {N}", e.len()),
                )
            })
        })
        .collect()
}

/// The owner seed `G` of a file's index wanderer, from the file seed `F`:
/// HKDF(repair seed of `F`, "wdp/v2/file-index-seed") (§19.1).
pub fn index_seed(file_seed: &[u8; 32]) -> [u8; 32] {
    crypto::file_index_seed(&crypto::repair_seed(file_seed))
}

/// Segment `i`'s repair seed and repair grant, from the file seed `F`
/// (§19.1, §19.2 fields 5 and 6): with `S_i` = [`crypto::segment_seed`]`(F,
/// i)`, the repair seed of `S_i`, and the owner key of `S_i` signing, under
/// `wdp/v2/repair-grant`, segment i's wanderer id ‖ its repair key (§18.2,
/// [`sign_grant`]). Ed25519 signatures are deterministic, so the owner
/// building the index and a reader checking it get the same 64 bytes.
pub fn segment_repair(file_seed: &[u8; 32], i: u32) -> ([u8; KEY_SIZE], [u8; SIGNATURE_SIZE]) {
    let seed = crypto::segment_seed(file_seed, i);
    let repair = crypto::repair_seed(&seed);
    let grant = sign_grant(&signing_key(&seed), &public_key(&repair));
    (repair, grant)
}

/// The owner's index (§19.3) of a file of `file_size` bytes cut into
/// `segment_size` pieces whose manifests hash to `manifest_hashes` (file
/// order); the repair seeds and repair grants derive from `file_seed`
/// ([`segment_repair`]). Checked as a reader would decode it
/// ([`parse_index`]), so an owner cannot store an index a reader refuses.
pub fn build_index(
    file_seed: &[u8; 32],
    file_size: u64,
    segment_size: u64,
    manifest_hashes: &[[u8; 32]],
) -> Result<SegmentIndex> {
    // Refuse a wrong count before signing one grant per entry.
    let c = segment_count(file_size, segment_size);
    if c > MAX_SEGMENTS || manifest_hashes.len() as u64 != c {
        return Err(fail(
            RejectCode::Malformed,
            format!(
                "{} manifest hashes for a file of {c} segments",
                manifest_hashes.len()
            ),
        ));
    }
    let (repair_seeds, repair_grants) = (0..manifest_hashes.len())
        .map(|i| segment_repair(file_seed, i as u32))
        .unzip();
    let owner_keys = (0..manifest_hashes.len())
        .map(|i| public_key(&crypto::segment_seed(file_seed, i as u32)))
        .collect();
    let index = SegmentIndex {
        file_size,
        segment_size,
        manifest_hashes: manifest_hashes.to_vec(),
        repair_seeds,
        repair_grants,
        owner_keys,
    };
    parse_index(&index.encode())
}

/// The version 3 ticket of a file (§16, §19.3): `(3, F, H(index manifest
/// body), k, n)`, made only once the index is stored.
pub fn file_ticket(file_seed: &[u8; 32], index_manifest_hash: &[u8; 32], k: u32, n: u32) -> Ticket {
    Ticket {
        version: FILE_TICKET_VERSION,
        owner_seed: *file_seed,
        manifest_hash: *index_manifest_hash,
        k,
        n,
    }
}

fn require_file_ticket(file: &Ticket) -> Result<()> {
    if file.version != FILE_TICKET_VERSION {
        // Local: the spec names no code for handing a one-wanderer ticket to
        // a file reader; a caller dispatches on the version first.
        return Err(fail(
            RejectCode::Malformed,
            format!("ticket version {} is not a file of segments", file.version),
        ));
    }
    Ok(())
}

/// §19.4 step 1: the version 2 ticket `(2, G, manifest hash, k, n)` of the
/// index wanderer of a version 3 ticket (`k` and `n` are the ticket's).
/// `MALFORMED` (local choice) if the ticket is not version 3.
pub fn index_ticket(file: &Ticket) -> Result<Ticket> {
    require_file_ticket(file)?;
    Ok(Ticket {
        version: SEGMENT_TICKET_VERSION,
        owner_seed: index_seed(&file.owner_seed),
        manifest_hash: file.manifest_hash,
        k: file.k,
        n: file.n,
    })
}

/// §19.4 step 1, after [`parse_index`] and before any segment is fetched:
/// for every segment `i`, `repair_seeds[i]` is the repair seed of `S_i` and
/// `repair_grants[i]` is segment `i`'s repair grant, recomputed and compared
/// ([`segment_repair`]); else `MALFORMED`: the index does not belong to this
/// file seed. `MALFORMED` too (local) for a ticket that is not version 3,
/// or an index whose lists do not have one entry per segment (only a
/// hand-built [`SegmentIndex`] can have that).
///
/// Costs three Ed25519 base-point multiplications per segment (the owner
/// key, the repair key and the signature): about 200 000 for the largest
/// file of `MAX_SEGMENTS` segments.
pub fn check_index(file: &Ticket, index: &SegmentIndex) -> Result<()> {
    require_file_ticket(file)?;
    let c = segment_count(index.file_size, index.segment_size);
    if [
        index.manifest_hashes.len(),
        index.repair_seeds.len(),
        index.repair_grants.len(),
    ]
    .iter()
    .any(|&len| len as u64 != c)
        || c > MAX_SEGMENTS
        || !(index.owner_keys.is_empty() || index.owner_keys.len() as u64 == c)
    {
        return Err(fail(
            RejectCode::Malformed,
            format!("the index's lists do not have one entry for each of its {c} segments"),
        ));
    }
    for (i, (seed, grant)) in index
        .repair_seeds
        .iter()
        .zip(&index.repair_grants)
        .enumerate()
    {
        let (want_seed, want_grant) = segment_repair(&file.owner_seed, i as u32);
        if *seed != want_seed {
            return Err(fail(
                RejectCode::Malformed,
                format!("segment {i}: repair seed is not this file seed's (a foreign index)"),
            ));
        }
        if *grant != want_grant {
            return Err(fail(
                RejectCode::Malformed,
                format!("segment {i}: repair grant is not this file seed's (a foreign index)"),
            ));
        }
        let owner_key = index.owner_keys.get(i);
        if owner_key
            .is_some_and(|k| *k != public_key(&crypto::segment_seed(&file.owner_seed, i as u32)))
        {
            return Err(fail(
                RejectCode::Malformed,
                format!("segment {i}: owner key is not this file seed's (a foreign index)"),
            ));
        }
    }
    Ok(())
}

/// §19.4 step 2: the version 2 ticket `(2, S_i, manifest_hashes[i], k, n)`
/// of segment `i`. Call it only for an index that passed [`check_index`]
/// against the same ticket (step 1). `MALFORMED` for an `i` past the last
/// segment, or a ticket that is not version 3.
pub fn segment_ticket(file: &Ticket, index: &SegmentIndex, i: u32) -> Result<Ticket> {
    require_file_ticket(file)?;
    let hash = index.manifest_hashes.get(i as usize).ok_or_else(|| {
        fail(
            RejectCode::Malformed,
            format!("segment {i}: the index lists {}", index.count()),
        )
    })?;
    Ok(Ticket {
        version: SEGMENT_TICKET_VERSION,
        owner_seed: crypto::segment_seed(&file.owner_seed, i),
        manifest_hash: *hash,
        k: file.k,
        n: file.n,
    })
}

/// §19.4 step 2: segment `i` rebuilt to `size` plaintext bytes, which must be
/// the size the index implies ([`SegmentIndex::segment_len`]), else
/// `BAD_MANIFEST`. A reader can apply it to the segment manifest's
/// `payload_size` as soon as the manifest is fetched, and the bytes of
/// segment `i` are written only after this and the AEAD tag passed (step 3).
pub fn check_segment_size(index: &SegmentIndex, i: u32, size: u64) -> Result<()> {
    match index.segment_len(i) {
        Some(want) if want == size => Ok(()),
        Some(want) => Err(fail(
            RejectCode::BadManifest,
            format!("segment {i} is {size} bytes, the index implies {want}"),
        )),
        None => Err(fail(
            RejectCode::BadManifest,
            format!("segment {i}: the index lists {}", index.count()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(file_size: u64, segment_size: u64) -> SegmentIndex {
        let c = segment_count(file_size, segment_size) as usize;
        build_index(&[1; 32], file_size, segment_size, &vec![[2; 32]; c]).unwrap()
    }

    #[test]
    fn sizes_add_up() {
        let idx = index_of(3 * MIN_SEGMENT_SIZE + 5, MIN_SEGMENT_SIZE);
        assert_eq!(
            idx.segment_sizes(),
            [MIN_SEGMENT_SIZE, MIN_SEGMENT_SIZE, MIN_SEGMENT_SIZE, 5]
        );
        assert_eq!(idx.segment_len(4), None);
        assert_eq!(idx.segment_offset(3), 3 * MIN_SEGMENT_SIZE);
        assert!(check_segment_size(&idx, 3, 5).is_ok());
        assert_eq!(
            check_segment_size(&idx, 2, 5).unwrap_err().code,
            RejectCode::BadManifest
        );
        assert_eq!(parse_index(&idx.encode()).unwrap(), idx);
    }

    #[test]
    fn check_order_and_bounds() {
        // The largest file: MAX_SEGMENTS full segments of MAX_SEGMENT_SIZE;
        // its index stays below MAX_INDEX_SIZE (built by hand: signing
        // 65536 grants is slow in a debug build, and the size does not
        // depend on the bytes).
        let c = MAX_SEGMENTS as usize;
        let idx = SegmentIndex {
            file_size: MAX_SEGMENTS * MAX_SEGMENT_SIZE,
            segment_size: MAX_SEGMENT_SIZE,
            manifest_hashes: vec![[2; 32]; c],
            repair_seeds: vec![[3; 32]; c],
            repair_grants: vec![[4; 64]; c],
            owner_keys: vec![[5; 32]; c],
        };
        let bytes = idx.encode();
        assert!(bytes.len() <= MAX_INDEX_SIZE, "{} bytes", bytes.len());
        assert_eq!(parse_index(&bytes).unwrap(), idx);
        // Version is checked before the sizes; an absent version is 0.
        let body = SegmentIndexBody {
            version: 0,
            ..Default::default()
        };
        assert_eq!(
            parse_index(&body.encode_to_vec()).unwrap_err().code,
            RejectCode::UnsupportedVersion
        );
        let body = SegmentIndexBody {
            version: 1,
            ..Default::default()
        };
        assert_eq!(
            parse_index(&body.encode_to_vec()).unwrap_err().code,
            RejectCode::Malformed
        );
        // The grants are checked last, 64 bytes each.
        let good = index_of(2 * MIN_SEGMENT_SIZE, MIN_SEGMENT_SIZE);
        let mut body = good.to_body();
        body.repair_grants[1].pop();
        assert_eq!(
            parse_index(&body.encode_to_vec()).unwrap_err().code,
            RejectCode::Malformed
        );
        body.repair_grants.truncate(1);
        assert_eq!(
            parse_index(&body.encode_to_vec()).unwrap_err().code,
            RejectCode::Malformed
        );
        // The builder refuses a wrong number of manifest hashes.
        assert!(build_index(&[1; 32], 2 * MIN_SEGMENT_SIZE, MIN_SEGMENT_SIZE, &[[2; 32]]).is_err());
    }

    #[test]
    fn grants_are_segment_grants() {
        let (repair, grant) = segment_repair(&[1; 32], 1);
        let seed = crypto::segment_seed(&[1; 32], 1);
        assert_eq!(repair, crypto::repair_seed(&seed));
        let owner = public_key(&seed);
        assert!(crate::audit::grant_is_valid(
            &owner,
            &crypto::wanderer_id(&owner),
            &public_key(&repair),
            &grant
        ));
    }

    #[test]
    fn tickets_need_version_3() {
        let idx = index_of(2 * MIN_SEGMENT_SIZE, MIN_SEGMENT_SIZE);
        let t = file_ticket(&[1; 32], &[3; 32], 3, 8);
        assert_eq!(index_ticket(&t).unwrap().version, 2);
        check_index(&t, &idx).unwrap();
        assert_eq!(segment_ticket(&t, &idx, 1).unwrap().manifest_hash, [2; 32]);
        assert!(segment_ticket(&t, &idx, 2).is_err());
        let v2 = Ticket { version: 2, ..t };
        assert!(index_ticket(&v2).is_err());
        assert!(check_index(&v2, &idx).is_err());
        assert!(segment_ticket(&v2, &idx, 0).is_err());
    }

    #[test]
    fn foreign_indexes() {
        let idx = index_of(3 * MIN_SEGMENT_SIZE, MIN_SEGMENT_SIZE);
        let t = file_ticket(&[1; 32], &[3; 32], 3, 8);
        let malformed = |i: &SegmentIndex| check_index(&t, i).unwrap_err().code;
        // Another file seed: nothing in the index is this file's.
        let other = file_ticket(&[9; 32], &[3; 32], 3, 8);
        assert_eq!(
            check_index(&other, &idx).unwrap_err().code,
            RejectCode::Malformed
        );
        // One repair seed, or one grant, of another segment or file.
        let mut bad = idx.clone();
        bad.repair_seeds.swap(0, 2);
        assert_eq!(malformed(&bad), RejectCode::Malformed);
        let mut bad = idx.clone();
        bad.repair_grants[2] = segment_repair(&[9; 32], 2).1;
        assert_eq!(malformed(&bad), RejectCode::Malformed);
        let mut bad = idx.clone();
        bad.repair_grants[1][63] ^= 1;
        assert_eq!(malformed(&bad), RejectCode::Malformed);
        // A hand-built index with a short list.
        let mut bad = idx.clone();
        bad.repair_grants.pop();
        assert_eq!(malformed(&bad), RejectCode::Malformed);
    }
}
