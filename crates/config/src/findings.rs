//! `[findings]`: the findings a person reads about an inbound message's sender (look-alike
//! domains, display names, Reply-To, first contact, the client's country) and how the
//! recipient is shown them (a banner at the top of the body, a Subject tag).

use std::collections::BTreeMap;
use std::path::PathBuf;

use sekisho_policy::sender::FindingKind;
use serde::Deserialize;

use crate::Duration;

/// What is done with mail from a country the organisation does not correspond with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnusualCountry {
    /// The finding is shown (banner, tag) and the message delivered.
    #[default]
    Tag,
    /// The message is held in the quarantine for an administrator.
    Hold,
}

/// `[findings]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsConfig {
    /// Look at the sender of every message on the MX listeners before the 250.
    pub enabled: bool,
    /// Partner domains a look-alike may imitate, besides `local_domains`.
    pub partners: Vec<String>,
    /// The domains the organisation has delivered submitted mail to are protected too.
    pub learn_domains: bool,
    /// How long the learned domains are kept in memory before the store is read again.
    pub learned_refresh: Duration,
    /// A file of the organisation's people's names (one a line, `#` comments), for a display
    /// name that is an internal name on an outside address; read again when it changes.
    pub internal_names: Option<PathBuf>,
    /// The names also come from the directory: the `[ldap] name_attributes` of the entries
    /// matching `[ldap] names_filter`, read at most every `learned_refresh`.
    pub ldap_names: bool,
    /// Say when nobody in the organisation has written to the sender before.
    pub first_contact: bool,
    /// A MaxMind-format country database (GeoLite2-Country, GeoIP2-Country, DB-IP); unset:
    /// no `origin-country` finding.
    pub country_database: Option<PathBuf>,
    /// The countries the organisation corresponds with (ISO 3166-1 alpha-2 codes); mail from
    /// others is unusual. Empty: every country is usual.
    pub countries: Vec<String>,
    /// What unusual-country mail gets: `"tag"` (shown, delivered) or `"hold"` (quarantined).
    pub unusual_country: UnusualCountry,
    /// Put a banner at the top of the body (text and HTML parts) when a finding of
    /// `banner_kinds` is made.
    pub banner: bool,
    /// The kinds that call for the banner.
    pub banner_kinds: Vec<FindingKind>,
    /// The banner's text template; `{findings}` is replaced by one line per finding (Japanese
    /// then English). Empty: the built-in text.
    pub banner_text: String,
    /// The banner's HTML template; `{findings}` is replaced by the findings as list items
    /// (escaped). Empty: the built-in HTML.
    pub banner_html: String,
    /// Text put in front of the Subject per finding kind; several kinds' tags are joined in
    /// the order of the findings, each once.
    pub subject_tags: BTreeMap<FindingKind, String>,
}

impl Default for FindingsConfig {
    fn default() -> Self {
        FindingsConfig {
            enabled: true,
            partners: Vec::new(),
            learn_domains: true,
            learned_refresh: Duration::from_secs(600),
            internal_names: None,
            ldap_names: false,
            first_contact: true,
            country_database: None,
            countries: Vec::new(),
            unusual_country: UnusualCountry::Tag,
            banner: true,
            // Information (first contact, the country, a valid S/MIME signature) is in the
            // record and on the portal, not on every new correspondent's mail.
            banner_kinds: FindingKind::ALL
                .iter()
                .copied()
                .filter(|k| {
                    !matches!(k, FindingKind::OriginCountry | FindingKind::FirstContact | FindingKind::SmimeValid)
                })
                .collect(),
            banner_text: String::new(),
            banner_html: String::new(),
            subject_tags: [
                FindingKind::DmarcFail,
                FindingKind::LookAlike,
                FindingKind::DisplayNameSpoof,
                FindingKind::Reputation,
            ]
            .into_iter()
            .map(|k| (k, "[注意]".to_string()))
            .collect(),
        }
    }
}

impl FindingsConfig {
    /// The Subject tag for findings of `kinds` (in their order): each configured tag once,
    /// joined by a space; None when none is configured for them.
    pub fn subject_tag(&self, kinds: impl IntoIterator<Item = FindingKind>) -> Option<String> {
        let mut tags: Vec<&str> = Vec::new();
        for kind in kinds {
            if let Some(tag) = self.subject_tags.get(&kind).map(|t| t.trim()).filter(|t| !t.is_empty())
                && !tags.contains(&tag)
            {
                tags.push(tag);
            }
        }
        (!tags.is_empty()).then(|| tags.join(" "))
    }

    /// True when one of `kinds` calls for the banner.
    pub fn wants_banner(&self, kinds: impl IntoIterator<Item = FindingKind>) -> bool {
        self.banner && kinds.into_iter().any(|k| self.banner_kinds.contains(&k))
    }

    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        if let Some(d) = self.partners.iter().find(|d| d.trim().is_empty() || d.contains('@') || !d.contains('.')) {
            return Some(("findings.partners".into(), format!("`{d}` is not a domain name")));
        }
        if let Some(c) = self.countries.iter().find(|c| c.len() != 2 || !c.chars().all(|c| c.is_ascii_alphabetic())) {
            return Some(("findings.countries".into(), format!("`{c}` is not an ISO 3166-1 alpha-2 code (\"JP\")")));
        }
        for (key, template) in
            [("findings.banner_text", &self.banner_text), ("findings.banner_html", &self.banner_html)]
        {
            if !template.is_empty() && !template.contains("{findings}") {
                return Some((key.into(), "the template must contain `{findings}`".into()));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sekisho_policy::sender::FindingKind;

    use crate::Config;

    #[test]
    fn tags_per_kind_and_the_checks_of_the_keys() {
        let c = Config::parse(
            "[findings]\npartners = [\"example.co.jp\"]\nsubject_tags = { first-contact = \"[外部]\", look-alike = \"[注意]\" }\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let f = &c.findings;
        let tag = f.subject_tag([FindingKind::LookAlike, FindingKind::FirstContact, FindingKind::SpfFail]);
        assert_eq!(tag.as_deref(), Some("[注意] [外部]"));
        assert_eq!(f.subject_tag([FindingKind::DisplayNameSpoof]), None, "the table replaces the default");
        let default = Config::parse("", Path::new("t.toml")).unwrap().findings;
        assert_eq!(default.subject_tag([FindingKind::DisplayNameSpoof]).as_deref(), Some("[注意]"));
        assert!(default.wants_banner([FindingKind::FirstContact, FindingKind::ReplyToElsewhere]));
        assert!(!default.wants_banner([FindingKind::FirstContact]));
        assert!(!default.wants_banner([FindingKind::OriginCountry]));
        for (text, key) in [
            ("[findings]\npartners = [\"a@b.test\"]", "findings.partners"),
            ("[findings]\ncountries = [\"JPN\"]", "findings.countries"),
            ("[findings]\nbanner_text = \"Careful\"", "findings.banner_text"),
            ("[findings]\nsubject_tags = { lookalike = \"x\" }", "lookalike"),
        ] {
            let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
