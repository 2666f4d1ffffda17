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
//! Shortcuts keep common queries cheap without changing results (a test compares them with
//! [`Catalog::search_exhaustive`] over thousands of queries on the real catalogue):
//!
//! * the exact and prefix tiers are only checked when the institution's first name token can
//!   match the query's first word;
//! * one pass per word: a word's hits come best-first, so an institution's first hit for a
//!   word is its best and is folded into the query totals at once;
//! * one-word queries skip the typo pass when the non-typo matches already fill the page (a
//!   typo-only match ranks below every other match then);
//! * multi-word queries score their cheapest words first and may stop early, checking the
//!   rest against the institutions already found (`ranked_by_probing`);
//! * ranking gives a full key only to institutions whose score reaches the page's lowest
//!   possible score, found with a histogram (`page_threshold`);
//! * a word's typo expansion is remembered per thread (`Scratch::typo_memo`).

use crate::catalog::{Catalog, CompiledFilter, Page};
use crate::distance::{DistanceRows, distance_within};
use crate::index::{KEYWORD_TOKEN, for_each_bigram, initial_bit};
use crate::normalize::normalize_into;
use hub_core::institution::Institution;
use std::collections::HashMap;

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
/// Checking one word against one institution's tokens costs about this many posting hits.
const PROBE_COST: usize = 4;
/// Most words whose typo expansion a search thread remembers; the memo is emptied when full.
const TYPO_MEMO_WORDS: usize = 4096;
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
    /// Per institution: query stamp (24 bits) << 40 | mark of the last word that hit it
    /// (8 bits) << 32 | coverage (8 bits) << 24 | total score (24 bits).
    query_slots: Vec<u64>,
    query_generation: u32,
    touched: Vec<u32>,
    /// Mark of the word being scored (1 + its position among the query's words).
    word_mark: u32,
    /// Per vocabulary token: stamp | shared bigram count (typo candidates).
    token_slots: Vec<u64>,
    token_generation: u32,
    token_touched: Vec<u32>,
    keys: Vec<u64>,
    /// (score, institution) of the eligible touched institutions, while ranking.
    scored: Vec<(u32, u32)>,
    /// Per query word: its vocabulary prefix range.
    ranges: Vec<(usize, usize)>,
    /// Multi-word queries: word indices in the order they are scored (cheapest first).
    order: Vec<usize>,
    /// Per query word: its typo tokens and scores, sorted by token, once `typos_done`.
    typos: Vec<Vec<(u32, u16)>>,
    typos_done: Vec<bool>,
    probes: Vec<Probe>,
    /// Typo tokens of recently searched words, for the catalogue `memo_catalog`: a word's
    /// expansion is a pure function of the immutable index, and search-as-you-type repeats
    /// every finished word in each later keystroke's query. Bounded by [`TYPO_MEMO_WORDS`].
    typo_memo: HashMap<Box<str>, Box<[(u32, u16)]>>,
    memo_catalog: u64,
    /// Off only to measure searches without the memo.
    use_memo: bool,
}

/// Query stamps are 24 bits wide (see `Scratch::query_slots`).
const QUERY_GENERATIONS: u32 = (1 << 24) - 1;

