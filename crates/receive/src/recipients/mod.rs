//! Recipient verification for the local domains, asked by the session at RCPT on the MX
//! listeners (`Next::VerifyRecipient`). Per `[[recipients.domains]]` rule: a list file, the
//! directory (`[ldap]`), then a callout to the internal server. The session turns the verdict into 250, 550 5.1.1, 450 4.1.1
//! or 451 4.4.3 and counts the unknown ones (`[recipients] max_unknown`).
//!
//! Timing: a list answers known and unknown addresses alike at once; a callout answer is
//! remembered for each (`callout_positive_ttl`, `callout_negative_ttl`), and an address not
//! remembered takes one probe whether it exists or not.

mod cache;
mod callout;
mod list;
mod throttle;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sekisho_config::{Config, NextHop};
use sekisho_directory::Directory;
use sekisho_smtp::RecipientVerdict;
use sekisho_smtp::address;

use callout::Callout;
use list::ListFile;
use throttle::UnknownCounter;

/// One `[[recipients.domains]]` rule, ready to answer.
#[derive(Debug)]
struct Rule {
    domains: Vec<String>,
    list: Option<ListFile>,
    /// Ask the directory.
    ldap: bool,
    callout: Option<Arc<Callout>>,
}

/// The recipient sources of every verified domain.
#[derive(Debug)]
pub(crate) struct Recipients {
    rules: Vec<Rule>,
    /// Unknown recipients per client address (`max_unknown_per_client`, `unknown_window`).
    unknown: Mutex<UnknownCounter>,
    /// The directory (`[ldap]`), when configured.
    directory: Option<Arc<Directory>>,
    /// `[ldap] recipient_filter`.
    recipient_filter: String,
    /// `[reports] receive`: sekisho itself takes mail for these addresses.
    report_addresses: Vec<String>,
}

impl Recipients {
    /// The sources `config` names. The configuration was validated: a callout target that does
    /// not parse is left out (its domain then answers from its list alone, or accepts all).
    pub(crate) fn new(config: &Config, directory: Option<Arc<Directory>>) -> Recipients {
        let c = &config.recipients;
        let helo = config.delivery.helo_name.clone().unwrap_or_else(|| config.hostname.clone());
        let rules = c
            .domains
            .iter()
            .map(|r| Rule {
                domains: r.domains.clone(),
                list: r.list.as_deref().map(|p| ListFile::new(p, c.list_check_interval.0)),
                ldap: r.ldap,
                callout: r
                    .callout_target(config.delivery.next_hop.as_deref())
                    .and_then(|t| NextHop::parse(&t).ok())
                    .map(|hop| Arc::new(Callout::new(&hop, config.delivery.port, &helo, c))),
            })
            .collect();
        let unknown = Mutex::new(UnknownCounter::new(c.max_unknown_per_client, c.unknown_window.0));
        Recipients {
            rules,
            unknown,
            directory,
            recipient_filter: config.ldap.recipient_filter.clone(),
            report_addresses: config.reports.receive.clone(),
        }
    }

    /// True when some domain is verified.
    pub(crate) fn active(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The verdict on `recipient` (an address the relay rules accepted for a local domain) for
    /// a client at `client`; its unknown recipients are counted.
    pub(crate) async fn verify(&self, client: IpAddr, recipient: &str) -> RecipientVerdict {
        if self.counter().over(client, Instant::now()) {
            return RecipientVerdict::Throttled;
        }
        let verdict = self.lookup(recipient).await;
        if verdict == RecipientVerdict::Unknown {
            self.counter().record(client, Instant::now());
        }
        verdict
    }

    fn counter(&self) -> std::sync::MutexGuard<'_, UnknownCounter> {
        self.unknown.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn lookup(&self, recipient: &str) -> RecipientVerdict {
        let Some(mailbox) = address::split(recipient) else { return RecipientVerdict::Known };
        // RFC 5321 §4.5.1: every domain has a postmaster.
        if mailbox.local.eq_ignore_ascii_case("postmaster")
            || self.report_addresses.iter().any(|a| a.eq_ignore_ascii_case(recipient))
        {
            return RecipientVerdict::Known;
        }
        let Some(rule) = self.rules.iter().find(|r| sekisho_config::domain_matches(&r.domains, mailbox.domain)) else {
            return RecipientVerdict::Known;
        };
        // Each source in turn: one that knows the address accepts it; the callout, if any, has
        // the last word; otherwise one source that could not answer makes it temporary.
        let (mut unknown, mut unanswered) = (false, false);
        match rule.list.as_ref().map(|l| l.lookup(mailbox.local, mailbox.domain)) {
            Some(Some(true)) => return RecipientVerdict::Known,
            Some(Some(false)) => unknown = true,
            Some(None) => unanswered = true,
            None => {}
        }
        if let (true, Some(directory)) = (rule.ldap, &self.directory) {
            let filter = sekisho_directory::filter(&self.recipient_filter, "address", recipient);
            match directory.search(&filter, &["1.1"]).await {
                Ok(entries) if !entries.is_empty() => return RecipientVerdict::Known,
                Ok(_) => unknown = true,
                Err(e) => {
                    tracing::warn!(address = %recipient, error = %e, "recipient lookup in the directory failed");
                    unanswered = true;
                }
            }
        }
        match &rule.callout {
            Some(callout) => callout.verify(recipient).await,
            None if unanswered => RecipientVerdict::Unverified,
            None if unknown => RecipientVerdict::Unknown,
            None => RecipientVerdict::Known,
        }
    }
}
