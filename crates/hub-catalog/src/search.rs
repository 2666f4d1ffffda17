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
//!
//! Two shortcuts keep common queries cheap without changing results: the exact and prefix
//! tiers are only checked when the institution's first name token can match the query's first
//! word, and for one-word queries the typo pass is skipped when the non-typo matches already
//! fill the requested page (a typo-only match always ranks below every other match then).

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

/// A per-institution accumulator packed into one `u64` so a hit touches one cache line:
/// generation stamp (high 32 bits) | value (low 32 bits).
#[derive(Default)]
pub(crate) struct Scratch {
    query: String,
    words: Vec<(usize, usize)>,
    word_chars: Vec<char>,
    token_chars: Vec<char>,
    bigrams: Vec<u64>,
    rows: DistanceRows,
    /// Per institution: stamp | coverage (8 bits) << 24 | total score (24 bits).
    query_slots: Vec<u64>,
    query_generation: u32,
    touched: Vec<u32>,
    /// Per institution: stamp | best score of the current word.
    word_slots: Vec<u64>,
    word_generation: u32,
    word_touched: Vec<u32>,
    /// Per vocabulary token: stamp | shared bigram count (typo candidates).
    token_slots: Vec<u64>,
    token_generation: u32,
    token_touched: Vec<u32>,
    keys: Vec<u64>,
    /// One-word query: hits go straight into the query slots (coverage is 1 for everyone and
    /// the best score wins, so the per-word pass and its fold are not needed).
    direct: bool,
}

/// Moves to the next generation, clearing the slots on wrap-around so an old stamp can never
/// equal the new generation.
fn next_generation(generation: &mut u32, slots: &mut [u64]) -> u32 {
    if *generation == u32::MAX {
        slots.fill(0);
        *generation = 0;
    }
    *generation += 1;
    *generation
}

fn stamp_of(slot: u64) -> u32 {
    (slot >> 32) as u32
}

fn value_of(slot: u64) -> u32 {
    slot as u32
}

fn slot(stamp: u32, value: u32) -> u64 {
    (u64::from(stamp) << 32) | u64::from(value)
}

impl Scratch {
    fn fit(&mut self, institutions: usize, tokens: usize) {
        if self.query_slots.len() < institutions {
            self.query_slots.resize(institutions, 0);
            self.word_slots.resize(institutions, 0);
        }
        if self.token_slots.len() < tokens {
            self.token_slots.resize(tokens, 0);
        }
    }

    /// Records that the current word matched `inst` with `score`; keeps the best per word.
    fn hit(&mut self, inst: u32, score: u16) {
        if self.direct {
            // Same result as `end_word` after this word: coverage 1 and the best score. In
            // the deferred typo pass earlier (higher-scoring) matches keep their value, as
            // with `end_word(true)`, because every earlier score exceeds every typo score.
            let generation = self.query_generation;
            let value = (1 << 24) | u32::from(score);
            let entry = &mut self.query_slots[inst as usize];
            if stamp_of(*entry) != generation {
                *entry = slot(generation, value);
                self.touched.push(inst);
            } else if value > value_of(*entry) {
                *entry = slot(generation, value);
            }
            return;
        }
        let generation = self.word_generation;
        let entry = &mut self.word_slots[inst as usize];
        if stamp_of(*entry) != generation {
            *entry = slot(generation, u32::from(score));
            self.word_touched.push(inst);
        } else if u32::from(score) > value_of(*entry) {
            *entry = slot(generation, u32::from(score));
        }
    }

    fn hit_all(&mut self, insts: &[u32], score: u16) {
        for &inst in insts {
            self.hit(inst, score);
        }
    }