/// Starts a new query: a fresh stamp, the slots cleared when stamps wrap around so an old
/// stamp can never equal the new one.
fn next_query(s: &mut Scratch) {
    if s.query_generation >= QUERY_GENERATIONS {
        s.query_slots.fill(0);
        s.query_generation = 0;
    }
    s.query_generation += 1;
    s.word_mark = 0;
    s.touched.clear();
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
    fn fit(&mut self, institutions: usize, tokens: usize, catalog: u64) {
        if self.memo_catalog != catalog {
            self.typo_memo.clear();
            self.memo_catalog = catalog;
        }
        if self.query_slots.len() < institutions {
            self.query_slots.resize(institutions, 0);
        }
        if self.token_slots.len() < tokens {
            self.token_slots.resize(tokens, 0);
        }
    }

    /// Records that the current word matched each of `insts` with `score`. A word's hits
    /// must come in descending score order: the first hit of an institution for a word is
    /// then its best, and it alone adds one to the coverage and its score to the total.
    fn hit_all(&mut self, insts: &[u32], score: u16) {
        let generation = u64::from(self.query_generation);
        let mark = u64::from(self.word_mark);
        let stamp = (generation << 40) | (mark << 32);
        for &inst in insts {
            let entry = &mut self.query_slots[inst as usize];
            if *entry >> 40 != generation {
                *entry = stamp | (1 << 24) | u64::from(score);
                self.touched.push(inst);
            } else if (*entry >> 32) & 0xFF != mark {
                *entry = stamp | u64::from(fold(value_of(*entry), score));
            }
        }
    }
}

/// Which shortcuts a search may take; every combination returns the same results.
#[derive(Clone, Copy)]
pub(crate) struct SearchMode {
    /// Multi-word queries may stop scoring words early (`Catalog::ranked_by_probing`).
    pub(crate) prune: bool,
    /// Typo expansions may come from the per-thread memo.
    pub(crate) memo: bool,
}

impl Default for SearchMode {
    fn default() -> Self {
        SearchMode {
            prune: true,
            memo: true,
        }
    }
}

/// One not-yet-scored word of a multi-word query, resolved to vocabulary ranges so it can be
/// checked against a single institution's tokens (see [`Catalog::ranked_by_probing`]).
#[derive(Clone, Copy)]
struct Probe {
    word: usize,
    /// First token starting with the word (the word itself when `exact`) and the count of
    /// such tokens: one wrapping subtraction tells whether a token is in the range.
    start: u32,
    count: u32,
    exact: bool,
    /// Whether any keyword token can match (exactly, or by prefix for longer words).
    keywords: bool,
    keyword_prefixes: bool,
    /// Lowest and highest typo token (`typos` is sorted), for a cheap miss.
    typo_bounds: (u32, u32),
    /// For a one-character ASCII word: its [`initial_bit`](crate::index::initial_bit), so
    /// the check is three bit tests.
    initial: Option<u64>,
}

impl Probe {
    /// The word's best score against one institution: what [`Catalog::score_word`] plus the
    /// typo hits would give it, computed from the institution's own tokens (name tokens
    /// first, see [`crate::index::TextIndex::forward`]).
    fn best(&self, tokens: &[u32], typos: &[(u32, u16)], masks: [u64; 3]) -> u16 {
        if let Some(bit) = self.initial {
            // No typos for one character and keywords only by an exact match: a name token
            // equal to the word, else one starting with it, else an equal keyword token.
            let [initials, singles, keyword_singles] = masks;
            return if singles & bit != 0 {
                NAME_WORD
            } else if initials & bit != 0 {
                NAME_PREFIX
            } else if keyword_singles & bit != 0 {
                KEYWORD_WORD
            } else {
                0
            };
        }
        let mut best = 0;
        for &entry in tokens {
            if entry & KEYWORD_TOKEN != 0 {
                if !self.keywords || best >= KEYWORD_WORD {
                    break;
                }
                let offset = (entry & !KEYWORD_TOKEN).wrapping_sub(self.start);
                if offset < self.count {
                    if offset == 0 && self.exact {
                        return best.max(KEYWORD_WORD);
                    }
                    if self.keyword_prefixes {
                        best = best.max(KEYWORD_PREFIX);
                    }
                }
                continue;
            }
            let offset = entry.wrapping_sub(self.start);
            if offset < self.count {
                if offset == 0 && self.exact {
                    return NAME_WORD;
                }
                best = best.max(NAME_PREFIX);
            } else if best < TYPO_ONE
                && entry >= self.typo_bounds.0
                && entry <= self.typo_bounds.1
                && let Ok(at) = typos.binary_search_by_key(&entry, |&(t, _)| t)
            {
                best = best.max(typos[at].1);
            }
        }
        best
    }
}

