//! The immutable institution catalogue: lookups by id, filtered text and routing-number search,
//! and the recommended list (UCW §7.3, §7.4, §8.2).

use crate::error::CatalogError;
use crate::index::{StrTable, TextIndex};
use crate::normalize::normalize;
use crate::search::{Scratch, SearchMode};
use hub_core::institution::{AggregatorSupport, Institution, SupportLevel};
use hub_core::job::JobType;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// Institution id → ISO 3166 alpha-2 country, for the country filter. Institutions absent from
/// the map have no country.
pub type CountryMap = HashMap<String, String>;

/// Which institutions a query may return.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    /// Aggregator block keys allowed (`sandbox`, `mx`, …). Empty → nothing matches.
    pub aggregators: &'a [String],
    /// One allowed block must support every job type at the partial level (UCW's search query
    /// requires all flags on the same block).
    pub job_types: &'a [JobType],
    /// Institution ids excluded from text and routing-number search (not from recommended).
    pub hidden: &'a HashSet<String>,
    /// False when env = prod: `is_test_bank` institutions are dropped.
    pub include_test_banks: bool,
    /// ISO country (case-insensitive). `Some` drops institutions of other countries; those with
    /// no recorded country (test banks, UCW lists without countries) are not country-specific
    /// and stay. `None` keeps all.
    pub country: Option<&'a str>,
}

/// One page of results. Build it with [`Page::new`] or [`Page::from_query`] to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: usize,
    /// Results per page, `1..=Page::MAX_SIZE`.
    pub page_size: usize,
}

impl Page {
    pub const MAX_SIZE: usize = 100;
    /// The widget's `pageSize` (connect-widget sends 25).
    pub const DEFAULT_SIZE: usize = 25;

    pub fn new(page: usize, page_size: usize) -> Result<Page, CatalogError> {
        if page == 0 {
            return Err(CatalogError::InvalidPage {
                field: "page",
                message: "must be at least 1".into(),
            });
        }
        if !(1..=Self::MAX_SIZE).contains(&page_size) {
            return Err(CatalogError::InvalidPage {
                field: "pageSize",
                message: format!("must be between 1 and {}", Self::MAX_SIZE),
            });
        }
        Ok(Page { page, page_size })
    }

    /// Parses the `page` and `pageSize` query parameters; absent ones default to 1 and 25.
    pub fn from_query(page: Option<&str>, page_size: Option<&str>) -> Result<Page, CatalogError> {
        fn parse(
            field: &'static str,
            value: Option<&str>,
            default: usize,
        ) -> Result<usize, CatalogError> {
            match value {
                None => Ok(default),
                Some(text) => text.trim().parse().map_err(|_| CatalogError::InvalidPage {
                    field,
                    message: format!("must be a positive integer, got {text:?}"),
                }),
            }
        }
        Page::new(
            parse("page", page, 1)?,
            parse("pageSize", page_size, Self::DEFAULT_SIZE)?,
        )
    }

    /// Index of the first result on this page, and one past the last. Tolerates unvalidated
    /// values: page 0 is read as 1 and the size is capped at `MAX_SIZE`.
    pub(crate) fn bounds(self) -> (usize, usize) {
        let size = self.page_size.min(Self::MAX_SIZE);
        let start = self.page.max(1).saturating_sub(1).saturating_mul(size);
        (start, start.saturating_add(size))
    }
}

impl Default for Page {
    fn default() -> Self {
        Page {
            page: 1,
            page_size: Self::DEFAULT_SIZE,
        }
    }
}

/// Capability bits of one aggregator block.
pub(crate) mod caps {
    pub const VERIFICATION: u8 = 1;
    pub const IDENTIFICATION: u8 = 2;
    pub const AGGREGATION: u8 = 4;
}

/// The flag each job type needs at the partial level (UCW's search and recommended lists).
fn partial_caps(job: JobType) -> u8 {
    match job {
        JobType::AccountNumber => caps::VERIFICATION,
        JobType::AccountOwner => caps::IDENTIFICATION,
        JobType::Transactions | JobType::TransactionHistory => caps::AGGREGATION,
    }
}

fn block_caps(block: &AggregatorSupport) -> u8 {
    let mut bits = 0;
    for job in JobType::ALL {
        if block.supports(job, SupportLevel::Partial) {
            bits |= partial_caps(job);
        }
    }
    bits
}

