//! The Merkle tree of a shard (coding-and-crypto.md §8): RFC 6962's Merkle
//! Tree Hash over 1024-byte leaves, audit paths, and the check of a proof.
//!
//! - leaves: the shard cut into `ceil(size / 1024)` pieces, the last one
//!   shorter if the size is not a multiple of 1024;
//! - leaf hash `H(0x00 || leaf)`, interior hash `H(0x01 || left || right)`;
//! - `MTH` of `n > 1` leaves splits at `k`, the largest power of two below `n`;
//! - the audit path of a leaf lists the sibling subtree hashes from the leaf
//!   level up to the root.

use sha2::{Digest, Sha256};

use crate::limits::LEAF_SIZE;

/// The number of leaves of a `size`-byte shard: `ceil(size / 1024)` (at
/// least 1: a shard is never empty, and an empty one is one empty leaf).
pub fn leaf_count(size: u64) -> u64 {
    size.div_ceil(LEAF_SIZE as u64).max(1)
}

/// The byte length of leaf `index` of a `size`-byte shard, `None` past the end.
pub fn leaf_len(size: u64, index: u64) -> Option<usize> {
    let leaves = leaf_count(size);
    if index >= leaves {
        return None;
    }
    if index + 1 < leaves {
        Some(LEAF_SIZE)
    } else {
        Some((size - LEAF_SIZE as u64 * (leaves - 1)) as usize)
    }
}

/// `H(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf);
    h.finalize().into()
}

/// `H(0x01 || left || right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (`n > 1`).
fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The leaf hashes of a shard, in order.
pub fn leaf_hashes(shard: &[u8]) -> Vec<[u8; 32]> {
    if shard.is_empty() {
        return vec![leaf_hash(&[])];
    }
    shard.chunks(LEAF_SIZE).map(leaf_hash).collect()
}

/// `MTH` of a run of leaf hashes (at least one).
fn mth(hashes: &[[u8; 32]]) -> [u8; 32] {
    match hashes.len() {
        0 => unreachable!("a subtree has at least one leaf"),
        1 => hashes[0],
        n => {
            let k = split(n);
            node_hash(&mth(&hashes[..k]), &mth(&hashes[k..]))
        }
    }
}

/// The Merkle root of a shard (the manifest's `shard_roots[i]`, spec §4.1).
pub fn root(shard: &[u8]) -> [u8; 32] {
    mth(&leaf_hashes(shard))
}

fn path_of(m: usize, hashes: &[[u8; 32]], out: &mut Vec<[u8; 32]>) {
    let n = hashes.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path_of(m, &hashes[..k], out);
        out.push(mth(&hashes[k..]));
    } else {
        path_of(m - k, &hashes[k..], out);
        out.push(mth(&hashes[..k]));
    }
}

/// The audit path of leaf `index` (RFC 6962 §2.1.1), leaf level first;
/// `None` if the shard has no such leaf.
pub fn audit_path(shard: &[u8], index: u64) -> Option<Vec<[u8; 32]>> {
    let hashes = leaf_hashes(shard);
    let m = usize::try_from(index).ok().filter(|m| *m < hashes.len())?;
    let mut out = Vec::new();
    path_of(m, &hashes, &mut out);
    Some(out)
}

/// Leaf `index` of a shard (`None` past the end).
pub fn leaf(shard: &[u8], index: u64) -> Option<&[u8]> {
    let len = leaf_len(shard.len() as u64, index)?;
    let start = usize::try_from(index).ok()? * LEAF_SIZE;
    shard.get(start..start + len)
}

/// Which side each sibling is on, root first: `true` when the sibling is
/// the right subtree (the leaf is in the left one).
fn walk(leaves: u64, index: u64) -> Vec<bool> {
    let (mut n, mut m) = (leaves, index);
    let mut sides = Vec::new();
    while n > 1 {
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        if m < k {
            sides.push(true);
            n = k;
        } else {
            sides.push(false);
            m -= k;
            n -= k;
        }
    }
    sides
}

/// The check of coding-and-crypto.md §8: leaf `index` of a `size`-byte shard
/// has the right length, the path has as many hashes as the walk from the
/// root to that leaf has splits, and hashing up gives `root`.
pub fn verify(root: &[u8; 32], size: u64, index: u64, leaf: &[u8], path: &[[u8; 32]]) -> bool {
    if leaf_len(size, index) != Some(leaf.len()) {
        return false;
    }
    let sides = walk(leaf_count(size), index);
    if sides.len() != path.len() {
        return false;
    }
    let mut h = leaf_hash(leaf);
    for (sibling, right) in path.iter().zip(sides.iter().rev()) {
        h = if *right {
            node_hash(&h, sibling)
        } else {
            node_hash(sibling, &h)
        };
    }
    h == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_of_coding_and_crypto_section_7() {
        // 00 01 .. ff repeated 11 times, then 184 zero bytes: 3000 bytes, 3 leaves.
        let mut shard: Vec<u8> = (0..11).flat_map(|_| 0u8..=255).collect();
        shard.resize(3000, 0);
        assert_eq!(
            hex::encode(root(&shard)),
            "828bd1dd17447a861eccc6c6b4f3d0c4d36c4fa2e6aebccd626957c62367de67"
        );
        for i in 0..3 {
            let path = audit_path(&shard, i).unwrap();
            let l = leaf(&shard, i).unwrap();
            assert!(verify(&root(&shard), 3000, i, l, &path));
        }
        // The last leaf must have exactly what is left of the shard.
        let last = audit_path(&shard, 2).unwrap();
        assert!(!verify(&root(&shard), 3001, 2, &shard[2048..], &last));
        assert!(audit_path(&shard, 3).is_none());
    }

    #[test]
    fn split_points_and_walks() {
        assert_eq!(
            [2, 3, 4, 5, 8, 9].map(split),
            [1, 2, 2, 4, 4, 8],
            "largest power of two below n"
        );
        assert_eq!(walk(1, 0), Vec::<bool>::new());
        assert_eq!(walk(5, 4), vec![false]);
        assert_eq!(walk(5, 0), vec![true, true, true]);
        assert_eq!(leaf_count(131_072 * 1024), 131_072);
        assert_eq!(
            walk(131_072, 7).len(),
            17,
            "a 128 MiB shard has a 17-hash path"
        );
    }
}
