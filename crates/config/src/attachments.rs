//! `[[outbound.attachments]]`: per-domain overrides of how attachments travel.

use serde::Deserialize;

/// `[[outbound.attachments]] domains = [...]` with any of `inline_min`, `inline_format`,
/// `access`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRule {
    /// Recipient domains; ".example.com" also matches its subdomains.
    pub domains: Vec<String>,
    /// Least assurance at which attachments travel inline to them.
    pub inline_min: Option<String>,
    /// "as-is" or "zip".
    pub inline_format: Option<String>,
    /// How their links are opened.
    pub access: Option<String>,
}

/// True when `domain` is one of `patterns` ("example.com", or ".example.com" for it and its
/// subdomains).
pub fn domain_matches(patterns: &[String], domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|d| {
        let d = d.to_ascii_lowercase();
        match d.strip_prefix('.') {
            Some(parent) => domain == parent || domain.ends_with(&d),
            None => d == domain,
        }
    })
}

/// What applies to one recipient domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentPolicy<'a> {
    pub inline_min: &'a str,
    pub inline_format: &'a str,
    pub access: &'a str,
}
