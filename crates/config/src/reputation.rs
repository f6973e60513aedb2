//! `[reputation]`: DNS blocklists, as administrators already write them for Postfix's
//! `postscreen_dnsbl_sites`: `zen.spamhaus.org=127.0.0.[2..11]*3` is the zone, the return
//! codes that count (each octet a number or a bracketed list of numbers and `a..b` ranges,
//! separated by `;`) and the weight (default 1, negative for allow lists). The parser is pure
//! and its errors say what is wrong with the entry; the TOML layer adds the key and the line.

use std::net::Ipv4Addr;

use serde::{Deserialize, Deserializer};

use crate::Duration;

/// `[reputation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReputationConfig {
    /// Lists queried with the connecting client's address (DNSBL).
    pub client_lists: DnsLists,
    /// Lists queried with domain names (RHSBL, DBL): the envelope sender's, the header From's,
    /// Reply-To's and the links' registrable domains.
    pub domain_lists: DnsLists,
    /// The score from which the hits are findings the recipient is shown (banner, Subject tag).
    pub tag_score: i32,
    /// The score from which the message is held in the quarantine; unset: never.
    pub quarantine_score: Option<i32>,
    /// The score from which the message is refused (at RCPT when the client's lists alone reach
    /// it, else after DATA); unset: never.
    pub reject_score: Option<i32>,
    /// How long a list is waited for; one that does not answer in time counts nothing.
    pub timeout: Duration,
    /// At most this many distinct domains of one message are looked up (sender, From,
    /// Reply-To first, then the links in the order they appear).
    pub max_domains: usize,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        ReputationConfig {
            client_lists: DnsLists::default(),
            domain_lists: DnsLists::default(),
            tag_score: 1,
            quarantine_score: None,
            reject_score: None,
            timeout: Duration::from_secs(2),
            max_domains: 10,
        }
    }
}

impl ReputationConfig {
    /// True when any list is configured.
    pub fn enabled(&self) -> bool {
        !self.client_lists.is_empty() || !self.domain_lists.is_empty()
    }

    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        for (key, lists) in [("client_lists", &self.client_lists), ("domain_lists", &self.domain_lists)] {
            if let Some((i, e)) = &lists.bad {
                return Some((format!("reputation.{key}.{i}"), e.to_string()));
            }
        }
        for (key, score) in [
            ("reputation.tag_score", Some(self.tag_score)),
            ("reputation.quarantine_score", self.quarantine_score),
            ("reputation.reject_score", self.reject_score),
        ] {
            if score.is_some_and(|s| s < 1) {
                return Some((key.into(), "must be at least 1 (a message no list names scores 0)".into()));
            }
        }
        let timeout = self.timeout.0;
        if timeout.is_zero() || timeout > std::time::Duration::from_secs(30) {
            return Some(("reputation.timeout".into(), "must be between 1ms and 30s".into()));
        }
        if self.max_domains == 0 {
            return Some(("reputation.max_domains".into(), "must be at least 1".into()));
        }
        None
    }
}

/// The lists of one key, in the order written. An entry that cannot be read is kept as the
/// key's problem, which the configuration's validation reports with the entry's line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsLists {
    lists: Vec<DnsList>,
    bad: Option<(usize, ListSyntaxError)>,
}

impl DnsLists {
    /// Reads every entry; the first that cannot be read, with its index.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<DnsLists, (usize, ListSyntaxError)> {
        let lists = entries.iter().enumerate().map(|(i, e)| DnsList::parse(e.as_ref()).map_err(|e| (i, e)));
        Ok(DnsLists { lists: lists.collect::<Result<_, _>>()?, bad: None })
    }

    /// The lists, in the order written.
    pub fn iter(&self) -> std::slice::Iter<'_, DnsList> {
        self.lists.iter()
    }

    /// True when no list is configured.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}

impl<'de> Deserialize<'de> for DnsLists {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(d)?;
        Ok(DnsLists::parse(&entries).unwrap_or_else(|bad| DnsLists { lists: Vec::new(), bad: Some(bad) }))
    }
}

/// One list: its zone, the return codes that count, and the weight of a hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsList {
    /// The zone queried, lower case without a trailing dot ("zen.spamhaus.org").
    pub zone: String,
    /// The return codes that count; None: any address in 127.0.0.0/8 but 127.255.255.0/24
    /// (which lists use to say the query was refused).
    pub codes: Option<CodePattern>,
    /// Added to the score per hit; negative for an allow list.
    pub weight: i32,
    /// The entry as written.
    pub text: String,
}