/// A score every one of the `wanted` best entries of `scored` reaches, as high as two
/// histogram passes can tell: the bin (tier and coverage, `bins` counts `score >> 24`) where
/// the `wanted`-th best falls, then its bin of total score in steps of 64.
fn page_threshold(bins: &[u32; 256], scored: &[(u32, u32)], wanted: usize) -> u32 {
    if scored.len() <= wanted {
        return 0;
    }
    let mut above = 0usize;
    let mut high = 0u32;
    for bin in (0..256).rev() {
        let count = bins[bin] as usize;
        if above + count >= wanted {
            high = bin as u32;
            break;
        }
        above += count;
    }
    let total_bin = |score: u32| ((score & 0xFF_FFFF) >> 6).min(255);
    let mut low_bins = [0u32; 256];
    for &(score, _) in scored {
        if score >> 24 == high {
            low_bins[total_bin(score) as usize] += 1;
        }
    }
    let mut low = 0u32;
    for bin in (0..256).rev() {
        let count = low_bins[bin] as usize;
        if above + count >= wanted {
            low = bin as u32;
            break;
        }
        above += count;
    }
    (high << 24) | (low << 6)
}

/// Adds one word's best score to a packed query value (coverage << 24 | total), exactly as
/// [`Scratch::hit_all`] folds it.
fn fold(value: u32, best: u16) -> u32 {
    let coverage = (value >> 24).saturating_add(1).min(255);
    let total = ((value & 0xFF_FFFF) + u32::from(best)).min(0xFF_FFFF);
    (coverage << 24) | total
}

