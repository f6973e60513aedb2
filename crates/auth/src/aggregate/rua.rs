//! Where a DMARC aggregate report may go (RFC 7489 §7.1): the record's `mailto:` URIs with their
//! size limits, and whether a destination outside the policy domain's organisation has
//! authorised it.

/// One `rua` destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The URI as the record has it (`mailto:d@example.com!10m`), the send-once record's key.
    pub uri: String,
    /// The address.
    pub address: String,
    /// The largest report it takes, in bytes (the `!size` suffix); None: no limit.
    pub max_size: Option<u64>,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri)
    }
}

impl Destination {
    /// The address's domain, lower case.
    pub fn domain(&self) -> String {
        self.address.rsplit_once('@').map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase()).unwrap_or_default()
    }
}

/// The `mailto:` destinations of a record's `rua` list; other schemes and malformed entries are
/// left out (sekisho sends reports by mail only).
pub fn destinations(rua: &[String]) -> Vec<Destination> {
    rua.iter()
        .filter_map(|uri| {
            let rest = uri.trim();
            let rest = rest.get(..7).filter(|s| s.eq_ignore_ascii_case("mailto:")).map(|_| &rest[7..])?;
            let (address, max_size) = match rest.split_once('!') {
                Some((a, size)) => (a.trim(), Some(size_of(size)?)),
                None => (rest.trim(), None),
            };
            let (local, domain) = address.rsplit_once('@')?;
            let ok = !local.is_empty()
                && !domain.is_empty()
                && !address.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ','));
            ok.then(|| Destination { uri: uri.trim().to_string(), address: address.to_string(), max_size })
        })
        .collect()
}

/// `10m`, `500k`, `1g`, `2t` or a number of bytes.
fn size_of(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => t.split_at(at),
        None => (t.as_str(), ""),
    };
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// True when a report about `policy_domain` to an address at `destination_domain` needs the
/// destination's authorisation record: their organisational domains differ (§7.1).
pub fn needs_authorisation(policy_domain: &str, destination_domain: &str) -> bool {
    sekisho_lookalike::organisational_domain(policy_domain)
        != sekisho_lookalike::organisational_domain(destination_domain)
}

/// True when the TXT answers at `<policy-domain>._report._dmarc.<destination-domain>` authorise
/// reports: one of them is a DMARC record (`v=DMARC1`).
pub fn authorises(answers: &[String]) -> bool {
    answers.iter().any(|a| {
        let a = a.trim_start();
        a.get(..8).is_some_and(|v| v.eq_ignore_ascii_case("v=DMARC1"))
            && a[8..].trim_start().chars().next().is_none_or(|c| c == ';')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailto_destinations_with_their_size_limits() {
        let d = destinations(&[
            "mailto:agg@example.com".into(),
            "MAILTO:big@reports.example!10m".into(),
            "mailto:small@reports.example!500".into(),
            "https://reports.example/dmarc".into(),
            "mailto:nobody".into(),
            "mailto:x@y.example!10q".into(),
            "mailto:a@b.example\r\nBcc: c@d".into(),
        ]);
        let got: Vec<(&str, Option<u64>)> = d.iter().map(|d| (d.address.as_str(), d.max_size)).collect();
        assert_eq!(
            got,
            [("agg@example.com", None), ("big@reports.example", Some(10 << 20)), ("small@reports.example", Some(500))]
        );
        assert_eq!(d[1].domain(), "reports.example");
        assert_eq!(d[1].uri, "MAILTO:big@reports.example!10m");
    }

    #[test]
    fn only_another_organisation_needs_to_authorise() {
        assert!(!needs_authorisation("example.com", "example.com"));
        assert!(!needs_authorisation("mail.example.com", "reports.example.com"));
        assert!(!needs_authorisation("example.co.jp", "dmarc.example.co.jp"));
        assert!(needs_authorisation("example.com", "reports.example"));
        assert!(needs_authorisation("example.co.jp", "other.co.jp"));
        assert!(authorises(&["v=DMARC1".into()]));
        assert!(authorises(&["other".into(), "v=DMARC1; rua=mailto:x@y".into()]));
        assert!(!authorises(&["v=DMARC10".into()]));
        assert!(!authorises(&["v=spf1 -all".into()]));
        assert!(!authorises(&[]));
    }
}
