//! Where a worker thread reads and writes embedding rows: the shared tables, or its own copies
//! of the hottest rows.
//!
//! # Why copies
//! Plain Hogwild (every thread writes the shared rows without locks, as word2vec and gensim do)
//! stops paying on a small vocabulary: the frequent rows are written by every thread many
//! times a millisecond, so their cache lines bounce between cores. On MovieLens-100K (1,682
//! items) two threads trained slower than one (experiments/item2vec_vs_gensim).
//!
//! With more than one thread, when the whole vocabulary's rows fit in [`HOT_BYTES`], each
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
pub const HOT_BYTES: usize = 1 << 20;

/// Tokens a thread trains between merges of its hot rows. A merge costs two passes over the
/// hot rows; at 8,192 tokens (hundreds of thousands of row updates) it is about 1 % of the
/// time on ml-100k.
pub const SYNC_TOKENS: usize = 8192;

const NONE: u32 = u32::MAX;

/// A table shared by the workers.
#[derive(Clone, Copy)]
pub struct Rows {
    ptr: *mut f32,
    rows: usize,
    dim: usize,
}

// SAFETY: see the module docs of `engine`: concurrent lock-free updates of cold rows are the
// algorithm (Hogwild); hot rows are written only under the merge lock.
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
}

/// The rows each thread copies (every id that occurs), and each id's slot among them.
pub struct HotSet {
    /// Per id: its slot, or `NONE`.
    slot: Vec<u32>,
    /// Per slot: its id.
    ids: Vec<u32>,
}

impl HotSet {
    /// The ids that occur, when their centre and context rows of `dim` floats fit in `budget`
    /// bytes; `None` (train Hogwild) when they do not.
    pub fn new(counts: &[u64], dim: usize, budget: usize) -> Option<HotSet> {
        let ids: Vec<u32> = (0..counts.len() as u32).filter(|&i| counts[i as usize] > 0).collect();
        if ids.len().saturating_mul(2 * 4 * dim) > budget {
            return None;
        }
        let mut slot = vec![NONE; counts.len()];
        for (s, &id) in ids.iter().enumerate() {
            slot[id as usize] = s as u32;
        }
        Some(HotSet { slot, ids })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }
}

/// One thread's copies of the hot rows, and what they held at the last merge.
pub struct Replica<'a> {
    hot: &'a HotSet,
    dim: usize,
    centre: Vec<f32>,
    context: Vec<f32>,
    snap_centre: Vec<f32>,
    snap_context: Vec<f32>,
}

impl<'a> Replica<'a> {
    /// Copies of the hot rows as the shared tables hold them now.
    ///
    /// # Safety
    /// `centre` and `context` have a row for every id of `hot`, and hot rows are written only
    /// under `lock`.
    pub unsafe fn new(hot: &'a HotSet, centre: Rows, context: Rows, lock: &Mutex<()>) -> Self {
        let dim = centre.dim;
        let n = hot.len() * dim;
        let mut r = Replica { hot, dim, centre: vec![0.0; n], context: vec![0.0; n], snap_centre: vec![0.0; n], snap_context: vec![0.0; n] };
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        for (s, &id) in hot.ids.iter().enumerate() {
            let range = s * dim..(s + 1) * dim;
            r.centre[range.clone()].copy_from_slice(centre.row(id));
            r.context[range].copy_from_slice(context.row(id));
        }
        r.snap_centre.copy_from_slice(&r.centre);
        r.snap_context.copy_from_slice(&r.context);
        r
    }

    /// The rows this thread reads and writes: its copies for hot ids, the shared rows else.
    pub fn view(&mut self, centre: Rows, context: Rows) -> View {
        View { centre, context, slot: self.hot.slot.as_ptr(), hot_centre: self.centre.as_mut_ptr(), hot_context: self.context.as_mut_ptr(), dim: self.dim }
    }

    /// Adds what the copies moved since the last merge to the shared rows, then reloads the
    /// copies (which now hold the other threads' merged changes too).
    ///
    /// # Safety
    /// As [`Replica::new`]; no [`View`] of this replica is in use.
    pub unsafe fn sync(&mut self, centre: Rows, context: Rows, lock: &Mutex<()>) {
        let dim = self.dim;
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        for (s, &id) in self.hot.ids.iter().enumerate() {
            let range = s * dim..(s + 1) * dim;
            for (shared, copy, snap) in [
                (centre.row(id), &mut self.centre[range.clone()], &mut self.snap_centre[range.clone()]),
                (context.row(id), &mut self.context[range.clone()], &mut self.snap_context[range.clone()]),
            ] {
                for ((x, c), p) in shared.iter_mut().zip(copy.iter_mut()).zip(snap.iter_mut()) {
                    *x += *c - *p;
                    *c = *x;
                    *p = *x;
                }
            }
        }
    }
}

