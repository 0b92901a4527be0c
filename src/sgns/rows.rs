//! Where a worker thread reads and writes embedding rows: the shared tables, or its own copies
//! of them.
//!
//! # Why copies
//! Plain Hogwild (every thread writes the shared rows without locks, as word2vec and gensim
//! do) makes the cores fight over cache lines: a row one core has just written must travel to
//! the other before it can read it, and the frequent rows (a catalogue's hits, a graph's
//! hubs; every negative is drawn from them) are written by every thread many times a
//! millisecond. On the 2-vCPU machines here such a transfer takes 90-450 ns depending on where
//! the host places the vCPUs, and two Hogwild threads often trained slower than one
//! (experiments/item2vec_vs_gensim, experiments/node2vec_vs_pecanpy).
//!
//! With more than one thread, when the copies fit [`COPY_BUDGET`] ([`copies_fit`]), each
//! worker therefore trains private copies of both tables and, every [`sync_tokens`] tokens
//! (at least 16 times per epoch) and at the end of its epoch, adds what its copies moved
//! since the last merge to the shared rows and reloads them, under a lock
//! ([`Replica::sync`]). Between merges no cache line is shared. Moves are summed, never lost
//! (Hogwild loses racing increments), except that hub rows merge their mean
//! ([`merge_weights`]); what a thread does not see is the other threads' last few thousand
//! tokens. The interval is counted in updates per row, so a merge costs about the same share
//! of the work whatever the size of the model.
//!
//! Copying only the most frequent rows (an id -> slot lookup per row) was tried on PPI and
//! lost to Hogwild; whole copies beat it (experiments/sgns_threads). A model whose copies
//! would pass the budget trains Hogwild. One thread trains on the shared tables directly,
//! bit-exact for a seed.

use crate::linalg::Matrix;
use std::sync::Mutex;

/// The most bytes all threads' copies may take together: each thread holds a copy of both
/// tables and a snapshot of them, `threads x 2 x` the tables.
pub const COPY_BUDGET: usize = 1 << 30;

/// Whether `threads` threads train copies of a `vocab x dim` centre and context table.
pub fn copies_fit(vocab: usize, dim: usize, threads: usize) -> bool {
    vocab.saturating_mul(dim).saturating_mul(2 * 4).saturating_mul(2 * threads) <= COPY_BUDGET
}

/// Updates a row receives, on average over the rows, between two merges of a thread's
/// copies. Staleness is what costs quality (a thread does not see the other threads' last
/// updates), and a merge's cost against the training between two merges falls as this grows
/// (a merge passes over every row; about 4 / `STALE_UPDATES` of the time on the benchmarks).
pub const STALE_UPDATES: usize = 64;

/// Tokens a thread trains between two merges: `stale_updates` ([`STALE_UPDATES`]) updates
/// per row, counting `(window + 1) x (negatives + 2)` row updates per token (a mean of
/// `window + 1` pairs under word2vec's shrinking window, each writing `negatives + 1` context
/// rows and one centre row, whether or not pairs share their negatives).
pub fn sync_tokens(stale_updates: usize, vocab: usize, window: usize, negatives: usize) -> usize {
    (stale_updates.saturating_mul(vocab) / ((window + 1) * (negatives + 2))).max(1)
}

/// A row counted at least this many times the mean count is a hub: it merges the mean of the
/// threads' moves instead of their sum ([`merge_weights`]).
pub const HUB_MULTIPLE: f64 = 16.0;

/// The factor by which a merge scales each row's move: 1 (sum the threads' moves), or
/// `1 / threads` (their mean) for a hub, a row counted at least `hub_multiple` x the mean
/// count (0 turns hubs off).
///
/// Why: between two merges a hub is updated thousands of times (`hub_multiple x`
/// [`STALE_UPDATES`] on average), enough for each thread's copy to settle where the row's
/// gradient balances. Two threads that each move it from `s` to that point `e` would, summed,
/// put it at `2e - s`, and the next merge back near `s`: on Wikipedia (a handful of nodes hold
/// 4-7 % of the walks each) summing cost 1.5-3 % of Macro-F1 against one thread, the mean none
/// (experiments/sgns_threads). A rarely updated row, moved by one thread only, needs the sum.
pub fn merge_weights(counts: &[u64], threads: usize, hub_multiple: f64) -> Vec<f32> {
    let (total, n) = (counts.iter().sum::<u64>() as f64, counts.len() as f64);
    let hub = |c: u64| hub_multiple > 0.0 && c as f64 * n >= hub_multiple * total;
    counts.iter().map(|&c| if hub(c) { 1.0 / threads as f32 } else { 1.0 }).collect()
}