#[derive(Clone, Copy)]
struct BlockCaps {
    key: u8,
    caps: u8,
}

/// Per-institution data the filter and ranking need, in 16 bytes. The first block is inlined
/// so the common one-block institution is filtered without touching `blocks`.
#[derive(Clone, Copy)]
pub(crate) struct Meta {
    /// Position in tie-break order (shorter name, then name, then id).
    pub(crate) tie_rank: u32,
    /// Where blocks after the first start in `blocks`.
    more_blocks_start: u32,
    /// Index into `countries` plus one; 0 = unknown.
    country: u16,
    block_count: u8,
    first_block: BlockCaps,
    is_test_bank: bool,
}

/// Most distinct block keys: ids fit a `u8` and the per-query bitset.
const MAX_BLOCK_KEYS: usize = 255;

/// A [`Filter`] resolved against one catalogue: strings turned into small ids once per query.
pub(crate) struct CompiledFilter {
    allowed_keys: [u64; 4],
    required_caps: u8,
    hidden: Vec<u32>,
    include_test_banks: bool,
    country: Option<u16>,
    matches_nothing: bool,
    /// Every institution of the catalogue passes (the common case: one aggregator, no
    /// hidden ids, no country): `eligible` is then `true` without looking at anything.
    pub(crate) accepts_all: bool,
}

thread_local! {
    /// Per-thread search buffers, sized to the largest catalogue searched on the thread.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The institution catalogue. Immutable after [`Catalog::build`]; share it behind an `Arc`.
pub struct Catalog {
    institutions: Vec<Institution>,
    /// Institution indices sorted by id: `get` is a binary search without a second copy of ids.
    by_id: Vec<u32>,
    pub(crate) meta: Vec<Meta>,
    /// Tie rank → institution index.
    pub(crate) by_rank: Vec<u32>,
    block_keys: Vec<String>,
    blocks: Vec<BlockCaps>,
    countries: Vec<String>,
    /// Normalised names, indexed like `institutions`.
    pub(crate) names: StrTable,
    pub(crate) text: TextIndex,
    /// Vocabulary id of each institution's first name token (`u32::MAX` if none): the exact and
    /// prefix tiers are only possible when it matches the query's first word.
    pub(crate) first_token: Vec<u32>,
    /// (9-digit routing number, tie rank), sorted.
    routing: Vec<(u32, u32)>,
    /// The distinct sets of (block key, capabilities) institutions have, sorted: a filter
    /// that finds a usable block in each set accepts every institution.
    block_sets: Vec<Vec<(u8, u8)>>,
    has_test_banks: bool,
    /// Distinguishes catalogues for the per-thread typo memo (see `search.rs`).
    pub(crate) instance: u64,
}

/// Source of [`Catalog::instance`] values.
static NEXT_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("institutions", &self.institutions.len())
            .field("tokens", &self.text.vocab.len())
            .field("index_bytes", &self.index_bytes())
            .finish()
    }
}

impl Catalog {
    /// Builds the catalogue. A later entry with the same id replaces an earlier one; an empty
    /// name is an error naming the id.
    pub fn build(institutions: Vec<Institution>) -> Result<Catalog, CatalogError> {
        Self::build_with_countries(institutions, &CountryMap::new())
    }

    /// [`Catalog::build`] plus a country per institution id for [`Filter::country`].
    pub fn build_with_countries(
        institutions: Vec<Institution>,
        countries: &CountryMap,
    ) -> Result<Catalog, CatalogError> {
        let country_names: Vec<String> = countries
            .values()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        Self::build_parts(
            institutions,
            country_names,
            |_, institution| countries.get(&institution.id).map(String::as_str),
            &StrTable::default(),
            |_| 0..0,
        )
    }