/// How a worker reaches rows: through its hot copies (`HOT`) or straight to the shared tables.
#[derive(Clone, Copy)]
pub struct View {
    centre: Rows,
    context: Rows,
    slot: *const u32,
    hot_centre: *mut f32,
    hot_context: *mut f32,
    dim: usize,
}

impl View {
    /// The shared tables only (one thread).
    pub fn shared(centre: Rows, context: Rows) -> View {
        View { centre, context, slot: std::ptr::null(), hot_centre: std::ptr::null_mut(), hot_context: std::ptr::null_mut(), dim: centre.dim }
    }

    /// # Safety
    /// `i` is in the vocabulary; with `HOT`, the view came from [`Replica::view`] and the
    /// replica is alive and not merging.
    #[inline(always)]
    pub unsafe fn centre<const HOT: bool>(&self, i: u32) -> *mut f32 {
        if HOT {
            let s = *self.slot.add(i as usize);
            if s != NONE {
                return self.hot_centre.add(s as usize * self.dim);
            }
        }
        self.centre.ptr(i)
    }

    /// # Safety
    /// As [`View::centre`].
    #[inline(always)]
    pub unsafe fn context<const HOT: bool>(&self, i: u32) -> *mut f32 {
        if HOT {
            let s = *self.slot.add(i as usize);
            if s != NONE {
                return self.hot_context.add(s as usize * self.dim);
            }
        }
        self.context.ptr(i)
    }

    /// # Safety
    /// As [`View::centre`], and the caller holds no other reference to the row.
    #[inline(always)]
    pub unsafe fn centre_row<'a, const HOT: bool>(&self, i: u32) -> &'a mut [f32] {
        std::slice::from_raw_parts_mut(self.centre::<HOT>(i), self.dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_set_is_every_occurring_id_when_they_fit() {
        let counts = [5u64, 0, 9, 9, 1, 7];
        // 5 rows of dim 2 in 2 tables of f32: 80 bytes.
        let h = HotSet::new(&counts, 2, 80).unwrap();
        assert_eq!(h.ids, vec![0, 2, 3, 4, 5]);
        assert_eq!(h.slot, vec![0, NONE, 1, 2, 3, 4]);
        assert!(HotSet::new(&counts, 2, 79).is_none(), "one byte short: Hogwild");
    }

    /// Two threads' changes to the same hot row both reach the shared table, and a merge
    /// hands each thread the other's: nothing is lost, whatever the order of the merges.
    #[test]
    fn merges_add_every_threads_change() {
        let (vocab, dim) = (4, 3);
        let mut c = Matrix::from_vec(vocab, dim, (0..12).map(|x| x as f32).collect()).unwrap();
        let mut x = Matrix::zeros(vocab, dim);
        let (cr, xr) = (Rows::new(&mut c), Rows::new(&mut x));
        let hot = HotSet::new(&[10, 0, 10, 1], dim, 1 << 10).unwrap(); // ids 0, 2 and 3
        let lock = Mutex::new(());
        unsafe {
            let mut a = Replica::new(&hot, cr, xr, &lock);
            let mut b = Replica::new(&hot, cr, xr, &lock);
            let (va, vb) = (a.view(cr, xr), b.view(cr, xr));
            // Copied rows go to the copies, an id that never occurs to the shared table.
            assert_ne!(va.centre::<true>(2), cr.ptr(2));
            assert_eq!(va.centre::<true>(1), cr.ptr(1));
            *va.centre::<true>(2) += 1.0;
            *vb.centre::<true>(2) += 10.0;
            *vb.context::<true>(0) -= 2.0;
            assert_eq!(c.data[6], 6.0, "unmerged changes stay in the copies");
            a.sync(cr, xr, &lock);
            assert_eq!(cr.row(2)[0], 7.0);
            b.sync(cr, xr, &lock);
            assert_eq!(cr.row(2)[0], 17.0, "both changes land");
            assert_eq!(xr.row(0)[0], -2.0);
            a.sync(cr, xr, &lock);
            assert_eq!(a.centre[dim], 17.0, "a merge brings the other thread's change");
            assert_eq!(cr.row(2)[0], 17.0, "a merge without changes changes nothing");
        }
    }
}
