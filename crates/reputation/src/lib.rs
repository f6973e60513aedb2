//! DNS blocklists (`[reputation]`), the pure part: which names to ask each list about (the
//! client's address reversed, the message's registrable domains), what the answers add up to,
//! what the score does (tag, quarantine, reject) and the findings a person reads.
//!
//! The caller asks DNS: [`client_queries`] and [`domain_queries`] say what to ask, the answers
//! come back as [`Answer`]s, and [`evaluate`] decides. Nothing here does I/O.

mod domains;
mod query;
mod sentences;

use std::net::{IpAddr, Ipv4Addr};

use sekisho_config::{DnsList, ReputationConfig};
use sekisho_policy::sender::{ReputationHit, ReputationRecord, SenderFinding};

pub use domains::{MessageDomains, link_domains};
pub use query::{client_name, domain_name};

/// Where a listed name was found in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The connecting client's address.
    Client,
    /// The envelope sender's domain.
    EnvelopeSender,
    /// The header From's domain.
    From,
    /// A Reply-To domain.
    ReplyTo,
    /// A link in the text or HTML body.
    Link,
}

impl Source {
    /// The word kept in the record ("client", "envelope sender", "From", "Reply-To", "link").
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Client => "client",
            Source::EnvelopeSender => "envelope sender",
            Source::From => "From",
            Source::ReplyTo => "Reply-To",
            Source::Link => "link",
        }
    }

    fn parse(s: &str) -> Source {
        match s {
            "client" => Source::Client,
            "envelope sender" => Source::EnvelopeSender,
            "From" => Source::From,
            "Reply-To" => Source::ReplyTo,
            _ => Source::Link,
        }
    }
}

/// One question to one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<'c> {
    /// The list's entry.
    pub list: &'c DnsList,
    /// The name to look up (A records): "2.0.0.127.zen.spamhaus.org".
    pub name: String,
    /// What is asked about: the client's address or a domain.
    pub listed: String,
    /// Where that came from.
    pub source: Source,
}

/// What DNS said to one [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The list's addresses for the name (empty: not listed, NXDOMAIN or no A records).
    Addresses(Vec<Ipv4Addr>),
    /// No answer in time, or a failure: counts nothing, noted in the record.
    Unanswered(String),
}

/// The questions for the client at `ip`, one per client list.
pub fn client_queries(config: &ReputationConfig, ip: IpAddr) -> Vec<Query<'_>> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    config
        .client_lists
        .iter()
        .map(|list| Query { list, name: client_name(ip, &list.zone), listed: ip.to_string(), source: Source::Client })
        .collect()
}

/// The questions for `domains` (each with where it came from), one per domain and domain list.
pub fn domain_queries<'c>(config: &'c ReputationConfig, domains: &[(String, Source)]) -> Vec<Query<'c>> {
    let mut out = Vec::new();
    for (domain, source) in domains {
        for list in config.domain_lists.iter() {
            out.push(Query { list, name: domain_name(domain, &list.zone), listed: domain.clone(), source: *source });
        }
    }
    out
}

/// The hits among `answered` and the lists that did not answer, with their score (no action
/// yet: see [`decide`]).
pub fn tally(answered: &[(Query<'_>, Answer)]) -> ReputationRecord {
    let mut record = ReputationRecord::default();
    for (q, answer) in answered {
        match answer {
            Answer::Addresses(addresses) => {
                let codes: Vec<String> =
                    addresses.iter().filter(|a| q.list.counts(**a)).map(|a| a.to_string()).collect();
                if !codes.is_empty() {
                    record.score = record.score.saturating_add(q.list.weight);
                    record.hits.push(ReputationHit {
                        list: q.list.zone.clone(),
                        listed: q.listed.clone(),
                        source: q.source.as_str().to_string(),
                        code: codes.join(", "),
                        weight: q.list.weight,
                    });
                }
            }
            Answer::Unanswered(why) => record.unanswered.push(format!("{} ({}): {why}", q.list.zone, q.listed)),
        }
    }
    record
}

/// What a score does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Below `tag_score`: the hits stay in the record only.
    Nothing,
    /// The hits are findings the recipient is shown.
    Tag,
    /// The message is held in the quarantine.
    Quarantine,
    /// The message is refused.
    Reject,
}

/// The action for `score` under `config`'s thresholds (the highest reached).
pub fn decide(config: &ReputationConfig, score: i32) -> Action {
    if config.reject_score.is_some_and(|r| score >= r) {
        Action::Reject
    } else if config.quarantine_score.is_some_and(|q| score >= q) {
        Action::Quarantine
    } else if score >= config.tag_score {
        Action::Tag
    } else {
        Action::Nothing
    }
}

/// `record` with its action decided and written ("quarantine: score 3 reaches
/// [reputation] quarantine_score 3 (zen.example, dbl.example)"), and the action.
pub fn evaluate(config: &ReputationConfig, mut record: ReputationRecord) -> (ReputationRecord, Action) {
    let action = decide(config, record.score);
    let (word, key, threshold) = match action {
        Action::Nothing => return (record, action),
        Action::Tag => ("tag", "tag_score", config.tag_score),
        Action::Quarantine => ("quarantine", "quarantine_score", config.quarantine_score.unwrap_or_default()),
        Action::Reject => ("reject", "reject_score", config.reject_score.unwrap_or_default()),
    };
    record.action =
        format!("{word}: score {} reaches [reputation] {key} {threshold} ({})", record.score, listed_on(&record.hits));
    (record, action)
}

/// The lists with a positive weight that named something, each once, in order.
fn listed_on(hits: &[ReputationHit]) -> String {
    let mut lists: Vec<&str> = Vec::new();
    for h in hits.iter().filter(|h| h.weight > 0) {
        if !lists.contains(&h.list.as_str()) {
            lists.push(&h.list);
        }
    }
    lists.join(", ")
}

/// The 550 text at RCPT when the client's lists alone reach `reject_score`, Postfix's words.
pub fn client_refusal(ip: IpAddr, record: &ReputationRecord) -> String {
    format!("Service unavailable; client [{ip}] blocked using {}", listed_on(&record.hits))
}

/// The 550 text after DATA when the whole message's score reaches `reject_score`.
pub fn message_refusal(record: &ReputationRecord) -> String {
    format!("Message refused: listed on {} (reputation score {})", listed_on(&record.hits), record.score)
}

/// The findings for `record` once its action is at least [`Action::Tag`]: one per hit of a
/// list with a positive weight (an allow list's hit is no warning).
pub fn findings(record: &ReputationRecord, action: Action) -> Vec<SenderFinding> {
    if action < Action::Tag {
        return Vec::new();
    }
    record.hits.iter().filter(|h| h.weight > 0).map(|h| sentences::hit(h, Source::parse(&h.source))).collect()
}

#[cfg(test)]
mod tests;