impl Catalog {
    pub(crate) fn search_with(
        &self,
        s: &mut Scratch,
        query: &str,
        filter: &CompiledFilter,
        page: Page,
        mode: SearchMode,
    ) -> Vec<&Institution> {
        let prune = mode.prune;
        s.use_memo = mode.memo;
        let query = match query.char_indices().nth(MAX_QUERY_CHARS) {
            Some((cut, _)) => &query[..cut],
            None => query,
        };
        let token_count = normalize_into(query, &mut s.query);
        if token_count == 0 {
            return Vec::new();
        }
        s.fit(self.len(), self.text.vocab.len(), self.instance);
        next_query(s);

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
        s.typos_done.clear();
        s.typos_done.resize(word_count, false);
        s.ranges.clear();
        for w in 0..word_count {
            let (a, b) = s.words[w];
            s.ranges.push(self.text.prefix_range(&query_text[a..b]));
        }
        let (first_start, first_end) = s.words[0];
        let first_word = &query_text[first_start..first_end];
        // First-name-token ids that allow the exact/prefix tiers: any token starting with the
        // word when the query is one token, else exactly the first word.
        let (range_start, range_end) = s.ranges[0];
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
        let mut found = None;
        if word_count == 1 {
            self.score_word(s, first_word, s.ranges[0]);
            // A typo-only match ranks below every other match: not needed once they fill
            // the page.
            if self.count_eligible(s, filter, page_end) < page_end {
                self.ensure_typos(s, &query_text, 0);
                self.hit_typos(s, 0);
            }
        } else {
            // Cheapest words first: once they are scored, the rest may only need checking
            // against the institutions already found (see `ranked_by_probing`).
            s.order.clear();
            s.order.extend(0..word_count);
            let mut costs = [0usize; MAX_WORDS];
            // Checking a word against one institution: two bit tests for one-character words,
            // else a walk over its tokens (in posting hits).
            let mut probe_costs = [PROBE_COST; MAX_WORDS];
            if prune {
                for w in 0..word_count {
                    let (a, b) = s.words[w];
                    costs[w] = self.word_cost(&query_text, (a, b), s.ranges[w]);
                    if self.bit_probe(&query_text[a..b]).is_some() {
                        probe_costs[w] = 1;
                    }
                }
                // Words cheap to check go last: they are the ones best left to probing.
                s.order.sort_by_key(|&w| (probe_costs[w] == 1, costs[w], w));
            }
            for level in 0..word_count {
                let w = s.order[level];
                let (a, b) = s.words[w];
                self.score_word(s, &query_text[a..b], s.ranges[w]);
                self.ensure_typos(s, &query_text, w);
                self.hit_typos(s, w);
                // Probe only when checking the touched institutions against the other words
                // is cheaper than walking those words' postings.
                let unscored = &s.order[level + 1..];
                let unscored_cost: usize = unscored.iter().map(|&w| costs[w]).sum();
                let probe_cost =
                    s.touched.len() * unscored.iter().map(|&w| probe_costs[w]).sum::<usize>();
                if prune
                    && !unscored.is_empty()
                    && s.touched.len() >= page_end
                    && probe_cost <= unscored_cost
                {
                    found = self.ranked_by_probing(
                        s,
                        &query_text,
                        filter,
                        (word_count, level + 1),
                        tier_tokens,
                        page,
                    );
                    if found.is_some() {
                        break;
                    }
                }
            }
        }
        let result = match found {
            Some(result) => result,
            None => self.rank(s, &query_text, filter, word_count, tier_tokens, page),
        };
        s.query = query_text;
        result
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

    /// Postings a word's exact and prefix matches would walk: its cost in `score_word`, read
    /// from the CSR offsets without touching the lists.
    fn word_cost(
        &self,
        query: &str,
        (a, b): (usize, usize),
        (start, end): (usize, usize),
    ) -> usize {
        let text = &self.text;
        let mut cost = text.name_postings.total_len(start, end);
        if query[a..b].chars().count() >= MIN_KEYWORD_PREFIX_CHARS {
            cost += text.keyword_postings.total_len(start, end);
        } else if start < end && text.vocab.get(start) == &query[a..b] {
            cost += text.keyword_postings.get(start).len();
        }
        cost
    }

    /// The [`initial_bit`](crate::index::initial_bit) of a one-character ASCII word: such a
    /// word is checked against an institution with the bit masks of
    /// [`TextIndex::initials`](crate::index::TextIndex::initials).
    fn bit_probe(&self, word: &str) -> Option<u64> {
        if word.len() == 1 {
            initial_bit(word)
        } else {
            None
        }
    }

    /// Exact and prefix matches of one word (`range`: its vocabulary prefix range).
    /// Starts scoring a new word (see [`Scratch::hit_all`]) with its exact and prefix
    /// matches, best scores first.
    fn score_word(&self, s: &mut Scratch, word: &str, (start, end): (usize, usize)) {
        s.word_mark += 1;
        let text = &self.text;
        let exact = (start < end && text.vocab.get(start) == word).then_some(start);
        let prefix_start = start + usize::from(exact.is_some());
        if let Some(token) = exact {
            s.hit_all(text.name_postings.get(token), NAME_WORD);
        }
        // The prefix tokens are one id range, so their postings are one slice of each CSR.
        s.hit_all(text.name_postings.range(prefix_start, end), NAME_PREFIX);
        if let Some(token) = exact {
            s.hit_all(text.keyword_postings.get(token), KEYWORD_WORD);
        }
        if word.chars().count() >= MIN_KEYWORD_PREFIX_CHARS {
            s.hit_all(
                text.keyword_postings.range(prefix_start, end),
                KEYWORD_PREFIX,
            );
        }
    }

    /// Scores the institutions of word `w`'s typo tokens (after `ensure_typos` and
    /// `score_word` of the same word), one-edit matches before two-edit ones.
    fn hit_typos(&self, s: &mut Scratch, w: usize) {
        let typos = std::mem::take(&mut s.typos[w]);
        for score in [TYPO_ONE, TYPO_TWO] {
            for &(token, _) in typos.iter().filter(|&&(_, typo)| typo == score) {
                s.hit_all(self.text.name_postings.get(token as usize), score);
            }
        }
        s.typos[w] = typos;
    }

    /// Computes word `w`'s typo tokens into `s.typos[w]` (sorted by token) unless done already
    /// for this query.
    fn ensure_typos(&self, s: &mut Scratch, query: &str, w: usize) {
        if s.typos.len() <= w {
            s.typos.resize_with(w + 1, Vec::new);
        }
        if s.typos_done[w] {
            return;
        }
        s.typos_done[w] = true;
        let (a, b) = s.words[w];
        let word = &query[a..b];
        let mut found = std::mem::take(&mut s.typos[w]);
        found.clear();
        if let Some(known) = s.typo_memo.get(word).filter(|_| s.use_memo) {
            found.extend_from_slice(known);
            s.typos[w] = found;
            return;
        }
        s.word_chars.clear();
        s.word_chars.extend(word.chars());
        let max = max_typos(s.word_chars.len());
        if max > 0 {
            self.typo_tokens(s, word, max, &mut found);
            found.sort_unstable();
        }
        if s.use_memo {
            if s.typo_memo.len() >= TYPO_MEMO_WORDS {
                s.typo_memo.clear();
            }
            s.typo_memo.insert(word.into(), found.as_slice().into());
        }
        s.typos[w] = found;
    }

    /// Name tokens within `max` edits of `word` (whose chars are in `s.word_chars`), with the
    /// score they give. A candidate shares at least `max(distinct bigrams of word, of
    /// candidate) − 3·max` padded bigrams with the word (an edit destroys at most three) and
    /// has a length within `max`; survivors are verified with the bounded distance. Tokens
    /// starting with `word` are skipped: already scored higher.
    fn typo_tokens(&self, s: &mut Scratch, word: &str, max: u32, found: &mut Vec<(u32, u16)>) {
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
            found.push((token as u32, score));
        }
    }