    /// `institutions`, then the demo bank registry `banks_jsonl` (`data/banks.jsonl`, each bank
    /// a test institution with one `sandbox` block cloned from `block`): the same catalogue,
    /// search results and countries as [`load_banks_jsonl_with_countries`] followed by
    /// [`Catalog::build_with_countries`], except that the banks' records keep no `keywords`
    /// (they only feed the search index, which has them) and all banks share one block
    /// allocation. This keeps ~3 MiB of small per-bank strings out of the hub's resident memory.
    /// Errors: those of [`load_banks_jsonl`] (`InvalidBankLine`), then those of
    /// [`Catalog::build`].
    ///
    /// [`load_banks_jsonl_with_countries`]: crate::load_banks_jsonl_with_countries
    /// [`load_banks_jsonl`]: crate::load_banks_jsonl
    pub fn build_with_banks_jsonl(
        institutions: Vec<Institution>,
        banks_jsonl: &str,
        block: &AggregatorSupport,
    ) -> Result<Catalog, CatalogError> {
        let mut banks = crate::load::load_banks(banks_jsonl, block)?;
        let first_bank = institutions.len();
        let mut all = std::mem::take(&mut banks.institutions);
        // The banks are the big vector: move the few others in front of them in place.
        all.reserve_exact(first_bank);
        all.extend(institutions);
        all.rotate_right(first_bank);
        let country_names: Vec<String> = (0..banks.countries.len())
            .map(|b| banks.countries.get(b).trim().to_ascii_uppercase())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // A bank is the last entry of its id (banks come last), so the kept record of an id
        // that has a bank is that bank: its country, as a `CountryMap` by id would give.
        let bank = |position: usize| position.checked_sub(first_bank);
        Self::build_parts(
            all,
            country_names,
            |position, _| bank(position).map(|b| banks.countries.get(b)),
            &banks.keywords,
            |position| bank(position).map_or(0..0, |b| banks.keyword_range(b)),
        )
    }

