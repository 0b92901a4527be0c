//! Token sequences (user histories, random walks) stored flat: one `Vec<u32>` plus offsets,
//! so a corpus of millions of walks costs 4 bytes a token and no per-sequence allocation.

use anyhow::{bail, Result};

/// A list of sequences over a vocabulary of `vocab_size` ids.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corpus {
    pub vocab_size: usize,
    pub tokens: Vec<u32>,
    /// `offsets[i]..offsets[i + 1]` is sequence i; always starts with 0.
    pub offsets: Vec<u64>,
}

impl Corpus {
    pub fn new(vocab_size: usize) -> Self {
        Corpus { vocab_size, tokens: Vec::new(), offsets: vec![0] }
    }

    pub fn push(&mut self, seq: &[u32]) {
        self.tokens.extend_from_slice(seq);
        self.offsets.push(self.tokens.len() as u64);
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn seq(&self, i: usize) -> &[u32] {
        &self.tokens[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u32]> + '_ {
        (0..self.len()).map(move |i| self.seq(i))
    }

    /// Occurrence count of every id, the input of unigram negative sampling.
    pub fn counts(&self) -> Vec<u64> {
        let mut c = vec![0u64; self.vocab_size];
        for &t in &self.tokens {
            c[t as usize] += 1;
        }
        c
    }

    /// Checks the invariants a corpus read from disk must hold.
    pub fn validate(&self) -> Result<()> {
        if self.offsets.first() != Some(&0) || self.offsets.last().copied() != Some(self.tokens.len() as u64) {
            bail!("corpus offsets do not span its tokens");
        }
        if self.offsets.windows(2).any(|w| w[0] > w[1]) {
            bail!("corpus offsets are not sorted");
        }
        if let Some(t) = self.tokens.iter().find(|&&t| t as usize >= self.vocab_size) {
            bail!("corpus token {t} is outside the vocabulary of {}", self.vocab_size);
        }
        Ok(())
    }
}