    /// Top-k without scoring every word over all its postings. `scored` of the `word_count`
    /// words (the cheapest, in `s.order`) have been scored; an institution they did not touch
    /// matches at most the other `word_count − scored` words, so every institution with a
    /// coverage of `word_count − scored + 1` or more is already touched. Their exact values
    /// are completed by checking the other words against each one's own tokens; if at least
    /// a page of them passes the filter, they outrank everything untouched (coverage comes
    /// before the score sum in the ranking, and the tiers need full coverage) and the page is
    /// exactly what full scoring would return. Otherwise `None`: score the next word.
    fn ranked_by_probing(
        &self,
        s: &mut Scratch,
        query: &str,
        filter: &CompiledFilter,
        (word_count, scored): (usize, usize),
        tier_tokens: (u32, u32),
        page: Page,
    ) -> Option<Vec<&Institution>> {
        let needed_coverage = (word_count - scored + 1) as u32;
        s.probes.clear();
        for level in scored..word_count {
            let w = s.order[level];
            self.ensure_typos(s, query, w);
            let (a, b) = s.words[w];
            let word = &query[a..b];
            let (start, end) = s.ranges[w];
            let exact = start < end && self.text.vocab.get(start) == word;
            let keyword_prefixes = word.chars().count() >= MIN_KEYWORD_PREFIX_CHARS;
            let keywords = if keyword_prefixes {
                self.text.keyword_postings.total_len(start, end) > 0
            } else {
                exact && !self.text.keyword_postings.get(start).is_empty()
            };
            let typos = &s.typos[w];
            let typo_bounds = match (typos.first(), typos.last()) {
                (Some(first), Some(last)) => (first.0, last.0),
                _ => (1, 0),
            };
            s.probes.push(Probe {
                word: w,
                start: start as u32,
                count: (end - start) as u32,
                exact,
                keywords,
                keyword_prefixes,
                typo_bounds,
                initial: self.bit_probe(word),
            });
        }
        let all_bit_probes = s.probes.iter().all(|p| p.initial.is_some());
        s.keys.clear();
        for k in 0..s.touched.len() {
            let inst = s.touched[k] as usize;
            if !self.eligible(inst, filter) {
                continue;
            }
            let mut value = value_of(s.query_slots[inst]);
            // Bit-mask probes need neither the token list nor its offsets.
            let tokens = if all_bit_probes {
                &[][..]
            } else {
                self.text.forward.get(inst)
            };
            let masks = self.text.initials[inst];
            for probe in &s.probes {
                let best = probe.best(tokens, &s.typos[probe.word], masks);
                if best > 0 {
                    value = fold(value, best);
                }
            }
            if value >> 24 >= needed_coverage {
                let score = self.rank_score(inst, value, word_count, tier_tokens, query);
                let key = self.rank_key(inst, score);
                s.keys.push(key);
            }
        }
        let (_, end) = page.bounds();
        (s.keys.len() >= end).then(|| self.page_of_keys(&mut s.keys, page))
    }

