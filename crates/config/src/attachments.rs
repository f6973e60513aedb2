//! `[[outbound.attachments]]`: per-domain overrides of how attachments travel.

use sekisho_policy::{Access, InlineFormat, InlineMin};
use serde::Deserialize;

/// `[[outbound.attachments]] domains = [...]` with any of `inline_min`, `inline_format`,
/// `access`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRule {
    /// Recipient domains; ".example.com" also matches its subdomains.
    pub domains: Vec<String>,
    /// Least assurance at which attachments travel inline to them.
    pub inline_min: Option<InlineMin>,
    /// "as-is" or "zip".
    pub inline_format: Option<InlineFormat>,
    /// How their links are opened.
    pub access: Option<Access>,
    /// Attachments larger than this (the message's files together) go to them as a link
    /// whatever the session's TLS.
    pub link_above: Option<crate::Size>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentPolicy {
    /// From which session assurance attachments go inline.
    pub inline_min: InlineMin,
    /// How inline attachments travel.
    pub inline_format: InlineFormat,
    /// How the recipient's link opens.
    pub access: Access,
    /// Attachments larger than this many bytes (together) go as a link whatever the TLS;
    /// None: no size rule.
    pub link_above: Option<u64>,
}
