//! The partner TLS report ("the last 10%"): per recipient domain, from the delivery evidence the
//! store keeps with every attempt, how much mail went inline and how much as download links,
//! why (no STARTTLS, an expired certificate, a name mismatch, an untrusted or self-signed
//! certificate, no MTA-STS/DANE where the policy asks for it, a suspected downgrade), since
//! when, and whether it improved between the first and the second half of the window; and the
//! text an administrator can send to the partner's postmaster (`explain`). Pure: the store's
//! rows (`sekisho_store::PartnerEvidence`) in, values out.

mod explain;
mod reason;

pub use explain::{Lang, explain, explain_as};
pub use reason::Reason;

use std::collections::BTreeMap;

use sekisho_policy::Carriage;
use sekisho_store::PartnerEvidence;
use serde::Serialize;

/// One partner domain over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partner {
    /// The recipient domain, lower case.
    pub domain: String,
    /// Attempts with a session (delivered or not).
    pub attempts: u64,
    /// Delivered with the attachments inline.
    pub inline: u64,
    /// Delivered as a download link.
    pub links: u64,
    /// Delivered, without files (no inline-or-link decision).
    pub without_files: u64,
    /// Not delivered by that attempt (deferred or bounced), e.g. below a required level.
    pub held_back: u64,
    /// What fell short, most attempts first.
    pub reasons: Vec<ReasonCount>,
    /// The first and the last attempt in the window with a shortfall (Unix seconds).
    pub since: i64,
    pub last_seen: i64,
    /// The first and the second half of the window.
    pub first_half: Half,
    pub second_half: Half,
    /// Whether the share of attempts with a shortfall went down.
    pub trend: Trend,
}

/// Attempts in one half of the window, and those with a shortfall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Half {
    pub attempts: u64,
    pub short: u64,
}

/// One reason, with how many attempts had it and how many of them became links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    pub reason: Reason,
    pub attempts: u64,
    pub links: u64,
    pub first_at: i64,
    pub last_at: i64,
}

/// The first half against the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    /// No shortfall in the second half any more.
    Fixed,
    /// A smaller share of the attempts fell short.
    Improved,
    /// The same share.
    Unchanged,
    /// A larger share.
    Worse,
    /// No mail in the first half to compare with.
    New,
    /// No mail in the second half.
    NoRecentMail,
}

impl Trend {
    /// The keyword shown and in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Fixed => "fixed",
            Trend::Improved => "improved",
            Trend::Unchanged => "unchanged",
            Trend::Worse => "worse",
            Trend::New => "new",
            Trend::NoRecentMail => "no-recent-mail",
        }
    }

    fn of(first: Half, second: Half) -> Trend {
        if second.attempts == 0 {
            return Trend::NoRecentMail;
        }
        if first.attempts == 0 {
            return Trend::New;
        }
        if second.short == 0 {
            return Trend::Fixed;
        }
        // first.short / first.attempts against second.short / second.attempts, in integers.
        let (before, after) = (first.short * second.attempts, second.short * first.attempts);
        match after.cmp(&before) {
            std::cmp::Ordering::Less => Trend::Improved,
            std::cmp::Ordering::Equal => Trend::Unchanged,
            std::cmp::Ordering::Greater => Trend::Worse,
        }
    }
}

/// The partners whose mail fell short at least once in the window, most links first (then
/// most attempts with a shortfall, then by name). Domains in `local` (the organisation's own)
/// are left out.
pub fn partners(rows: &[PartnerEvidence], local: &[String]) -> Vec<Partner> {
    let mut by: BTreeMap<&str, Vec<&PartnerEvidence>> = BTreeMap::new();
    for r in rows {
        if !local.iter().any(|l| l.eq_ignore_ascii_case(&r.domain)) {
            by.entry(r.domain.as_str()).or_default().push(r);
        }
    }
    let mut out: Vec<Partner> = by.into_iter().filter_map(|(domain, rows)| partner(domain, &rows)).collect();
    out.sort_by(|a, b| {
        let short = |p: &Partner| p.first_half.short + p.second_half.short;
        b.links.cmp(&a.links).then(short(b).cmp(&short(a))).then(a.domain.cmp(&b.domain))
    });
    out
}

fn partner(domain: &str, rows: &[&PartnerEvidence]) -> Option<Partner> {
    let mut p = Partner {
        domain: domain.to_string(),
        attempts: 0,
        inline: 0,
        links: 0,
        without_files: 0,
        held_back: 0,
        reasons: Vec::new(),
        since: i64::MAX,
        last_seen: i64::MIN,
        first_half: Half::default(),
        second_half: Half::default(),
        trend: Trend::Unchanged,
    };
    let mut reasons: BTreeMap<Reason, ReasonCount> = BTreeMap::new();
    for r in rows {
        let n = r.attempts;
        p.attempts += n;
        let delivered = r.outcome == "delivered";
        let link = delivered && r.variant == Some(Carriage::Link);
        match (delivered, r.variant) {
            (false, _) => p.held_back += n,
            (true, Some(Carriage::Link)) => p.links += n,
            (true, Some(Carriage::Inline)) => p.inline += n,
            (true, None) => p.without_files += n,
        }
        let reason = Reason::of(r);
        let half = if r.late { &mut p.second_half } else { &mut p.first_half };
        half.attempts += n;
        if let Some(reason) = reason {
            half.short += n;
            p.since = p.since.min(r.first_at);
            p.last_seen = p.last_seen.max(r.last_at);
            let c = reasons.entry(reason.clone()).or_insert(ReasonCount {
                reason,
                attempts: 0,
                links: 0,
                first_at: r.first_at,
                last_at: r.last_at,
            });
            c.attempts += n;
            c.links += if link { n } else { 0 };
            c.first_at = c.first_at.min(r.first_at);
            c.last_at = c.last_at.max(r.last_at);
        }
    }
    if reasons.is_empty() {
        return None;
    }
    p.reasons = reasons.into_values().collect();
    p.reasons.sort_by(|a, b| b.attempts.cmp(&a.attempts).then(a.reason.cmp(&b.reason)));
    p.trend = Trend::of(p.first_half, p.second_half);
    Some(p)
}

#[cfg(test)]
mod tests;
