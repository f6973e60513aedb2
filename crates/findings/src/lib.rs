//! Findings a person understands about an inbound message's sender: the header From against
//! the envelope, the display name, Reply-To, look-alike domains, first contact and the
//! client's country, each with its evidence and a sentence in English and Japanese.
//!
//! Pure: the caller reads the header block, asks the store and the country database, and
//! hands the answers in as [`Facts`]; [`findings`] decides. The authentication findings
//! (`dmarc-fail`, `spf-fail`, `dkim-fail`) are made where authentication runs and merged with
//! these by [`merge`].

mod country;
mod header;
mod names;
mod sentences;
mod smime;

use sekisho_lookalike::{Protected, organisational_domain};
use sekisho_policy::sender::{FindingKind, SenderFinding};

pub use country::{Countries, Country};
pub use header::{Mailbox, SenderHeader, domain_of};
pub use names::{InternalNames, fold};
pub use smime::{smime_invalid, smime_valid};

/// What the organisation's history says about the sender's address and domain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contact {
    /// Mail was delivered to this very address before.
    pub address: bool,
    /// Mail was delivered to some address of its domain before.
    pub domain: bool,
}

/// Everything [`findings`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The envelope sender (MAIL FROM); empty for the null sender.
    pub envelope_sender: &'a str,
    /// The header's From and Reply-To.
    pub header: &'a SenderHeader,
    /// The organisation's own domains (`local_domains`).
    pub local_domains: &'a [String],
    /// The organisation's people's names.
    pub internal_names: &'a InternalNames,
    /// The domains a look-alike imitates.
    pub protected: &'a Protected,
    /// The history's answer for the header From's address; None when not asked.
    pub contact: Option<Contact>,
    /// The connecting client's country and whether the organisation corresponds with it; None
    /// when no database is configured or the address is not in it.
    pub country: Option<&'a Country>,
}

/// The findings about the sender described by `facts`, most serious first.
pub fn findings(facts: &Facts<'_>) -> Vec<SenderFinding> {
    let mut out = Vec::new();
    let from = facts.header.from.first();
    if let Some(from) = from {
        let domain = from.domain();
        if let Some(found) = facts.protected.check(&domain) {
            out.push(sentences::look_alike(&found));
        }
        if let Some(f) = display_name_spoof(facts, from) {
            out.push(f);
        }
        let from_org = organisational_domain(&domain);
        let envelope_domain = domain_of(facts.envelope_sender);
        if !envelope_domain.is_empty() && !domain.is_empty() {
            let envelope_org = organisational_domain(&envelope_domain);
            if envelope_org != from_org {
                out.push(sentences::header_envelope_mismatch(&from_org, &envelope_org));
            }
        }
        if let Some(reply) = facts
            .header
            .reply_to
            .iter()
            .find(|r| !r.domain().is_empty() && organisational_domain(&r.domain()) != from_org)
        {
            out.push(sentences::reply_to_elsewhere(&reply.address, &organisational_domain(&reply.domain()), &from_org));
        }
        let local = is_local(facts.local_domains, &domain);
        if facts.contact.is_some_and(|c| !local && !c.address && !c.domain) {
            out.push(sentences::first_contact(&from.address, &domain));
        }
    }
    if let Some(country) = facts.country {
        out.push(sentences::origin_country(country));
    }
    out
}

/// The display name holding another address, or an internal person's name on an outside
/// address.
fn display_name_spoof(facts: &Facts<'_>, from: &Mailbox) -> Option<SenderFinding> {
    let name = from.name.as_deref()?;
    if let Some(shown) = address_in(name)
        && !shown.eq_ignore_ascii_case(&from.address)
    {
        return Some(sentences::name_holds_address(name, &from.address));
    }
    (!is_local(facts.local_domains, &from.domain()) && facts.internal_names.contains(name))
        .then(|| sentences::internal_name(name, &from.address))
}

/// The first e-mail address written in `name` (`user@domain.tld`), if any.
fn address_in(name: &str) -> Option<String> {
    name.split(|c: char| c.is_whitespace() || "<>()[]\"',;:".contains(c))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '\''))
        .find(|w| {
            w.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            })
        })
        .map(str::to_string)
}

/// True when `domain` is one of `local_domains` or under one.
pub fn is_local(local_domains: &[String], domain: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    local_domains.iter().any(|d| {
        domain.eq_ignore_ascii_case(d)
            || (domain.len() > d.len()
                && domain[domain.len() - d.len()..].eq_ignore_ascii_case(d)
                && domain.as_bytes()[domain.len() - d.len() - 1] == b'.')
    })
}

/// How serious a kind is, for the order of the findings (0 first).
pub fn rank(kind: FindingKind) -> u8 {
    match kind {
        FindingKind::DmarcFail => 0,
        FindingKind::LookAlike => 1,
        FindingKind::DisplayNameSpoof => 2,
        FindingKind::Reputation => 3,
        FindingKind::SpfFail => 4,
        FindingKind::DkimFail => 5,
        FindingKind::SmimeInvalid => 6,
        FindingKind::HeaderEnvelopeMismatch => 7,
        FindingKind::ReplyToElsewhere => 8,
        FindingKind::FirstContact => 9,
        FindingKind::OriginCountry => 10,
        FindingKind::SmimeValid => 11,
    }
}

/// `theirs` (e.g. the authentication findings) and `ours` as one list, most serious first (in
/// the order given within a kind).
pub fn merge(theirs: Vec<SenderFinding>, ours: Vec<SenderFinding>) -> Vec<SenderFinding> {
    let mut all: Vec<SenderFinding> = theirs.into_iter().chain(ours).collect();
    all.sort_by_key(|f| rank(f.kind));
    all
}

#[cfg(test)]
mod tests;
