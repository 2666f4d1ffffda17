//! Connect Hub's institution catalogue: an immutable, in-memory replacement for UCW's
//! Elasticsearch index, plus preferences and institution → aggregator routing.
//!
//! * [`Catalog`]: built once from institutions ([`load_ucw_institutions`], [`load_banks_jsonl`]);
//!   `get`, filtered and paginated [`Catalog::search`], [`Catalog::search_routing_number`] and
//!   [`Catalog::recommended`].
//! * [`Preferences`] (UCW's preferences document) and [`route`] (UCW §7.2 steps 2–5).
//!
//! # Search ranking
//! Queries and names are lowercased, Latin diacritics folded ("société" = "societe",
//! "ß" = "ss") and split into alphanumeric tokens. Results are ordered by: the normalised name
//! equal to the query; the name starting with the query; the number of query words matched;
//! then the sum of each word's best match (whole name word > name word prefix > keyword word >
//! keyword prefix > one typo > two typos). Typos allowed per word: none up to 2 characters,
//! 1 for 3–5, 2 from 6 (a transposition counts as one). Ties: shorter name, then name, then id.
//!
//! No web framework, Redis or HTTP client here.

mod catalog;
mod distance;
mod error;
mod index;
mod load;
mod normalize;
mod preferences;
mod routing;
mod search;

pub use catalog::{Catalog, CountryMap, Filter, Page};
pub use error::CatalogError;
pub use load::{
    SANDBOX_BLOCK_KEY, load_banks_jsonl, load_banks_jsonl_with_countries, load_ucw_institutions,
};
pub use normalize::normalize;
pub use preferences::{Preferences, VolumeMap};
pub use routing::{RandomSource, RouteDecision, RouteReason, SeededRandom, route};
pub use search::{MAX_QUERY_CHARS, MAX_WORDS};
