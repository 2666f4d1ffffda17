//! The one error type of this crate. Every variant names what was wrong (id, index, line,
//! field or key) so a message alone is enough to find the bad input.

/// Errors from building a catalogue, loading institution lists, and validating preferences or
/// pagination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// An institution whose name is empty or whitespace.
    #[error("institution {id}: name is empty")]
    EmptyName { id: String },
    /// More distinct aggregator block keys than the filter bitset holds.
    #[error("too many distinct aggregator block keys ({count}); at most {max} are supported")]
    TooManyAggregatorKeys { count: usize, max: usize },
    /// A UCW institution list that is not a JSON array.
    #[error("institution list is not a JSON array: {message}")]
    NotAnArray { message: String },
    /// One element of a UCW institution list failed to load.
    #[error("institution list item {index}{}: {message}", id.as_deref().map(|id| format!(" (id {id})")).unwrap_or_default())]
    InvalidInstitution {
        index: usize,
        id: Option<String>,
        message: String,
    },
    /// One line of a bank JSON Lines file failed to load (1-based line number).
    #[error("banks line {line}: {message}")]
    InvalidBankLine { line: usize, message: String },
    /// A pagination parameter out of range; `field` is `page` or `pageSize`.
    #[error("{field} {message}")]
    InvalidPage {
        field: &'static str,
        message: String,
    },
    /// Preferences that do not parse or fail validation; `key` is the UCW key path.
    #[error("preferences {key}: {message}")]
    InvalidPreferences { key: String, message: String },
}