    /// Folds the current word's best scores into the per-query totals. With `only_new`,
    /// institutions the query already touched are left alone (used for the deferred typo pass
    /// of a one-word query, whose earlier matches all score higher).
    fn end_word(&mut self, only_new: bool) {
        let generation = self.query_generation;
        for k in 0..self.word_touched.len() {
            let inst = self.word_touched[k] as usize;
            let best = value_of(self.word_slots[inst]);
            let entry = &mut self.query_slots[inst];
            if stamp_of(*entry) != generation {
                *entry = slot(generation, (1 << 24) | best);
                self.touched.push(inst as u32);
            } else if !only_new {
                let value = value_of(*entry);
                let coverage = (value >> 24).saturating_add(1).min(255);
                let total = ((value & 0xFF_FFFF) + best).min(0xFF_FFFF);
                *entry = slot(generation, (coverage << 24) | total);
            }
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
        let token_count = normalize_into(query, &mut s.query);
        if token_count == 0 {
            return Vec::new();
        }
        s.fit(self.len(), self.text.vocab.len());
        next_generation(&mut s.query_generation, &mut s.query_slots);
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
        let query_text = std::mem::take(&mut s.query);
        let (first_start, first_end) = s.words[0];
        let first_word = &query_text[first_start..first_end];
        // First-name-token ids that allow the exact/prefix tiers: any token starting with the
        // word when the query is one token, else exactly the first word.
        let (range_start, range_end) = self.text.prefix_range(first_word);
        let tier_tokens = if token_count == 1 {
            (range_start as u32, range_end as u32)
        } else {
            let exact = range_start < range_end && self.text.vocab.get(range_start) == first_word;
            if exact {
                (range_start as u32, range_start as u32 + 1)
            } else {
                (0, 0)
            }
        };

        let (_, page_end) = page.bounds();
        if word_count == 1 {
            s.direct = true;
            self.score_word(s, first_word, false);
            if self.count_eligible(s, filter, page_end) < page_end {
                let max = max_typos(s.word_chars.len());
                if max > 0 {
                    self.score_typos(s, first_word, max);
                }
            }
            s.direct = false;
        } else {
            for w in 0..word_count {
                let (a, b) = s.words[w];
                self.score_word(s, &query_text[a..b], true);
                s.end_word(false);
            }
        }
        s.query = query_text;
        self.rank(s, filter, word_count, tier_tokens, page)
    }

    /// How many touched institutions pass the filter, counting no further than `enough`.
    fn count_eligible(&self, s: &Scratch, filter: &CompiledFilter, enough: usize) -> usize {
        if filter.accepts_all {
            return s.touched.len().min(enough);
        }
        let mut count = 0;
        for &inst in &s.touched {
            if self.eligible(inst as usize, filter) {
                count += 1;
                if count >= enough {
                    break;
                }
            }
        }
        count
    }

    fn score_word(&self, s: &mut Scratch, word: &str, with_typos: bool) {
        next_generation(&mut s.word_generation, &mut s.word_slots);
        let text = &self.text;
        let (start, end) = text.prefix_range(word);
        let exact = (start < end && text.vocab.get(start) == word).then_some(start);
        if let Some(token) = exact {
            s.hit_all(text.name_postings.get(token), NAME_WORD);
            s.hit_all(text.keyword_postings.get(token), KEYWORD_WORD);
        }
        let prefix_start = start + usize::from(exact.is_some());
        s.word_chars.clear();
        s.word_chars.extend(word.chars());
        let keyword_prefixes = s.word_chars.len() >= MIN_KEYWORD_PREFIX_CHARS;
        for token in prefix_start..end {
            s.hit_all(text.name_postings.get(token), NAME_PREFIX);
            if keyword_prefixes {
                s.hit_all(text.keyword_postings.get(token), KEYWORD_PREFIX);
            }
        }
        let max = max_typos(s.word_chars.len());
        if with_typos && max > 0 {
            self.score_typos(s, word, max);
        }
    }

    /// Name tokens within `max` edits of `word`. A candidate shares at least
    /// `max(distinct bigrams of word, of candidate) − 3·max` padded bigrams with the word (an
    /// edit destroys at most three) and has a length within `max`; survivors are verified with
    /// the bounded distance. Tokens starting with `word` are skipped: already scored higher.
    fn score_typos(&self, s: &mut Scratch, word: &str, max: u32) {
        let text = &self.text;
        let len = s.word_chars.len();
        let (min_len, max_len) = (len.saturating_sub(max as usize), len + max as usize);
        let slack = 3 * max as usize;

        s.bigrams.clear();
        for_each_bigram(&s.word_chars, |key| s.bigrams.push(key));
        s.bigrams.sort_unstable();
        s.bigrams.dedup();
        let word_bigrams = s.bigrams.len();

        // A word of `len` characters has `len + 1` padded bigram occurrences and an edit
        // destroys at most three, so with `len + 1 > 3·max` (always true for the typo budget
        // of `max_typos`) every candidate shares at least one bigram with the word: the
        // bigram postings are always a complete candidate set, never a scan of the vocabulary.
        debug_assert!(len + 1 > slack);
        s.token_touched.clear();
        let generation = next_generation(&mut s.token_generation, &mut s.token_slots);
        for b in 0..word_bigrams {
            let window = text.length_window(text.bigram_tokens(s.bigrams[b]), min_len, max_len);
            for &token in window {
                let entry = &mut s.token_slots[token as usize];
                if stamp_of(*entry) != generation {
                    *entry = slot(generation, 1);
                    s.token_touched.push(token);
                } else {
                    *entry += 1;
                }
            }
        }
        let slots = &s.token_slots;
        let token_bigrams = &text.token_bigrams;
        s.token_touched.retain(|&t| {
            let needed = word_bigrams
                .max(usize::from(token_bigrams[t as usize]))
                .saturating_sub(slack);
            value_of(slots[t as usize]) as usize >= needed.max(1)
        });

        let ascii_word = word.is_ascii();
        for k in 0..s.token_touched.len() {
            let token = s.token_touched[k] as usize;
            let candidate = text.vocab.get(token);
            if candidate.starts_with(word) {
                continue;
            }
            let distance = if ascii_word && candidate.is_ascii() {
                distance_within(word.as_bytes(), candidate.as_bytes(), max, &mut s.rows)
            } else {
                s.token_chars.clear();
                s.token_chars.extend(candidate.chars());
                distance_within(&s.word_chars, &s.token_chars, max, &mut s.rows)
            };
            let Some(distance) = distance else {
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
        (tier_start, tier_end): (u32, u32),
        page: Page,
    ) -> Vec<&Institution> {
        s.keys.clear();
        for k in 0..s.touched.len() {
            let inst = s.touched[k] as usize;
            if !self.eligible(inst, filter) {
                continue;
            }
            let value = value_of(s.query_slots[inst]);
            let coverage = value >> 24;
            let first = self.first_token[inst];
            let tier: u32 =
                if coverage as usize == word_count && (tier_start..tier_end).contains(&first) {
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
            let score = (tier << 30) | (coverage.min(63) << 24) | (value & 0xFF_FFFF);
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