/// The return codes a list's entry accepts: per octet, ranges of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePattern([Vec<(u8, u8)>; 4]);

impl CodePattern {
    /// True when `code` is one of the accepted addresses.
    pub fn matches(&self, code: Ipv4Addr) -> bool {
        self.0.iter().zip(code.octets()).all(|(ranges, o)| ranges.iter().any(|&(lo, hi)| lo <= o && o <= hi))
    }
}

impl DnsList {
    /// Reads one entry: `zone`, `zone=CODES`, `zone*WEIGHT` or `zone=CODES*WEIGHT`.
    pub fn parse(text: &str) -> Result<DnsList, ListSyntaxError> {
        let err = |why: String| ListSyntaxError { entry: text.to_string(), why };
        let entry = text.trim();
        let (rest, weight) = match entry.rsplit_once('*') {
            Some((rest, w)) => {
                let weight = w.trim().parse::<i32>().map_err(|_| {
                    err(format!("the weight after `*` must be a whole number (e.g. *3, *-2), not `{w}`"))
                })?;
                (rest, weight)
            }
            None => (entry, 1),
        };
        let (zone, codes) = match rest.split_once('=') {
            Some((zone, codes)) => (zone, Some(parse_codes(codes.trim()).map_err(err)?)),
            None => (rest, None),
        };
        let zone = zone.trim().trim_end_matches('.').to_ascii_lowercase();
        zone_problem(&zone).map_or(Ok(()), |why| Err(err(why)))?;
        Ok(DnsList { zone, codes, weight, text: entry.to_string() })
    }

    /// True when the list's answer `code` counts as a hit.
    pub fn counts(&self, code: Ipv4Addr) -> bool {
        match &self.codes {
            Some(p) => p.matches(code),
            None => code.octets()[0] == 127 && code.octets()[..3] != [127, 255, 255],
        }
    }
}

/// Why a list entry cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{entry}`: {why}")]
pub struct ListSyntaxError {
    entry: String,
    why: String,
}

