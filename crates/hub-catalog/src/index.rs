//! The text index built once per catalogue: a sorted token vocabulary, token → institution
//! postings for names and keywords, and a bigram index over name tokens for typo candidates.
//!
//! Everything is stored in flat arrays (one string buffer plus offsets, CSR postings) so the
//! index for ~14k institutions stays around a few megabytes and lookups never hash strings.

use crate::normalize::normalize_into;

/// Many strings in one buffer; string `i` is `buf[ends[i-1]..ends[i]]`.
#[derive(Default)]
pub(crate) struct StrTable {
    buf: String,
    ends: Vec<u32>,
}

impl StrTable {
    /// An empty table with room for `strings` strings of `bytes` bytes in all.
    pub(crate) fn with_capacity(strings: usize, bytes: usize) -> StrTable {
        StrTable {
            buf: String::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
        }
    }

    pub(crate) fn push(&mut self, s: &str) {
        self.buf.push_str(s);
        self.ends.push(self.buf.len() as u32);
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.buf[start..self.ends[i] as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.ends.capacity() * 4
    }

    pub(crate) fn shrink(&mut self) {
        self.buf.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// Compressed-sparse-row lists of `u32`: list `i` is `items[offsets[i]..offsets[i+1]]`.
pub(crate) struct Postings {
    offsets: Vec<u32>,
    items: Vec<u32>,
}

impl Postings {
    fn new(mut offsets: Vec<u32>, mut items: Vec<u32>) -> Postings {
        items.shrink_to_fit();
        offsets.shrink_to_fit();
        Postings { offsets, items }
    }

    pub(crate) fn get(&self, i: usize) -> &[u32] {
        &self.items[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Lists `start..end` concatenated: CSR stores them back to back.
    pub(crate) fn range(&self, start: usize, end: usize) -> &[u32] {
        &self.items[self.offsets[start] as usize..self.offsets[end] as usize]
    }

    /// Total length of lists `start..end`, without touching them.
    pub(crate) fn total_len(&self, start: usize, end: usize) -> usize {
        (self.offsets[end] - self.offsets[start]) as usize
    }

    fn heap_bytes(&self) -> usize {
        (self.offsets.capacity() + self.items.capacity()) * 4
    }
}

/// Padding character for bigrams at word edges; never part of a token (tokens are alphanumeric).
const EDGE: char = '\0';

pub(crate) fn bigram_key(a: char, b: char) -> u64 {
    (u64::from(a as u32) << 32) | u64::from(b as u32)
}

/// Calls `f` with every padded bigram of `chars` ("ab" → "^a", "ab", "b$"), duplicates included.
pub(crate) fn for_each_bigram(chars: &[char], mut f: impl FnMut(u64)) {
    let mut previous = EDGE;
    for &c in chars {
        f(bigram_key(previous, c));
        previous = c;
    }
    f(bigram_key(previous, EDGE));
}

pub(crate) struct TextIndex {
    /// Every distinct name or keyword token, sorted bytewise so a prefix is a contiguous range.
    pub(crate) vocab: StrTable,
    /// Length in chars of each vocabulary token, capped at 255.
    pub(crate) token_chars: Vec<u8>,
    /// Token id → institutions whose name has the token (ascending, no duplicates).
    pub(crate) name_postings: Postings,
    /// Token id → institutions whose keywords have the token.
    pub(crate) keyword_postings: Postings,
    /// Sorted distinct bigram keys of name tokens.
    pub(crate) bigram_keys: Vec<u64>,
    /// Bigram → name-token ids, sorted by (length, id) so a length window is a binary search.
    pub(crate) bigram_postings: Postings,
    /// Distinct padded bigrams of each name token (0 for keyword-only tokens), capped at 255:
    /// a candidate within `d` edits shares at least `distinct − 3d` of them with the query word.
    pub(crate) token_bigrams: Vec<u8>,
    /// Institution → its name token ids, then its keyword token ids (which carry
    /// [`KEYWORD_TOKEN`]), each part in vocabulary order.
    /// The inverse of the postings, so a word can be checked against one institution without
    /// walking the word's (possibly huge) postings.
    pub(crate) forward: Postings,
    /// Per institution, [`initial_bit`] masks of: its name tokens' first characters, its
    /// one-character name tokens, its one-character keyword tokens. A one-character query
    /// word is checked against an institution with three bit tests on one cache line.
    pub(crate) initials: Vec<[u64; 3]>,
}

/// The bit of `token`'s first character in [`TextIndex::initials`]: ASCII letters and
/// digits only (tokens are normalised to lowercase).
pub(crate) fn initial_bit(token: &str) -> Option<u64> {
    match token.as_bytes().first() {
        Some(&b) if b.is_ascii_lowercase() => Some(1 << (b - b'a')),
        Some(&b) if b.is_ascii_digit() => Some(1 << (26 + b - b'0')),
        _ => None,
    }
}

/// Flag on a [`TextIndex::forward`] entry: the token comes from a keyword, not the name.
pub(crate) const KEYWORD_TOKEN: u32 = 1 << 31;

impl TextIndex {
    /// `names[i]` and `keywords[i]` belong to institution `i`. Names must already be normalised.
    /// `normalized_keywords` adds (institution, keyword) pairs whose keyword text is already
    /// normalised (the demo banks' keywords, which their records do not keep).
    ///
    /// Built from flat vectors sorted once (no map of per-token strings and growing lists), so
    /// start-up leaves a few large freed buffers rather than ~100k small ones that the allocator
    /// would keep resident under the long-lived index.
    pub(crate) fn build<'k>(
        names: &StrTable,
        keywords: &[&[String]],
        normalized_keywords: impl Iterator<Item = (u32, &'k str)> + Clone,
    ) -> TextIndex {
        let institution_count = names.len().min(keywords.len());
        // Normalised keyword text, one entry per keyword, borrowed by `occurrences` below.
        let mut keyword_text = StrTable::default();
        let mut keyword_owner: Vec<u32> = Vec::new();
        let mut normalized = String::new();
        for (inst, institution_keywords) in keywords.iter().enumerate().take(institution_count) {
            for keyword in *institution_keywords {
                normalize_into(keyword, &mut normalized);
                keyword_text.push(&normalized);
                keyword_owner.push(inst as u32);
            }
        }
        let tokens = |text: &'k str| text.split(' ').filter(|t| !t.is_empty());
        let extra = normalized_keywords.filter(|&(inst, _)| (inst as usize) < institution_count);
        // Counted first so the largest temporary is allocated once, at its final size.
        let count = (0..institution_count)
            .map(|inst| names.get(inst).split(' ').filter(|t| !t.is_empty()).count())
            .sum::<usize>()
            + (0..keyword_text.len())
                .map(|k| {
                    keyword_text
                        .get(k)
                        .split(' ')
                        .filter(|t| !t.is_empty())
                        .count()
                })
                .sum::<usize>()
            + extra
                .clone()
                .map(|(_, text)| tokens(text).count())
                .sum::<usize>();
        // (token, institution, source): source 0 = name, 1 = keyword.
        let mut occurrences: Vec<(&str, u32, u8)> = Vec::with_capacity(count);
        for inst in 0..institution_count {
            for token in names.get(inst).split(' ').filter(|t| !t.is_empty()) {
                occurrences.push((token, inst as u32, 0));
            }
        }
        for (k, &inst) in keyword_owner.iter().enumerate() {
            for token in keyword_text.get(k).split(' ').filter(|t| !t.is_empty()) {
                occurrences.push((token, inst, 1));
            }
        }
        for (inst, text) in extra {
            occurrences.extend(tokens(text).map(|token| (token, inst, 1)));
        }
        drop(keyword_owner);
        occurrences.sort_unstable();
        occurrences.dedup();

        let mut vocab = StrTable::default();
        let mut token_chars = Vec::new();
        let mut name_offsets = vec![0u32];
        let mut name_items = Vec::new();
        let mut keyword_offsets = vec![0u32];
        let mut keyword_items = Vec::new();
        let mut token_bigrams = Vec::new();
        // (bigram, token length, token id) for every name token.
        let mut bigrams: Vec<(u64, u8, u32)> = Vec::new();
        let mut chars = Vec::new();
        let mut distinct = Vec::new();
        // Forward index, filled by counting sort: per institution its name tokens, then its
        // keyword tokens.
        let mut forward_offsets = vec![0u32; institution_count + 1];
        let mut name_fill = vec![0u32; institution_count];
        for &(_, inst, source) in &occurrences {
            forward_offsets[inst as usize + 1] += 1;
            if source == 0 {
                name_fill[inst as usize] += 1;
            }
        }
        for i in 0..institution_count {
            forward_offsets[i + 1] += forward_offsets[i];
        }
        let mut forward_items = vec![0u32; occurrences.len()];
        let mut initials = vec![[0u64; 3]; institution_count];
        // Next free position of each institution's name and keyword entries.
        let mut keyword_fill = vec![0u32; institution_count];
        for i in 0..institution_count {
            keyword_fill[i] = forward_offsets[i] + name_fill[i];
            name_fill[i] = forward_offsets[i];
        }
        let mut rest = occurrences.as_slice();
        while let Some(&(token, _, _)) = rest.first() {
            let group_len = rest.iter().take_while(|o| o.0 == token).count();
            let (group, tail) = rest.split_at(group_len);
            rest = tail;
            let id = vocab.len() as u32;
            vocab.push(token);
            chars.clear();
            chars.extend(token.chars());
            let len = chars.len().min(255) as u8;
            token_chars.push(len);
            // The group is sorted by (institution, source): each source's list stays ascending.
            let mut has_name = false;
            let initial = initial_bit(token);
            for &(_, inst, source) in group {
                if let Some(bit) = initial {
                    let single = token.len() == 1;
                    let masks = &mut initials[inst as usize];
                    match source {
                        0 => {
                            masks[0] |= bit;
                            if single {
                                masks[1] |= bit;
                            }
                        }
                        _ if single => masks[2] |= bit,
                        _ => {}
                    }
                }
                let (fill, entry) = if source == 0 {
                    (&mut name_fill, id)
                } else {
                    (&mut keyword_fill, id | KEYWORD_TOKEN)
                };
                forward_items[fill[inst as usize] as usize] = entry;
                fill[inst as usize] += 1;
                if source == 0 {
                    name_items.push(inst);
                    has_name = true;
                } else {
                    keyword_items.push(inst);
                }
            }
            name_offsets.push(name_items.len() as u32);
            keyword_offsets.push(keyword_items.len() as u32);
            distinct.clear();
            if has_name {
                for_each_bigram(&chars, |key| distinct.push(key));
                distinct.sort_unstable();
                distinct.dedup();
                bigrams.extend(distinct.iter().map(|&key| (key, len, id)));
            }
            token_bigrams.push(distinct.len().min(255) as u8);
        }
        drop(occurrences);
        drop(keyword_text);
        drop((name_fill, keyword_fill));
        bigrams.sort_unstable();
        let mut bigram_keys = Vec::new();
        let mut bigram_offsets = vec![0u32];
        let mut bigram_items = Vec::with_capacity(bigrams.len());
        for (n, &(key, _, id)) in bigrams.iter().enumerate() {
            if n > 0 && bigrams[n - 1].0 != key {
                bigram_keys.push(bigrams[n - 1].0);
                bigram_offsets.push(bigram_items.len() as u32);
            }
            bigram_items.push(id);
        }
        if let Some(&(key, _, _)) = bigrams.last() {
            bigram_keys.push(key);
            bigram_offsets.push(bigram_items.len() as u32);
        }
        drop(bigrams);
        vocab.shrink();
        token_chars.shrink_to_fit();
        token_bigrams.shrink_to_fit();
        bigram_keys.shrink_to_fit();
        TextIndex {
            vocab,
            token_chars,
            name_postings: Postings::new(name_offsets, name_items),
            keyword_postings: Postings::new(keyword_offsets, keyword_items),
            bigram_keys,
            bigram_postings: Postings::new(bigram_offsets, bigram_items),
            token_bigrams,
            forward: Postings::new(forward_offsets, forward_items),
            initials,
        }
    }

    /// The id of `token` in the vocabulary.
    #[cfg(test)]
    pub(crate) fn token_id(&self, token: &str) -> Option<usize> {
        let (start, end) = self.prefix_range(token);
        (start < end && self.vocab.get(start) == token).then_some(start)
    }

    /// The id range of tokens that start with `prefix` (the token itself included).
    pub(crate) fn prefix_range(&self, prefix: &str) -> (usize, usize) {
        let count = self.vocab.len();
        let start = partition_point(count, |i| self.vocab.get(i) < prefix);
        let len = partition_point(count - start, |i| {
            self.vocab.get(start + i).starts_with(prefix)
        });
        (start, start + len)
    }

    /// The sub-slice of a (length, id)-sorted token list whose lengths are in `min..=max`.
    pub(crate) fn length_window<'a>(&self, sorted: &'a [u32], min: usize, max: usize) -> &'a [u32] {
        let len_of = |id: &u32| usize::from(self.token_chars[*id as usize]);
        let start = sorted.partition_point(|id| len_of(id) < min);
        let end = sorted.partition_point(|id| len_of(id) <= max);
        &sorted[start..end.max(start)]
    }

    pub(crate) fn bigram_tokens(&self, key: u64) -> &[u32] {
        match self.bigram_keys.binary_search(&key) {
            Ok(i) => self.bigram_postings.get(i),
            Err(_) => &[],
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.vocab.heap_bytes()
            + self.token_chars.capacity()
            + self.name_postings.heap_bytes()
            + self.keyword_postings.heap_bytes()
            + self.bigram_keys.capacity() * 8
            + self.bigram_postings.heap_bytes()
            + self.token_bigrams.capacity()
            + self.forward.heap_bytes()
            + self.initials.capacity() * 24
    }
}

/// `slice::partition_point` over the index range `0..len`.
fn partition_point(len: usize, mut pred: impl FnMut(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, len);
    while low < high {
        let mid = low + (high - low) / 2;
        if pred(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(names: &[&str], keywords: &[&[&str]]) -> TextIndex {
        let mut table = StrTable::default();
        for name in names {
            table.push(&crate::normalize::normalize(name));
        }
        let keywords: Vec<Vec<String>> = keywords
            .iter()
            .map(|k| k.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        let keywords: Vec<&[String]> = keywords.iter().map(Vec::as_slice).collect();
        TextIndex::build(&table, &keywords, std::iter::empty())
    }

    #[test]
    fn vocabulary_is_sorted_with_postings_per_source() {
        let idx = index(&["MX Bank", "Bank of Ban"], &[&["Gringotts"], &["MX"]]);
        let tokens: Vec<&str> = (0..idx.vocab.len()).map(|i| idx.vocab.get(i)).collect();
        assert_eq!(tokens, ["ban", "bank", "gringotts", "mx", "of"]);
        let bank = idx.token_id("bank").unwrap();
        assert_eq!(idx.name_postings.get(bank), &[0, 1]);
        let mx = idx.token_id("mx").unwrap();
        assert_eq!(idx.name_postings.get(mx), &[0]);
        assert_eq!(idx.keyword_postings.get(mx), &[1]);
        assert_eq!(idx.token_id("gringott"), None);
    }

    #[test]
    fn prefix_range_covers_exactly_the_matching_tokens() {
        let idx = index(
            &["MX Bank", "Bank of Ban", "Bankhaus Zeta"],
            &[&[], &[], &[]],
        );
        let (start, end) = idx.prefix_range("ban");
        let hits: Vec<&str> = (start..end).map(|i| idx.vocab.get(i)).collect();
        assert_eq!(hits, ["ban", "bank", "bankhaus"]);
        assert_eq!(idx.prefix_range("zz").0, idx.prefix_range("zz").1);
    }

    #[test]
    fn bigram_postings_are_in_length_order() {
        let idx = index(&["abcdef abc ab"], &[&[]]);
        let list = idx.bigram_tokens(bigram_key(EDGE, 'a'));
        let lens: Vec<u8> = list.iter().map(|&t| idx.token_chars[t as usize]).collect();
        assert_eq!(lens, [2, 3, 6]);
        assert_eq!(idx.length_window(list, 3, 5).len(), 1);
    }
}
