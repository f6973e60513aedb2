//! Look-alike domains: whether a sender's domain imitates one the organisation protects
//! (UTS #39 confusable skeletons, mixed-script labels, near misses on the registrable part).
//!
//! Pure: [`Protected::new`] takes the protected domains (the local domains, the partner list,
//! the domains the organisation writes to) once, and [`Protected::check`] compares one domain
//! against all of them. Only the *registrable part* is compared — the label in front of the
//! public suffix (`example` in `mail.example.co.jp`) — so a subdomain of a protected domain is
//! that domain, never a look-alike of it.

mod compare;
mod name;

use std::collections::HashMap;

pub use compare::edit_distance;
pub use name::{Registrable, organisational_domain};
pub use {idna, psl, unicode_security};

/// Why a domain is protected, as the finding's sentence says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Why {
    /// One of the organisation's own domains (`local_domains`).
    Local,
    /// A partner from the configured list.
    Partner,
    /// A domain the organisation has written to (learned from outbound mail).
    Corresponded,
}

/// How a domain resembles the one it imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The same UTS #39 skeleton: it reads the same (Cyrillic "а" for Latin "a", "rn" for "m").
    Confusable,
    /// One of the common swaps: rn↔m, 0↔o, l↔1, vv↔w.
    Swap,
    /// The registrable parts differ by this many edits (1 or 2: a letter added, dropped,
    /// changed or two neighbours swapped).
    Edits(u8),
    /// The label mixes scripts (e.g. Latin and Cyrillic) and resembles no protected domain.
    MixedScript,
}

/// What [`Protected::check`] found: the domain imitated (None for a mixed-script label that
/// imitates no protected domain), why that one is protected, and how they resemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookAlike {
    /// The checked domain's registrable part, in Unicode (as a person reads it).
    pub domain: String,
    /// The protected registrable domain it imitates, in Unicode.
    pub imitates: Option<String>,
    /// Why the imitated domain is protected.
    pub why: Option<Why>,
    /// How they resemble.
    pub how: How,
}

/// One protected registrable domain, with what the comparisons need computed once.
#[derive(Debug, Clone)]
struct Entry {
    name: Registrable,
    why: Why,
    /// Its label's characters.
    label: Vec<char>,
    /// Their [`compare::counts`].
    counts: [u8; 32],
}

/// The protected domains, ready to compare against.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    entries: Vec<Entry>,
    /// Registrable domain (ASCII) → index of its entry.
    exact: HashMap<String, usize>,
    /// Skeleton of the registrable domain → index of the first entry with it.
    skeletons: HashMap<String, usize>,
    /// Swap-normalised registrable domain → index of the first entry with it.
    swaps: HashMap<String, usize>,
    /// (suffix, label length in characters) → the entries with it, for the edit distance.
    by_length: HashMap<(String, usize), Vec<usize>>,
}

impl Protected {
    /// The protected set from `(domain, why)` pairs (any case, Unicode or A-labels, subdomains
    /// reduced to their registrable domain). When a domain comes twice, the first reason wins,
    /// so give local domains first, then partners, then learned ones.
    pub fn new<'a>(domains: impl IntoIterator<Item = (&'a str, Why)>) -> Protected {
        let mut p = Protected::default();
        for (domain, why) in domains {
            let Some(name) = Registrable::of(domain) else { continue };
            if p.exact.contains_key(&name.ascii) {
                continue;
            }
            let i = p.entries.len();
            p.exact.insert(name.ascii.clone(), i);
            p.skeletons.entry(compare::skeleton(&name.unicode)).or_insert(i);
            p.swaps.entry(compare::swapped(&name.unicode)).or_insert(i);
            let label: Vec<char> = name.label().chars().collect();
            p.by_length.entry((name.suffix.clone(), label.len())).or_default().push(i);
            let counts = compare::counts(&label);
            p.entries.push(Entry { name, why, label, counts });
        }
        p
    }

    /// How many registrable domains are protected.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is protected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `domain` imitates a protected domain; None when it is one of them (or a
    /// subdomain of one), resembles none, or is not a domain name.
    pub fn check(&self, domain: &str) -> Option<LookAlike> {
        let name = Registrable::of(domain)?;
        if self.exact.contains_key(&name.ascii) {
            return None;
        }
        let found = |i: usize, how: How| {
            let e: &Entry = &self.entries[i];
            LookAlike { domain: name.unicode.clone(), imitates: Some(e.name.unicode.clone()), why: Some(e.why), how }
        };
        if let Some(&i) = self.skeletons.get(&compare::skeleton(&name.unicode)) {
            return Some(found(i, How::Confusable));
        }
        if let Some(&i) = self.swaps.get(&compare::swapped(&name.unicode)) {
            return Some(found(i, How::Swap));
        }
        let mut best: Option<(u8, usize)> = None;
        let label: Vec<char> = name.label().chars().collect();
        let lengths = label.len().saturating_sub(2)..=label.len() + 2;
        let counts = compare::counts(&label);
        let candidates = lengths.filter_map(|n| self.by_length.get(&(name.suffix.clone(), n))).flatten();
        for &i in candidates {
            let e = &self.entries[i];
            if !compare::may_be_near(&counts, &e.counts, 2) {
                continue;
            }
            let Some(d) = compare::near(&label, &e.label) else { continue };
            if best.is_none_or(|(b, j)| (d, e.why, i) < (b, self.entries[j].why, j)) {
                best = Some((d, i));
            }
        }
        if let Some((d, i)) = best {
            return Some(found(i, How::Edits(d)));
        }
        compare::mixed_script(name.label()).then(|| LookAlike {
            domain: name.unicode.clone(),
            imitates: None,
            why: None,
            how: How::MixedScript,
        })
    }
}

#[cfg(test)]
mod tests;
