//! The connecting client's country, as the finding `origin-country` reports it.

use std::collections::BTreeSet;

/// A country from the administrator's database, with what the policy needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, upper case ("JP").
    pub code: String,
    /// Its English name, when the database has one.
    pub name_en: Option<String>,
    /// Its Japanese name, when the database has one.
    pub name_ja: Option<String>,
    /// True when the organisation corresponds with this country (`[findings]
    /// corresponding_countries`), or when that list is empty.
    pub usual: bool,
}

/// The countries the organisation corresponds with (ISO codes, upper case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Countries(BTreeSet<String>);

impl Countries {
    /// The set of `codes` (any case).
    pub fn new<'a>(codes: impl IntoIterator<Item = &'a str>) -> Countries {
        Countries(codes.into_iter().map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty()).collect())
    }

    /// True when `code` is one of them, or no list is configured.
    pub fn usual(&self, code: &str) -> bool {
        self.0.is_empty() || self.0.contains(&code.to_ascii_uppercase())
    }
}