    /// The ranking score (tier, coverage, total: the key's upper half) of a touched
    /// institution with packed query `value`.
    fn rank_score(
        &self,
        inst: usize,
        value: u32,
        word_count: usize,
        (tier_start, tier_end): (u32, u32),
        query: &str,
    ) -> u32 {
        let coverage = value >> 24;
        let first = self.first_token[inst];
        let tier: u32 =
            if coverage as usize == word_count && (tier_start..tier_end).contains(&first) {
                let name = self.names.get(inst);
                if name == query {
                    2
                } else if name.starts_with(query) {
                    1
                } else {
                    0
                }
            } else {
                0
            };
        (tier << 30) | (coverage.min(63) << 24) | (value & 0xFF_FFFF)
    }

    /// The descending ranking key: score, then the inverted tie rank.
    fn rank_key(&self, inst: usize, score: u32) -> u64 {
        let tie = u32::MAX - self.meta[inst].tie_rank;
        (u64::from(score) << 32) | u64::from(tie)
    }

    /// Filters the touched institutions, scores them and returns the requested page. Only
    /// institutions scoring at least the page's lowest possible score (found with a two-level
    /// histogram of the scores) get a full key and take part in the selection.
    fn rank(
        &self,
        s: &mut Scratch,
        query: &str,
        filter: &CompiledFilter,
        word_count: usize,
        tier_tokens: (u32, u32),
        page: Page,
    ) -> Vec<&Institution> {
        s.scored.clear();
        let mut bins = [0u32; 256];
        for k in 0..s.touched.len() {
            let inst = s.touched[k] as usize;
            if !self.eligible(inst, filter) {
                continue;
            }
            let value = value_of(s.query_slots[inst]);
            let score = self.rank_score(inst, value, word_count, tier_tokens, query);
            bins[(score >> 24) as usize] += 1;
            s.scored.push((score, inst as u32));
        }
        let (_, end) = page.bounds();
        let threshold = page_threshold(&bins, &s.scored, end);
        s.keys.clear();
        for k in 0..s.scored.len() {
            let (score, inst) = s.scored[k];
            if score >= threshold {
                let key = self.rank_key(inst as usize, score);
                s.keys.push(key);
            }
        }
        self.page_of_keys(&mut s.keys, page)
    }

    /// The requested page of descending `keys` (which it reorders).
    fn page_of_keys(&self, keys: &mut Vec<u64>, page: Page) -> Vec<&Institution> {
        let (start, end) = page.bounds();
        if start >= keys.len() {
            return Vec::new();
        }
        let end = end.min(keys.len());
        if end < keys.len() {
            keys.select_nth_unstable_by(end - 1, |a, b| b.cmp(a));
            keys.truncate(end);
        }
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys[start..end]
            .iter()
            .map(|&key| {
                let rank = u32::MAX - (key as u32);
                self.institution(self.by_rank[rank as usize] as usize)
            })
            .collect()
    }
}
