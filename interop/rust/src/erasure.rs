//! zfec's systematic Reed-Solomon code over GF(2^8) (coding-and-crypto.md §5),
//! written from the document: polynomial 0x11D, evaluation points
//! `x_0 = 0, x_i = alpha^(i-1)`, encoding matrix `E = V * T^-1`.

use crate::error::{fail, Result};
use crate::proto::RejectCode;

struct Field {
    exp: [u8; 510],
    log: [u8; 256],
}

impl Field {
    fn new() -> Self {
        let mut exp = [0u8; 510];
        let mut log = [0u8; 256];
        let mut x: u16 = 1;
        for i in 0..255 {
            exp[i] = x as u8;
            exp[i + 255] = x as u8;
            log[x as usize] = i as u8;
            x <<= 1;
            if x & 0x100 != 0 {
                x ^= 0x11d;
            }
        }
        Field { exp, log }
    }

    fn mul(&self, a: u8, b: u8) -> u8 {
        if a == 0 || b == 0 {
            return 0;
        }
        self.exp[self.log[a as usize] as usize + self.log[b as usize] as usize]
    }

    fn inv(&self, a: u8) -> u8 {
        assert!(a != 0, "0 has no inverse in GF(2^8)");
        self.exp[(255 - self.log[a as usize] as usize) % 255]
    }

    /// Evaluation point of shard `i` (§5.3 step 1).
    fn point(&self, i: usize) -> u8 {
        if i == 0 {
            0
        } else {
            self.exp[(i - 1) % 255]
        }
    }

    /// `x^j` with `0^0 = 1`.
    fn pow(&self, x: u8, j: usize) -> u8 {
        if j == 0 {
            1
        } else if x == 0 {
            0
        } else {
            self.exp[(self.log[x as usize] as usize * j) % 255]
        }
    }

    /// Gauss-Jordan inverse of a k×k matrix (row-major); `None` if singular.
    fn invert(&self, m: &[u8], k: usize) -> Option<Vec<u8>> {
        let mut a = m.to_vec();
        let mut inv = vec![0u8; k * k];
        for i in 0..k {
            inv[i * k + i] = 1;
        }
        for col in 0..k {
            let pivot = (col..k).find(|&r| a[r * k + col] != 0)?;
            if pivot != col {
                for c in 0..k {
                    a.swap(pivot * k + c, col * k + c);
                    inv.swap(pivot * k + c, col * k + c);
                }
            }
            let p = self.inv(a[col * k + col]);
            for c in 0..k {
                a[col * k + c] = self.mul(a[col * k + c], p);
                inv[col * k + c] = self.mul(inv[col * k + c], p);
            }
            for r in 0..k {
                let f = a[r * k + col];
                if r == col || f == 0 {
                    continue;
                }
                for c in 0..k {
                    a[r * k + c] ^= self.mul(f, a[col * k + c]);
                    inv[r * k + c] ^= self.mul(f, inv[col * k + c]);
                }
            }
        }
        Some(inv)
    }

    /// Rows `rows` of the encoding matrix `E = V * T^-1` (each k bytes).
    fn encoding_rows(&self, k: usize, rows: &[usize]) -> Vec<u8> {
        let vrow = |i: usize| (0..k).map(move |j| self.pow(self.point(i), j));
        let t: Vec<u8> = (0..k).flat_map(vrow).collect();
        let t_inv = self
            .invert(&t, k)
            .expect("Vandermonde on distinct points is invertible");
        let mut out = Vec::with_capacity(rows.len() * k);
        for &i in rows {
            let v: Vec<u8> = vrow(i).collect();
            for c in 0..k {
                out.push((0..k).fold(0u8, |acc, j| acc ^ self.mul(v[j], t_inv[j * k + c])));
            }
        }
        out
    }
}

fn check_kn(k: usize, n: usize) -> Result<()> {
    if !(1 <= k && k <= n && n <= 256) {
        return Err(fail(
            RejectCode::Malformed,
            format!("k={k} n={n} outside 1 <= k <= n <= 256"),
        ));
    }
    Ok(())
}

/// `max(1, ceil(len / k))` (§5.1).
pub fn shard_size(len: usize, k: usize) -> usize {
    len.div_ceil(k.max(1)).max(1)
}

/// Splits `data` into `n` shards, any `k` of which rebuild it (§5.1, §5.4).
pub fn encode(data: &[u8], k: usize, n: usize) -> Result<Vec<Vec<u8>>> {
    check_kn(k, n)?;
    let f = Field::new();
    let s = shard_size(data.len(), k);
    let mut padded = data.to_vec();
    padded.resize(k * s, 0);
    let mut shards: Vec<Vec<u8>> = padded.chunks(s).map(<[u8]>::to_vec).collect();
    let parity_rows: Vec<usize> = (k..n).collect();
    let e = f.encoding_rows(k, &parity_rows);
    for row in e.chunks(k) {
        let mut out = vec![0u8; s];
        for (j, &coef) in row.iter().enumerate() {
            if coef == 0 {
                continue;
            }
            for (o, &b) in out.iter_mut().zip(&shards[j]) {
                *o ^= f.mul(coef, b);
            }
        }
        shards.push(out);
    }
    Ok(shards)
}

/// Rebuilds the `len` data bytes from `k` shards given as `(index, bytes)`
/// with distinct indices (§5.5). Check shard hashes first: this corrects
/// erasures, not errors. Fails if the padding is not zero.
pub fn decode(shards: &[(usize, &[u8])], k: usize, n: usize, len: usize) -> Result<Vec<u8>> {
    check_kn(k, n)?;
    let s = shard_size(len, k);
    let mut picked: Vec<(usize, &[u8])> = shards.to_vec();
    picked.sort_by_key(|(i, _)| *i);
    picked.dedup_by_key(|(i, _)| *i);
    if picked.len() < k {
        return Err(fail(RejectCode::Malformed, "fewer than k distinct shards"));
    }
    picked.truncate(k);
    if picked.iter().any(|(i, b)| *i >= n || b.len() != s) {
        return Err(fail(
            RejectCode::Malformed,
            "a shard has a bad index or size",
        ));
    }
    let f = Field::new();
    let rows: Vec<usize> = picked.iter().map(|(i, _)| *i).collect();
    let e = f.encoding_rows(k, &rows);
    let d = f.invert(&e, k).ok_or_else(|| {
        fail(
            RejectCode::Malformed,
            "shards do not form an invertible set",
        )
    })?;
    let mut data = vec![0u8; k * s];
    for r in 0..k {
        let out = &mut data[r * s..(r + 1) * s];
        for (c, (_, shard)) in picked.iter().enumerate() {
            let coef = d[r * k + c];
            if coef == 0 {
                continue;
            }
            for (o, &b) in out.iter_mut().zip(shard.iter()) {
                *o ^= f.mul(coef, b);
            }
        }
    }
    if data[len..].iter().any(|&b| b != 0) {
        return Err(fail(
            RejectCode::Malformed,
            "padding is not zero: shards do not belong together",
        ));
    }
    data.truncate(len);
    Ok(data)
}