    /// The build. `country_of(position, record)` and `extra_keywords(position)` (entries of
    /// `keyword_table`, normalised, indexed besides the record's own `keywords`) are asked
    /// for by the record's position in `institutions` before duplicates are resolved.
    fn build_parts<'c>(
        mut institutions: Vec<Institution>,
        mut country_names: Vec<String>,
        country_of: impl Fn(usize, &Institution) -> Option<&'c str>,
        keyword_table: &'c StrTable,
        extra_keywords: impl Fn(usize) -> std::ops::Range<usize>,
    ) -> Result<Catalog, CatalogError> {
        if let Some(empty) = institutions.iter().find(|i| i.name.trim().is_empty()) {
            return Err(CatalogError::EmptyName {
                id: empty.id.clone(),
            });
        }
        // A later entry with the same id takes the place of the first one. Found by sorting
        // positions (no map of cloned ids: fewer small start-up allocations left behind).
        let mut order: Vec<u32> = (0..institutions.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            institutions[a as usize]
                .id
                .cmp(&institutions[b as usize].id)
                .then(a.cmp(&b))
        });
        // take[i] = the entry whose value goes to first occurrence i; u32::MAX = dropped.
        let mut take: Vec<u32> = (0..institutions.len() as u32).collect();
        for group in
            order.chunk_by(|&a, &b| institutions[a as usize].id == institutions[b as usize].id)
        {
            if let (Some(&first), Some(&last)) = (group.first(), group.last()) {
                for &later in &group[1..] {
                    take[later as usize] = u32::MAX;
                }
                take[first as usize] = last;
            }
        }
        drop(order);
        // In place (no second vector of records): each first occurrence swaps in its last
        // duplicate's value, then the later duplicates are dropped, order kept.
        for (first, &t) in take.iter().enumerate() {
            if t != u32::MAX && t as usize != first {
                institutions.swap(first, t as usize);
            }
        }
        let mut position = 0;
        institutions.retain(|_| {
            let keep = take[position] != u32::MAX;
            position += 1;
            keep
        });
        institutions.shrink_to_fit();
        // Kept record → its position in the input.
        let source: Vec<u32> = take.into_iter().filter(|&t| t != u32::MAX).collect();
        let count = institutions.len();

        let mut by_id: Vec<u32> = (0..count as u32).collect();
        by_id.sort_unstable_by(|&a, &b| {
            institutions[a as usize]
                .id
                .cmp(&institutions[b as usize].id)
        });

        let name_chars: Vec<usize> = institutions
            .iter()
            .map(|i| i.name.chars().count())
            .collect();
        let mut by_rank: Vec<u32> = (0..count as u32).collect();
        by_rank.sort_unstable_by(|&a, &b| {
            let (x, y) = (&institutions[a as usize], &institutions[b as usize]);
            name_chars[a as usize]
                .cmp(&name_chars[b as usize])
                .then_with(|| x.name.cmp(&y.name))
                .then_with(|| x.id.cmp(&y.id))
        });
        let mut tie_rank = vec![0u32; count];
        for (rank, &inst) in by_rank.iter().enumerate() {
            tie_rank[inst as usize] = rank as u32;
        }

        let mut block_keys: Vec<String> = institutions
            .iter()
            .flat_map(|i| i.aggregators.keys().cloned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        block_keys.sort_unstable();
        if block_keys.len() > MAX_BLOCK_KEYS {
            return Err(CatalogError::TooManyAggregatorKeys {
                count: block_keys.len(),
                max: MAX_BLOCK_KEYS,
            });
        }

        country_names.sort_unstable();

        let mut meta = Vec::with_capacity(count);
        let mut blocks = Vec::new();
        let mut names = StrTable::default();
        let mut routing = Vec::new();
        for (inst, institution) in institutions.iter().enumerate() {
            let more_blocks_start = blocks.len() as u32;
            let mut first_block = BlockCaps { key: 0, caps: 0 };
            for (n, (key, block)) in institution.aggregators.iter().enumerate() {
                let key = block_keys.binary_search(key).unwrap_or_default() as u8;
                let caps = BlockCaps {
                    key,
                    caps: block_caps(block),
                };
                if n == 0 {
                    first_block = caps;
                } else {
                    blocks.push(caps);
                }
            }
            let country = country_of(source[inst] as usize, institution)
                .and_then(|c| {
                    country_names
                        .binary_search(&c.trim().to_ascii_uppercase())
                        .ok()
                })
                .map_or(0, |i| i as u16 + 1);
            meta.push(Meta {
                tie_rank: tie_rank[inst],
                more_blocks_start,
                country,
                block_count: institution.aggregators.len() as u8,
                first_block,
                is_test_bank: institution.is_test_bank,
            });
            names.push(&normalize(&institution.name));
            for number in &institution.routing_numbers {
                if let Some(number) = parse_routing_number(number) {
                    routing.push((number, tie_rank[inst]));
                }
            }
        }
        routing.sort_unstable();
        routing.dedup();
        blocks.shrink_to_fit();
        let mut block_sets: Vec<Vec<(u8, u8)>> = meta
            .iter()
            .map(|m: &Meta| {
                let mut set: Vec<(u8, u8)> = Vec::with_capacity(usize::from(m.block_count));
                if m.block_count > 0 {
                    set.push((m.first_block.key, m.first_block.caps));
                    let start = m.more_blocks_start as usize;
                    set.extend(
                        blocks[start..start + usize::from(m.block_count) - 1]
                            .iter()
                            .map(|b| (b.key, b.caps)),
                    );
                }
                set.sort_unstable();
                set.dedup();
                set
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        block_sets.sort_unstable();
        let has_test_banks = meta.iter().any(|m| m.is_test_bank);

        let keywords: Vec<&[String]> = institutions.iter().map(|i| i.keywords.as_slice()).collect();
        let extra = source.iter().enumerate().flat_map(|(inst, &position)| {
            extra_keywords(position as usize).map(move |k| (inst as u32, keyword_table.get(k)))
        });
        let text = TextIndex::build(&names, &keywords, extra);
        drop(keywords);
        let first_token = (0..count)
            .map(|inst| {
                let first = names.get(inst).split(' ').next().unwrap_or_default();
                let (start, end) = text.prefix_range(first);
                if !first.is_empty() && start < end && text.vocab.get(start) == first {
                    start as u32
                } else {
                    u32::MAX
                }
            })
            .collect();
        Ok(Catalog {
            institutions,
            by_id,
            meta,
            by_rank,
            block_keys,
            blocks,
            countries: country_names,
            names,
            text,
            first_token,
            routing,
            block_sets,
            has_test_banks,
            instance: NEXT_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    pub fn get(&self, id: &str) -> Option<&Institution> {
        self.index_of(id).map(|i| &self.institutions[i])
    }

    pub fn len(&self) -> usize {
        self.institutions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.institutions.is_empty()
    }

    /// All institutions, in build order (duplicates already resolved).
    pub fn iter(&self) -> impl Iterator<Item = &Institution> {
        self.institutions.iter()
    }

    /// The country recorded for `id` at build time.
    pub fn country(&self, id: &str) -> Option<&str> {
        let country = self.meta[self.index_of(id)?].country;
        (country > 0).then(|| self.countries[usize::from(country) - 1].as_str())
    }

    /// Bytes held by the search index and per-institution metadata, excluding the
    /// `Institution` records themselves. An estimate from capacities (allocator overhead aside).
    pub fn index_bytes(&self) -> usize {
        self.by_id.capacity() * 4
            + self.meta.capacity() * std::mem::size_of::<Meta>()
            + self.by_rank.capacity() * 4
            + self.blocks.capacity() * std::mem::size_of::<BlockCaps>()
            + self.names.heap_bytes()
            + self.text.heap_bytes()
            + self.first_token.capacity() * 4
            + self.routing.capacity() * 8
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id
            .binary_search_by(|&i| self.institutions[i as usize].id.as_str().cmp(id))
            .ok()
            .map(|at| self.by_id[at] as usize)
    }

    pub(crate) fn institution(&self, inst: usize) -> &Institution {
        &self.institutions[inst]
    }

    /// Text search (see the crate docs for ranking). An empty or whitespace query returns
    /// nothing; queries are truncated to 200 characters.
    pub fn search(&self, query: &str, filter: &Filter<'_>, page: Page) -> Vec<&Institution> {
        self.search_mode(query, filter, page, SearchMode::default())
    }

    /// [`Catalog::search`] without its shortcuts: every word scored over all its postings
    /// and no typo memo. The reference the fast path is tested against, and the cold cost
    /// for benchmarks; results are identical.
    #[doc(hidden)]
    pub fn search_exhaustive(
        &self,
        query: &str,
        filter: &Filter<'_>,
        page: Page,
    ) -> Vec<&Institution> {
        let mode = SearchMode {
            prune: false,
            memo: false,
        };
        self.search_mode(query, filter, page, mode)
    }

    /// [`Catalog::search`] without the typo memo (what a never-seen word costs).
    #[doc(hidden)]
    pub fn search_without_memo(
        &self,
        query: &str,
        filter: &Filter<'_>,
        page: Page,
    ) -> Vec<&Institution> {
        let mode = SearchMode {
            prune: true,
            memo: false,
        };
        self.search_mode(query, filter, page, mode)
    }

    fn search_mode(
        &self,
        query: &str,
        filter: &Filter<'_>,
        page: Page,
        mode: SearchMode,
    ) -> Vec<&Institution> {
        let compiled = self.compile(filter, true);
        if compiled.matches_nothing {
            return Vec::new();
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.search_with(&mut scratch, query, &compiled, page, mode),
            // Only reachable if a search ran inside another on this thread; stay correct.
            Err(_) => self.search_with(&mut Scratch::default(), query, &compiled, page, mode),
        })
    }

    /// Institutions listing exactly this 9-digit routing number, in tie-break order. Anything
    /// else (letters, other lengths) returns nothing.
    pub fn search_routing_number(
        &self,
        routing_number: &str,
        filter: &Filter<'_>,
        page: Page,
    ) -> Vec<&Institution> {
        let Some(number) = parse_routing_number(routing_number) else {
            return Vec::new();
        };
        let compiled = self.compile(filter, true);
        if compiled.matches_nothing {
            return Vec::new();
        }
        let start = self.routing.partition_point(|&(n, _)| n < number);
        let (skip, end) = page.bounds();
        self.routing[start..]
            .iter()
            .take_while(|&&(n, _)| n == number)
            .map(|&(_, rank)| self.by_rank[rank as usize] as usize)
            .filter(|&inst| self.eligible(inst, &compiled))
            .skip(skip)
            .take(end - skip)
            .map(|inst| &self.institutions[inst])
            .collect()
    }

    /// The preference list resolved (UCW §7.3): order kept, unknown ids and repeats dropped,
    /// test banks dropped unless the filter allows them, `hidden` not applied, and only
    /// institutions with an allowed block supporting the job types at the partial level.
    pub fn recommended(&self, ids: &[String], filter: &Filter<'_>) -> Vec<&Institution> {
        let compiled = self.compile(filter, false);
        if compiled.matches_nothing {
            return Vec::new();
        }
        let mut seen: Vec<usize> = Vec::with_capacity(ids.len());
        ids.iter()
            .filter_map(|id| self.index_of(id))
            .filter(|&inst| {
                let fresh = !seen.contains(&inst);
                seen.push(inst);
                fresh && self.eligible(inst, &compiled)
            })
            .map(|inst| &self.institutions[inst])
            .collect()
    }

    pub(crate) fn compile(&self, filter: &Filter<'_>, apply_hidden: bool) -> CompiledFilter {
        let mut allowed_keys = [0u64; 4];
        for key in filter.aggregators {
            if let Ok(id) = self.block_keys.binary_search(key) {
                allowed_keys[id / 64] |= 1 << (id % 64);
            }
        }
        let required_caps = filter
            .job_types
            .iter()
            .fold(0, |acc, &job| acc | partial_caps(job));
        let mut hidden = Vec::new();
        if apply_hidden {
            hidden.extend(
                filter
                    .hidden
                    .iter()
                    .filter_map(|id| self.index_of(id))
                    .map(|i| i as u32),
            );
            hidden.sort_unstable();
        }
        let matches_nothing = allowed_keys == [0; 4];
        let country = match filter.country {
            None => None,
            Some(code) => {
                let found = self
                    .countries
                    .iter()
                    .position(|c| c.eq_ignore_ascii_case(code.trim()));
                // An unknown country matches only institutions without a country.
                Some(found.map_or(u16::MAX, |i| i as u16 + 1))
            }
        };
        let usable = |key: u8, caps: u8| {
            let key = usize::from(key);
            allowed_keys[key / 64] & (1 << (key % 64)) != 0 && caps & required_caps == required_caps
        };
        let accepts_all = !matches_nothing
            && hidden.is_empty()
            && country.is_none()
            && (filter.include_test_banks || !self.has_test_banks)
            && self
                .block_sets
                .iter()
                .all(|set| set.iter().any(|&(key, caps)| usable(key, caps)));
        CompiledFilter {
            allowed_keys,
            required_caps,
            hidden,
            include_test_banks: filter.include_test_banks,
            country,
            matches_nothing,
            accepts_all,
        }
    }

    pub(crate) fn eligible(&self, inst: usize, filter: &CompiledFilter) -> bool {
        if filter.accepts_all {
            return true;
        }
        let meta = self.meta[inst];
        if meta.is_test_bank && !filter.include_test_banks {
            return false;
        }
        if filter
            .country
            .is_some_and(|country| meta.country != 0 && meta.country != country)
        {
            return false;
        }
        let usable = |b: &BlockCaps| {
            let key = usize::from(b.key);
            filter.allowed_keys[key / 64] & (1 << (key % 64)) != 0
                && b.caps & filter.required_caps == filter.required_caps
        };
        let has_block = meta.block_count > 0
            && (usable(&meta.first_block) || {
                let start = meta.more_blocks_start as usize;
                self.blocks[start..start + usize::from(meta.block_count) - 1]
                    .iter()
                    .any(usable)
            });
        has_block
            && (filter.hidden.is_empty() || filter.hidden.binary_search(&(inst as u32)).is_err())
    }
}

/// A routing number as UCW's UI sends it: exactly nine ASCII digits (surrounding whitespace
/// ignored).
fn parse_routing_number(text: &str) -> Option<u32> {
    let text = text.trim();
    (text.len() == 9 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Postings;
    use crate::load::{SANDBOX_BLOCK_KEY, load_banks_jsonl_with_countries, load_ucw_institutions};

    fn block() -> AggregatorSupport {
        AggregatorSupport {
            id: "sandbox_bank".into(),
            supports_aggregation: true,
            supports_verification: true,
            supports_identification: true,
            supports_history: true,
            supports_oauth: false,
        }
    }

    /// Institutions listed before the banks: one duplicated among themselves, one with a
    /// bank's id (the bank wins, with its country).
    fn front() -> Vec<Institution> {
        load_ucw_institutions(
            r#"[{"id":"mxBank","name":"MX Bank","keywords":["Gringotts"],"routing_numbers":["111111111"],
                 "mx":{"id":"m","supports_aggregation":true},"sandbox":{"id":"s","supports_oauth":true}},
                {"id":"d9a19a11-9a34-531f-8ebf-ccbc9cbbbd4d","name":"Shadowed","keywords":["shadow"],
                 "mx":{"id":"x","supports_verification":true}},
                {"id":"mxBank","name":"MX Bank Two","keywords":["Deutsche"],"sandbox":{"id":"t"}}]"#,
        )
        .unwrap()
    }

    fn postings_equal(a: &Postings, b: &Postings, lists: usize) {
        for i in 0..lists {
            assert_eq!(a.get(i), b.get(i), "list {i}");
        }
    }

    /// The demo-bank builder gives the catalogue the two-step load + `build_with_countries`
    /// gives: same records (but the banks' keywords), countries, index arrays and results.
    #[test]
    fn banks_jsonl_build_equals_load_then_build_with_countries() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/banks.jsonl"
        ))
        .unwrap();
        let (banks, countries) = load_banks_jsonl_with_countries(&text, &block()).unwrap();
        let mut list = front();
        list.extend(banks);
        let old = Catalog::build_with_countries(list, &countries).unwrap();
        let new = Catalog::build_with_banks_jsonl(front(), &text, &block()).unwrap();

        assert_eq!(old.len(), new.len());
        for (a, b) in old.iter().zip(new.iter()) {
            let mut a = a.clone();
            if a.is_test_bank && a.aggregators.len() == 1 {
                a.keywords.clear();
            }
            assert_eq!(&a, b);
            assert_eq!(old.country(&a.id), new.country(&a.id), "{}", a.id);
        }
        assert_eq!(new.country("mxBank"), None);
        assert_eq!(new.get("mxBank").unwrap().name, "MX Bank Two");
        assert_eq!(
            new.country("d9a19a11-9a34-531f-8ebf-ccbc9cbbbd4d"),
            Some("AT")
        );
        assert_eq!(old.countries, new.countries);
        assert_eq!(old.by_id, new.by_id);
        assert_eq!(old.by_rank, new.by_rank);
        assert_eq!(old.first_token, new.first_token);
        assert_eq!(old.routing, new.routing);
        assert_eq!(old.block_keys, new.block_keys);
        assert_eq!(old.block_sets, new.block_sets);
        for (a, b) in old.meta.iter().zip(&new.meta) {
            assert_eq!(
                (a.tie_rank, a.country, a.block_count, a.is_test_bank),
                (b.tie_rank, b.country, b.block_count, b.is_test_bank)
            );
            assert_eq!(
                (a.first_block.key, a.first_block.caps, a.more_blocks_start),
                (b.first_block.key, b.first_block.caps, b.more_blocks_start)
            );
        }
        let (x, y) = (&old.text, &new.text);
        let tokens = x.vocab.len();
        assert_eq!(tokens, y.vocab.len());
        for t in 0..tokens {
            assert_eq!(x.vocab.get(t), y.vocab.get(t));
        }
        assert_eq!(x.token_chars, y.token_chars);
        assert_eq!(x.token_bigrams, y.token_bigrams);
        assert_eq!(x.bigram_keys, y.bigram_keys);
        postings_equal(&x.name_postings, &y.name_postings, tokens);
        postings_equal(&x.keyword_postings, &y.keyword_postings, tokens);
        postings_equal(&x.bigram_postings, &y.bigram_postings, x.bigram_keys.len());
        postings_equal(&x.forward, &y.forward, old.len());
        for i in 0..old.len() {
            assert_eq!(old.names.get(i), new.names.get(i));
        }

        let aggregators = [SANDBOX_BLOCK_KEY.to_owned(), "mx".to_owned()];
        let hidden: HashSet<String> = ["mxBank".to_owned()].into();
        let none = HashSet::new();
        for query in [
            "deutsche bank",
            "NABAATWWXXX",
            "oenb",
            "gringotts",
            "shadow",
            "comerzbank",
            "at",
            "de",
            "111111111",
        ] {
            for country in [None, Some("de"), Some("AT"), Some("zz")] {
                for hidden in [&none, &hidden] {
                    let filter = Filter {
                        aggregators: &aggregators,
                        job_types: &[JobType::Transactions],
                        hidden,
                        include_test_banks: true,
                        country,
                    };
                    let page = Page::new(1, 100).unwrap();
                    let ids = |list: Vec<&Institution>| -> Vec<String> {
                        list.iter().map(|i| i.id.clone()).collect()
                    };
                    assert_eq!(
                        ids(old.search_exhaustive(query, &filter, page)),
                        ids(new.search_exhaustive(query, &filter, page)),
                        "{query} {country:?}"
                    );
                    assert_eq!(
                        ids(old.search_routing_number(query, &filter, page)),
                        ids(new.search_routing_number(query, &filter, page)),
                    );
                }
            }
        }
    }
}