/// What is wrong with `zone` as a list's zone, if anything.
fn zone_problem(zone: &str) -> Option<String> {
    if zone.is_empty() {
        return Some("no zone before `=` or `*` (write e.g. zen.spamhaus.org=127.0.0.[2..11]*3)".into());
    }
    if !zone.contains('.') {
        return Some(format!("`{zone}` is not a DNS zone (it has no dot)"));
    }
    // The longest query name: an IPv6 address's 32 nibbles and their dots.
    if zone.len() > 253 - 64 {
        return Some(format!("the zone `{zone}` is too long to be queried with an IPv6 address in front"));
    }
    let bad = zone.split('.').find(|label| {
        label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    bad.map(|label| format!("`{label}` is not a DNS label in the zone `{zone}`"))
}

/// Reads `d.d.d.d`, each `d` a number or a bracketed `;` list of numbers and `a..b` ranges.
fn parse_codes(text: &str) -> Result<CodePattern, String> {
    let octets = split_octets(text)?;
    if octets.len() != 4 {
        return Err(format!(
            "the return codes `{text}` must have four parts like an IPv4 address (127.0.0.2, 127.0.0.[2..11]), not {}",
            octets.len()
        ));
    }
    let mut out: [Vec<(u8, u8)>; 4] = Default::default();
    for (slot, octet) in out.iter_mut().zip(octets) {
        *slot = parse_octet(octet, text)?;
    }
    Ok(CodePattern(out))
}

/// `text` cut at the dots outside brackets.
fn split_octets(text: &str) -> Result<Vec<&str>, String> {
    let (mut parts, mut start, mut depth) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' if depth == 0 => depth = 1,
            '[' => return Err(format!("nested `[` in the return codes `{text}`")),
            ']' if depth == 1 => depth = 0,
            ']' => return Err(format!("`]` without `[` in the return codes `{text}`")),
            '.' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("`[` without `]` in the return codes `{text}`"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_octet(octet: &str, codes: &str) -> Result<Vec<(u8, u8)>, String> {
    let number = |n: &str| {
        n.trim()
            .parse::<u8>()
            .map_err(|_| format!("`{}` in the return codes `{codes}` is not a number from 0 to 255", n.trim()))
    };
    let Some(inner) = octet.strip_prefix('[').and_then(|o| o.strip_suffix(']')) else {
        if octet.contains(['[', ']']) {
            return Err(format!("`{octet}` in the return codes `{codes}`: brackets must enclose the whole part"));
        }
        let n = number(octet)?;
        return Ok(vec![(n, n)]);
    };
    let mut ranges = Vec::new();
    for item in inner.split(';') {
        match item.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                if lo > hi {
                    return Err(format!("the range `{}` in the return codes `{codes}` runs backwards", item.trim()));
                }
                ranges.push((lo, hi));
            }
            None => {
                let n = number(item)?;
                ranges.push((n, n));
            }
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;

    use super::*;
    use crate::Config;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn postfix_entries_read_as_postscreen_reads_them() {
        let l = DnsList::parse("zen.spamhaus.org=127.0.0.[2..11]*3").unwrap();
        assert_eq!((l.zone.as_str(), l.weight), ("zen.spamhaus.org", 3));
        assert!(l.counts(ip("127.0.0.2")) && l.counts(ip("127.0.0.11")));
        assert!(!l.counts(ip("127.0.0.12")) && !l.counts(ip("127.0.1.2")) && !l.counts(ip("127.255.255.254")));

        let l = DnsList::parse("dbl.example=127.0.1.2*2").unwrap();
        assert!(l.counts(ip("127.0.1.2")) && !l.counts(ip("127.0.1.3")));
        assert_eq!(l.weight, 2);

        let l = DnsList::parse("list.dnswl.org=127.0.[0..255].[1;3..4]*-2").unwrap();
        assert_eq!(l.weight, -2);
        assert!(l.counts(ip("127.0.9.1")) && l.counts(ip("127.0.9.4")) && !l.counts(ip("127.0.9.2")));

        // No codes: anything in 127/8 but the lists' error codes; no weight: 1.
        let l = DnsList::parse(" Bl.Example.NET. ").unwrap();
        assert_eq!((l.zone.as_str(), l.weight, l.codes.is_none()), ("bl.example.net", 1, true));
        assert!(l.counts(ip("127.0.0.2")) && !l.counts(ip("127.255.255.254")) && !l.counts(ip("10.0.0.2")));
        assert_eq!(DnsList::parse("bl.example*5").unwrap().weight, 5);
    }

    #[test]
    fn a_bad_entry_says_what_is_wrong_with_it() {
        for (entry, says) in [
            ("=127.0.0.2", "no zone"),
            ("zen=127.0.0.2", "has no dot"),
            ("zen.spamhaus.org=127.0.0.[2..11", "`[` without `]`"),
            ("zen.spamhaus.org=127.0.0.2..11]", "`]` without `[`"),
            ("zen.spamhaus.org=127.0.0", "four parts"),
            ("zen.spamhaus.org=127.0.0.[11..2]", "runs backwards"),
            ("zen.spamhaus.org=127.0.0.256", "`256`"),
            ("zen.spamhaus.org=127.0.0.x[2]", "brackets must enclose"),
            ("zen.spamhaus.org=127.0.0.2*three", "weight after `*`"),
            ("zen.spam haus.org", "not a DNS label"),
            ("zen.spamhaus.org=127.0.[[0]].2", "nested"),
        ] {
            let e = DnsList::parse(entry).unwrap_err().to_string();
            assert!(e.starts_with(&format!("`{}`: ", entry.trim())) && e.contains(says), "{entry}: {e}");
        }
    }

    #[test]
    fn the_configuration_error_names_the_key_and_the_line_of_the_entry() {
        let text = "[reputation]\nclient_lists = [\n  \"zen.spamhaus.org=127.0.0.[2..11]*3\",\n  \"bl.example=127.0.0.[2..x]\",\n]\n";
        let e = Config::parse(text, Path::new("s.toml")).unwrap_err().to_string();
        assert!(e.starts_with("s.toml:4: reputation.client_lists.1: `bl.example=127.0.0.[2..x]`: `x`"), "{e}");
        let text = "[reputation]\ndomain_lists = [\"dbl.example=127.0.1.2*2\"]\nquarantine_score = 0\n";
        let e = Config::parse(text, Path::new("s.toml")).unwrap_err().to_string();
        assert_eq!(e, "s.toml:3: reputation.quarantine_score: must be at least 1 (a message no list names scores 0)");
        let c = Config::parse("", Path::new("s.toml")).unwrap().reputation;
        assert!(!c.enabled(), "no list by default");
        assert_eq!((c.tag_score, c.quarantine_score, c.reject_score, c.max_domains), (1, None, None, 10));
    }
}