/// A table shared by the workers.
#[derive(Clone, Copy)]
pub struct Rows {
    ptr: *mut f32,
    rows: usize,
    dim: usize,
}

// SAFETY: see the module docs of `engine`: concurrent lock-free updates are the algorithm
// (Hogwild); a table that threads copy is written only under the merge lock.
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}

impl Rows {
    pub fn new(m: &mut Matrix) -> Self {
        Rows { ptr: m.data.as_mut_ptr(), rows: m.rows, dim: m.cols }
    }

    /// # Safety
    /// `i < rows`, and the caller holds no other reference to row `i` of this table.
    #[inline(always)]
    pub unsafe fn row<'a>(self, i: u32) -> &'a mut [f32] {
        debug_assert!((i as usize) < self.rows);
        std::slice::from_raw_parts_mut(self.ptr.add(i as usize * self.dim), self.dim)
    }

    /// # Safety
    /// `i < rows`.
    #[inline(always)]
    pub unsafe fn ptr(self, i: u32) -> *mut f32 {
        debug_assert!((i as usize) < self.rows);
        self.ptr.add(i as usize * self.dim)
    }

    /// # Safety
    /// The caller holds no other reference into the table.
    unsafe fn all<'a>(self) -> &'a mut [f32] {
        std::slice::from_raw_parts_mut(self.ptr, self.rows * self.dim)
    }
}

/// One thread's copies of the centre and context tables, and what they held at the last merge.
pub struct Replica {
    centre: Matrix,
    context: Matrix,
    snap_centre: Vec<f32>,
    snap_context: Vec<f32>,
}

impl Replica {
    /// Copies of the shared tables as they are now.
    ///
    /// # Safety
    /// The shared tables are written only under `lock` while replicas exist.
    pub unsafe fn new(centre: Rows, context: Rows, lock: &Mutex<()>) -> Self {
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let copy = |t: Rows| Matrix { rows: t.rows, cols: t.dim, data: t.all().to_vec() };
        let (centre, context) = (copy(centre), copy(context));
        Replica { snap_centre: centre.data.clone(), snap_context: context.data.clone(), centre, context }
    }

    /// The copies, as the tables this thread trains.
    pub fn rows(&mut self) -> (Rows, Rows) {
        (Rows::new(&mut self.centre), Rows::new(&mut self.context))
    }

