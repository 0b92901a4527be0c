//! Where a worker thread reads and writes embedding rows: the shared tables, or its own copies
//! of them.
//!
//! # Why copies
//! Plain Hogwild (every thread writes the shared rows without locks, as word2vec and gensim do)
//! stops paying on a small vocabulary: the frequent rows are written by every thread many
//! times a millisecond, so their cache lines bounce between cores. On MovieLens-100K (1,682
//! items) two threads trained slower than one (experiments/item2vec_vs_gensim).
//!
//! With more than one thread, when both tables fit in [`COPY_BYTES`] ([`copies_fit`]), each
//! worker therefore trains private copies of them and, every [`SYNC_TOKENS`] tokens (at least
//! 16 times per chunk) and at the end of its chunk, adds what its copies moved since the last
//! merge to the shared rows and reloads them, under a lock ([`Replica::sync`]). Updates are
//! summed, never lost (Hogwild loses racing increments); what a thread does not see is the
//! other threads' last few thousand tokens, a staleness of the same order as Hogwild's.
//!
//! A larger vocabulary stays Hogwild: its updates spread over more rows, and copying only its
//! most frequent rows measured slower than plain Hogwild on PPI (3,852 nodes, d = 128: 2
//! threads 1.2-1.6x one thread with copies of the top 1,024 rows, 1.6-1.8x without), the
//! copies and their snapshot crowding the L2 cache the shared rows need. One thread trains on
//! the shared tables directly, bit-exact for a seed.

use crate::linalg::Matrix;
use std::sync::Mutex;

/// The most bytes of rows (centre + context) a thread copies; the merge snapshot doubles it.
/// On ml-100k (1,682 items, d = 64: 861 KB) copies gave 2 threads 1.2-1.8x one thread's
/// tokens/s against 1.0-1.4x for Hogwild (experiments/item2vec_vs_gensim).
pub const COPY_BYTES: usize = 1 << 20;

/// Tokens a thread trains between merges (at most; the engine merges at least 16 times per
/// chunk). A merge costs two passes over the copies: 5-8 % of an epoch on ml-100k.
pub const SYNC_TOKENS: usize = 8192;

/// Whether threads train copies of a `vocab x dim` centre and context table.
pub fn copies_fit(vocab: usize, dim: usize) -> bool {
    vocab.saturating_mul(2 * 4 * dim) <= COPY_BYTES
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

    /// Adds what the copies moved since the last merge to the shared tables, then reloads the
    /// copies (which now hold the other threads' merged changes too).
    ///
    /// # Safety
    /// As [`Replica::new`]; no reference into the copies is alive.
    pub unsafe fn sync(&mut self, centre: Rows, context: Rows, lock: &Mutex<()>) {
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        for (shared, copy, snap) in
            [(centre.all(), &mut self.centre.data, &mut self.snap_centre), (context.all(), &mut self.context.data, &mut self.snap_context)]
        {
            for ((x, c), p) in shared.iter_mut().zip(copy.iter_mut()).zip(snap.iter_mut()) {
                *x += *c - *p;
                *c = *x;
                *p = *x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_fit_in_the_budget() {
        // ml-100k at d = 64: 1,682 x 64 x 2 tables x 4 bytes = 861 KB.
        assert!(copies_fit(1682, 64));
        assert!(!copies_fit(3852, 128), "PPI at d = 128 trains Hogwild");
        assert!(copies_fit(COPY_BYTES / 16, 2) && !copies_fit(COPY_BYTES / 16 + 1, 2));
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
            a.sync(cr, xr, &lock);
            assert_eq!(cr.row(2)[0], 7.0);
            b.sync(cr, xr, &lock);
            assert_eq!(cr.row(2)[0], 17.0, "both changes land");
            assert_eq!(xr.row(0)[0], -2.0);
            a.sync(cr, xr, &lock);
            assert_eq!(a.centre.row(2)[0], 17.0, "a merge brings the other thread's change");
            assert_eq!(cr.row(2)[0], 17.0, "a merge without changes changes nothing");
        }
    }
}
