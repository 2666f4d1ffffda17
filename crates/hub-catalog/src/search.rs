//! Ranked text search over the catalogue's [`TextIndex`](crate::index::TextIndex).
//!
//! Each distinct query word (at most [`MAX_WORDS`]) scores every institution it touches with its
//! best match kind: whole name word > name word prefix > keyword word > keyword prefix > typo
//! (distance 1 > distance 2). An institution's score packs, from most to least significant:
//! a tier (2 = the normalised name equals the query, 1 = the name starts with it, 0 = other),
//! the number of query words it matched, and the sum of the per-word scores. The ranking key
//! appends the inverted tie rank, so one descending `u64` sort gives score desc, then shorter
//! name, then name, then id.
//!
//! Buffers live in a per-thread [`Scratch`] with generation stamps, so a query allocates only
//! its result vector (and a small one when the filter hides institutions).

use crate::catalog::{Catalog, CompiledFilter, Page};
use crate::distance::{DistanceRows, distance_within};
use crate::index::for_each_bigram;
use crate::normalize::normalize_into;
use hub_core::institution::Institution;

/// Longest query considered, in characters; the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 200;
/// Distinct query words scored; further words only matter for the exact and prefix tiers.
pub const MAX_WORDS: usize = 16;

const NAME_WORD: u16 = 1000;
const NAME_PREFIX: u16 = 600;
const KEYWORD_WORD: u16 = 400;
const KEYWORD_PREFIX: u16 = 250;
const TYPO_ONE: u16 = 150;
const TYPO_TWO: u16 = 100;
/// Keyword prefixes of shorter words would expand to thousands of bank codes and BICs.
const MIN_KEYWORD_PREFIX_CHARS: usize = 3;