    /// Adds what the copies moved since the last merge, times the row's weight
    /// ([`merge_weights`]), to the shared tables, then reloads the copies (which now hold the
    /// other threads' merged changes too).
    ///
    /// # Safety
    /// As [`Replica::new`]; no reference into the copies is alive.
    pub unsafe fn sync(&mut self, centre: Rows, context: Rows, lock: &Mutex<()>, weights: &[f32]) {
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let dim = self.centre.cols;
        for (shared, copy, snap) in
            [(centre.all(), &mut self.centre.data, &mut self.snap_centre), (context.all(), &mut self.context.data, &mut self.snap_context)]
        {
            for (((x, c), p), &w) in shared.chunks_mut(dim).zip(copy.chunks_mut(dim)).zip(snap.chunks_mut(dim)).zip(weights) {
                // (w = 1 sums exactly: multiplying by 1 rounds nothing.)
                for ((x, c), p) in x.iter_mut().zip(c.iter_mut()).zip(p.iter_mut()) {
                    *x += w * (*c - *p);
                    *c = *x;
                    *p = *x;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_fit_in_the_budget() {
        // Two threads x (copy + snapshot) x 2 tables x 4 bytes: 32 bytes per cell.
        assert!(copies_fit(1682, 64, 2), "ml-100k");
        assert!(copies_fit(10_000, 128, 2), "a 10k-node graph");
        assert!(copies_fit(COPY_BUDGET / 32, 1, 2) && !copies_fit(COPY_BUDGET / 32 + 1, 1, 2));
        assert!(!copies_fit(COPY_BUDGET / 32, 1, 3), "more threads, more copies");
        assert!(!copies_fit(usize::MAX, 64, 2), "no overflow");
        // ml-100k (window 5, negative 5) and a 10k-node graph (window 10).
        assert_eq!(sync_tokens(64, 1682, 5, 5), 64 * 1682 / 42);
        assert_eq!(sync_tokens(64, 10_000, 10, 5), 64 * 10_000 / 77);
    }

    #[test]
    fn hubs_merge_the_mean_of_the_moves() {
        // 32 rows, mean count 500 / 32: row 0 holds 25.6x the mean, row 31 6.4x.
        let mut counts = vec![0u64; 32];
        (counts[0], counts[31]) = (400, 100);
        let w = merge_weights(&counts, 2, HUB_MULTIPLE);
        assert_eq!(w[0], 0.5);
        assert!(w[1..].iter().all(|&x| x == 1.0));
        assert!(merge_weights(&[400, 0, 0, 1], 2, 0.0).iter().all(|&x| x == 1.0), "0 turns hubs off");
        // Both threads move the hub from 1 to the same point 3: it lands at 3, not 5; a
        // row only one thread moved gets the whole move.
        let mut c = Matrix::from_vec(2, 1, vec![1.0, 1.0]).unwrap();
        let mut x = Matrix::zeros(2, 1);
        let (cr, xr) = (Rows::new(&mut c), Rows::new(&mut x));
        let lock = Mutex::new(());
        let w = [0.5, 1.0];
        unsafe {
            let mut a = Replica::new(cr, xr, &lock);
            let mut b = Replica::new(cr, xr, &lock);
            let ((ac, _), (bc, _)) = (a.rows(), b.rows());
            ac.row(0)[0] = 3.0;
            bc.row(0)[0] = 3.0;
            bc.row(1)[0] = 2.0;
            a.sync(cr, xr, &lock, &w);
            b.sync(cr, xr, &lock, &w);
            assert_eq!(cr.row(0)[0], 3.0);
            assert_eq!(cr.row(1)[0], 2.0);
        }
    }

    /// Two threads' changes to the same row both reach the shared table, and a merge hands
    /// each thread the other's: nothing is lost, whatever the order of the merges.
    #[test]
    fn merges_add_every_threads_change() {
        let (vocab, dim) = (4, 3);
        let mut c = Matrix::from_vec(vocab, dim, (0..12).map(|x| x as f32).collect()).unwrap();
        let mut x = Matrix::zeros(vocab, dim);
        let (cr, xr) = (Rows::new(&mut c), Rows::new(&mut x));
        let lock = Mutex::new(());
        unsafe {
            let mut a = Replica::new(cr, xr, &lock);
            let mut b = Replica::new(cr, xr, &lock);
            let ((ac, _), (bc, bx)) = (a.rows(), b.rows());
            assert_ne!(ac.ptr(2), cr.ptr(2), "threads train their copies");
            ac.row(2)[0] += 1.0;
            bc.row(2)[0] += 10.0;
            bx.row(0)[0] -= 2.0;
            assert_eq!(cr.row(2)[0], 6.0, "unmerged changes stay in the copies");
            a.sync(cr, xr, &lock, &[1.0; 4]);
            assert_eq!(cr.row(2)[0], 7.0);
            b.sync(cr, xr, &lock, &[1.0; 4]);
            assert_eq!(cr.row(2)[0], 17.0, "both changes land");
            assert_eq!(xr.row(0)[0], -2.0);
            a.sync(cr, xr, &lock, &[1.0; 4]);
            assert_eq!(a.centre.row(2)[0], 17.0, "a merge brings the other thread's change");
            assert_eq!(cr.row(2)[0], 17.0, "a merge without changes changes nothing");
        }
    }
}
