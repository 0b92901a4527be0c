//! Text to sparse features: DSSM's word hashing. A word gets boundary marks and is cut into
//! letter trigrams (`good` -> `#go`, `goo`, `ood`, `od#`); each trigram goes into one of
//! `buckets` through XXH3 with a fixed seed, so the same text hashes to the same buckets in
//! every run, build and machine (Python's `hash()`, used by the seed article, changes
//! between runs unless PYTHONHASHSEED is set).
//!
//! A text becomes a bag of bucket ids (a trigram that occurs twice is listed twice: the
//! count vector of the paper, kept sparse); models sum the buckets' embeddings, so a
//! `buckets`-wide dense input is never built.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The hash seed: fixed, part of the format (changing it changes every bucket).
pub const HASH_SEED: u64 = 0x5eed_d55a;

/// Lower-cased words: runs of letters and digits (apostrophes and hyphens split words).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

/// The letter trigrams of one word with boundary marks, in order. A one-letter word `a`
/// gives `#a#`.
pub fn trigrams(word: &str) -> Vec<String> {
    let marked: Vec<char> = std::iter::once('#').chain(word.chars()).chain(std::iter::once('#')).collect();
    marked.windows(3).map(|w| w.iter().collect()).collect()
}

/// The bucket of one trigram.
pub fn bucket(trigram: &str, buckets: u32) -> u32 {
    (xxh3_64_with_seed(trigram.as_bytes(), HASH_SEED) % buckets as u64) as u32
}

/// The bag of trigram buckets of a whole text (every word's trigrams).
pub fn letter_trigram_bag(text: &str, buckets: u32) -> Vec<u32> {
    words(text).flat_map(|w| trigrams(&w)).map(|t| bucket(&t, buckets)).collect()
}

/// Per word, its bag of trigram buckets (CDSSM's word-level inputs).
pub fn word_bags(text: &str, buckets: u32) -> Vec<Vec<u32>> {
    words(text).map(|w| trigrams(&w).iter().map(|t| bucket(t, buckets)).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigrams_with_boundary_marks() {
        assert_eq!(trigrams("good"), ["#go", "goo", "ood", "od#"]);
        assert_eq!(trigrams("a"), ["#a#"]);
        assert_eq!(trigrams("ab"), ["#ab", "ab#"]);
        let w: Vec<String> = words("Toy Story (1995)").collect();
        assert_eq!(w, ["toy", "story", "1995"]);
        assert_eq!(words("Children's Sci-Fi").collect::<Vec<_>>(), ["children", "s", "sci", "fi"]);
    }

    /// Buckets are XXH3-64 with [`HASH_SEED`], modulo `buckets`: the expected values were
    /// computed independently with Python's `xxhash` package
    /// (`xxhash.xxh3_64_intdigest(b"#go", seed=0x5eedd55a) % 50000`), so a change of hash,
    /// seed or byte encoding fails here.
    #[test]
    fn buckets_match_an_independent_xxh3() {
        let want: [(&str, u32); 4] = EXPECTED;
        for (t, b) in want {
            assert_eq!(bucket(t, 50_000), b, "trigram {t}");
        }
        // The same text gives the same bag, with repeated trigrams counted.
        let bag = letter_trigram_bag("good good", 50_000);
        assert_eq!(bag.len(), 8);
        assert_eq!(bag[..4], bag[4..]);
        assert_eq!(bag, letter_trigram_bag("Good, GOOD!", 50_000));
        assert!(bag.iter().all(|&b| b < 50_000));
    }

    // Filled from Python's xxhash (see the test above).
    const EXPECTED: [(&str, u32); 4] = [("#go", 8591), ("goo", 7857), ("ood", 13746), ("od#", 47438)];
}
