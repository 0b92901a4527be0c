//! How an epoch's corpus is cut into blocks of about equal token counts, and how each block's
//! RNG is seeded from `(seed, epoch, block)`: what makes a block's training independent of
//! which thread pulls it (see [`super::engine`]'s "Threads").

use crate::data::corpus::Corpus;
use std::ops::Range;

pub(super) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) fn mix(seed: u64, epoch: u64, block: u64) -> u64 {
    splitmix(seed ^ splitmix(epoch.wrapping_mul(0x1_0000_0001) ^ splitmix(block)))
}

/// Blocks per thread and epoch when more than one thread trains: enough that the last block
/// of an epoch is short (the other threads wait for it), few enough that pulling one costs
/// nothing against training it.
pub(super) const BLOCKS_PER_THREAD: usize = 32;

/// Contiguous ranges of sequences with about `total / n` tokens each (exactly `n` blocks,
/// some possibly empty).
pub(super) fn split_blocks(corpus: &Corpus, n: usize) -> Vec<Block> {
    let n = n.max(1);
    let total = corpus.tokens.len() as u64;
    let mut blocks = Vec::with_capacity(n);
    let mut start = 0usize;
    for k in 1..=n {
        let target = total * k as u64 / n as u64;
        let mut end = start;
        if k == n {
            end = corpus.len();
        } else {
            while end < corpus.len() && corpus.offsets[end + 1] <= target {
                end += 1;
            }
        }
        blocks.push(Block { seqs: start..end, first: corpus.offsets[start] });
        start = end;
    }
    blocks
}

pub(super) struct Block {
    pub(super) seqs: Range<usize>,
    /// Tokens of the corpus before the block: where its learning rate starts.
    pub(super) first: u64,
}