/// Allowed edit distance for a query word of `chars` characters.
fn max_typos(chars: usize) -> u32 {
    match chars {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

#[derive(Default)]
pub(crate) struct Scratch {
    query: String,
    words: Vec<(usize, usize)>,
    word_chars: Vec<char>,
    token_chars: Vec<char>,
    bigrams: Vec<u64>,
    rows: DistanceRows,
    // Per institution.
    query_generation: u32,
    query_stamp: Vec<u32>,
    total: Vec<u32>,
    coverage: Vec<u8>,
    touched: Vec<u32>,
    word_generation: u32,
    word_stamp: Vec<u32>,
    word_best: Vec<u16>,
    word_touched: Vec<u32>,
    // Per vocabulary token (typo candidates).
    token_generation: u32,
    token_stamp: Vec<u32>,
    token_count: Vec<u8>,
    token_touched: Vec<u32>,
    keys: Vec<u64>,
}

/// Moves to the next generation, clearing the stamps on wrap-around so an old stamp can never
/// equal the new generation.
fn next_generation(generation: &mut u32, stamps: &mut [u32]) -> u32 {
    if *generation == u32::MAX {
        stamps.fill(0);
        *generation = 0;
    }
    *generation += 1;
    *generation
}

impl Scratch {
    fn fit(&mut self, institutions: usize, tokens: usize) {
        if self.query_stamp.len() < institutions {
            self.query_stamp.resize(institutions, 0);
            self.total.resize(institutions, 0);
            self.coverage.resize(institutions, 0);
            self.word_stamp.resize(institutions, 0);
            self.word_best.resize(institutions, 0);
        }
        if self.token_stamp.len() < tokens {
            self.token_stamp.resize(tokens, 0);
            self.token_count.resize(tokens, 0);
        }
    }

    /// Records that the current word matched `inst` with `score`; keeps the best per word.
    fn hit(&mut self, inst: u32, score: u16) {
        let i = inst as usize;
        if self.word_stamp[i] != self.word_generation {
            self.word_stamp[i] = self.word_generation;
            self.word_best[i] = score;
            self.word_touched.push(inst);
        } else if score > self.word_best[i] {
            self.word_best[i] = score;
        }
    }

    fn hit_all(&mut self, insts: &[u32], score: u16) {
        for &inst in insts {
            self.hit(inst, score);
        }
    }

    /// Folds the current word's best scores into the per-query totals.
    fn end_word(&mut self) {
        for k in 0..self.word_touched.len() {
            let i = self.word_touched[k] as usize;
            if self.query_stamp[i] != self.query_generation {
                self.query_stamp[i] = self.query_generation;
                self.total[i] = 0;
                self.coverage[i] = 0;
                self.touched.push(i as u32);
            }
            self.total[i] += u32::from(self.word_best[i]);
            self.coverage[i] = self.coverage[i].saturating_add(1);
        }
        self.word_touched.clear();
    }
}

impl Catalog {
    pub(crate) fn search_with(
        &self,
        s: &mut Scratch,
        query: &str,
        filter: &CompiledFilter,
        page: Page,
    ) -> Vec<&Institution> {
        let query = match query.char_indices().nth(MAX_QUERY_CHARS) {
            Some((cut, _)) => &query[..cut],
            None => query,
        };
        normalize_into(query, &mut s.query);
        if s.query.is_empty() {
            return Vec::new();
        }
        s.fit(self.len(), self.text.vocab.len());
        next_generation(&mut s.query_generation, &mut s.query_stamp);
        s.touched.clear();

        // Distinct words, as byte ranges into the normalised query.
        s.words.clear();
        let mut offset = 0;
        for word in s.query.split(' ') {
            let range = (offset, offset + word.len());
            offset = range.1 + 1;
            let duplicate = s.words.iter().any(|&(a, b)| &s.query[a..b] == word);
            if !duplicate && s.words.len() < MAX_WORDS {
                s.words.push(range);
            }
        }
        let word_count = s.words.len();
        for w in 0..word_count {
            let (a, b) = s.words[w];
            let word = std::mem::take(&mut s.query);
            self.score_word(s, &word[a..b]);
            s.query = word;
            s.end_word();
        }
        self.rank(s, filter, word_count, page)
    }

    fn score_word(&self, s: &mut Scratch, word: &str) {
        next_generation(&mut s.word_generation, &mut s.word_stamp);
        let text = &self.text;
        let (start, end) = text.prefix_range(word);
        let exact = (start < end && text.vocab.get(start) == word).then_some(start);
        if let Some(token) = exact {
            s.hit_all(text.name_postings.get(token), NAME_WORD);
            s.hit_all(text.keyword_postings.get(token), KEYWORD_WORD);
        }
        let prefix_start = start + usize::from(exact.is_some());
        let keyword_prefixes = word.chars().count() >= MIN_KEYWORD_PREFIX_CHARS;
        for token in prefix_start..end {
            s.hit_all(text.name_postings.get(token), NAME_PREFIX);
            if keyword_prefixes {
                s.hit_all(text.keyword_postings.get(token), KEYWORD_PREFIX);
            }
        }
        s.word_chars.clear();
        s.word_chars.extend(word.chars());
        let max = max_typos(s.word_chars.len());
        if max > 0 {
            self.score_typos(s, word, max);
        }
    }

    /// Name tokens within `max` edits of `word`. Candidates share at least
    /// `distinct bigrams − 3·max` padded bigrams with the word (an edit destroys at most three,
    /// a transposition exactly three), restricted to lengths within `max`; each is verified
    /// with the bounded distance.
    fn score_typos(&self, s: &mut Scratch, word: &str, max: u32) {
        let text = &self.text;
        let len = s.word_chars.len();
        let (min_len, max_len) = (len.saturating_sub(max as usize), len + max as usize);

        s.bigrams.clear();
        for_each_bigram(&s.word_chars, |key| s.bigrams.push(key));
        s.bigrams.sort_unstable();
        s.bigrams.dedup();
        let threshold = s.bigrams.len() as i64 - 3 * i64::from(max);

        s.token_touched.clear();
        if threshold <= 0 {
            s.token_touched.extend_from_slice(text.length_window(
                &text.name_tokens_by_len,
                min_len,
                max_len,
            ));
        } else {
            let generation = next_generation(&mut s.token_generation, &mut s.token_stamp);
            for b in 0..s.bigrams.len() {
                let window = text.length_window(text.bigram_tokens(s.bigrams[b]), min_len, max_len);
                for &token in window {
                    let t = token as usize;
                    if s.token_stamp[t] != generation {
                        s.token_stamp[t] = generation;
                        s.token_count[t] = 1;
                        s.token_touched.push(token);
                    } else {
                        s.token_count[t] = s.token_count[t].saturating_add(1);
                    }
                }
            }
            let counts = &s.token_count;
            s.token_touched
                .retain(|&t| i64::from(counts[t as usize]) >= threshold);
        }

        for k in 0..s.token_touched.len() {
            let token = s.token_touched[k] as usize;
            let candidate = text.vocab.get(token);
            if candidate.starts_with(word) {
                continue; // already scored as a word or prefix match
            }
            s.token_chars.clear();
            s.token_chars.extend(candidate.chars());
            let Some(distance) = distance_within(&s.word_chars, &s.token_chars, max, &mut s.rows)
            else {
                continue;
            };
            let score = if distance <= 1 { TYPO_ONE } else { TYPO_TWO };
            s.hit_all(text.name_postings.get(token), score);
        }
    }

    /// Filters the touched institutions, computes their keys and returns the requested page.
    fn rank(
        &self,
        s: &mut Scratch,
        filter: &CompiledFilter,
        word_count: usize,
        page: Page,
    ) -> Vec<&Institution> {
        s.keys.clear();
        for k in 0..s.touched.len() {
            let inst = s.touched[k] as usize;
            if !self.eligible(inst, filter) {
                continue;
            }
            let coverage = s.coverage[inst];
            let tier: u32 = if usize::from(coverage) == word_count {
                let name = self.names.get(inst);
                if name == s.query {
                    2
                } else if name.starts_with(s.query.as_str()) {
                    1
                } else {
                    0
                }
            } else {
                0
            };
            let score =
                (tier << 30) | (u32::from(coverage.min(63)) << 24) | s.total[inst].min(0xFF_FFFF);
            let tie = u32::MAX - self.meta[inst].tie_rank;
            s.keys.push((u64::from(score) << 32) | u64::from(tie));
        }

        let (start, end) = page.bounds();
        if start >= s.keys.len() {
            return Vec::new();
        }
        let end = end.min(s.keys.len());
        if end < s.keys.len() {
            s.keys.select_nth_unstable_by(end - 1, |a, b| b.cmp(a));
            s.keys.truncate(end);
        }
        s.keys.sort_unstable_by(|a, b| b.cmp(a));
        s.keys[start..end]
            .iter()
            .map(|&key| {
                let rank = u32::MAX - (key as u32);
                self.institution(self.by_rank[rank as usize] as usize)
            })
            .collect()
    }
}
