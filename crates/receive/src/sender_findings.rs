//! Who sent an MX message, in words a person reads, before the 250: the header block and the
//! envelope go to the pure `sekisho_findings::findings`, with what it needs gathered here —
//! the protected domains (local ones, `[findings] partners`, and the domains the organisation
//! has written to, read from the store at most every `learned_refresh`), the internal names
//! (`[findings] internal_names`, read again when the file changes), the history's answer
//! for the From address (one indexed lookup per message) and the client's country
//! (`[findings] country_database`, with `countries` and `unusual_country`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sekisho_config::Config;
use sekisho_config::UnusualCountry;
use sekisho_findings::{Contact, Countries, Country, Facts, InternalNames, SenderHeader, findings};
use sekisho_lookalike::{Protected, Why};
use sekisho_policy::sender::SenderFinding;
use sekisho_store::MessageStore;
use tokio::sync::Mutex;

/// How often the internal names' file is looked at for a change.
const NAMES_CHECK: Duration = Duration::from_secs(2);

/// What the checks keep between messages.
#[derive(Default)]
pub(crate) struct SenderChecks {
    /// `[findings] country_database`, read at start.
    countries: Option<crate::country::CountryDb>,
    /// The protected domains and when they were built.
    protected: Mutex<Option<(Instant, Arc<Protected>)>>,
    /// The internal names, when the file was last looked at, and its modification time and
    /// size then.
    names: Mutex<Option<NamesFile>>,
}

struct NamesFile {
    checked: Instant,
    stamp: Option<(SystemTime, u64)>,
    names: Arc<InternalNames>,
}

/// The findings about one message, and whether the policy holds it.
pub(crate) struct Found {
    /// Most serious first.
    pub findings: Vec<SenderFinding>,
    /// Why the message is held for an administrator (`unusual_country = "hold"`), if it is.
    pub hold: Option<String>,
}

impl SenderChecks {
    /// The checks for `config`, its country database read.
    pub(crate) fn new(config: &Config) -> Result<SenderChecks, crate::ReceiveError> {
        let countries = match &config.findings.country_database {
            Some(path) if config.findings.enabled => Some(crate::country::CountryDb::open(path)?),
            _ => None,
        };
        Ok(SenderChecks { countries, ..SenderChecks::default() })
    }

    /// The findings about the sender of a message from `envelope_sender` with `header` (its
    /// header block as received), sent by a client at `client`.
    pub(crate) async fn findings(
        &self,
        config: &Config,
        store: &dyn MessageStore,
        (envelope_sender, client): (&str, std::net::IpAddr),
        header: &[u8],
    ) -> Found {
        let policy = &config.findings;
        let header = SenderHeader::parse(header);
        let protected = self.protected(config, store).await;
        let names = self.names(policy.internal_names.as_ref()).await;
        let contact = match header.from.first() {
            Some(from) if policy.first_contact => match store.written_to(&from.address).await {
                Ok(w) => Some(Contact { address: w.address, domain: w.domain }),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read whether the organisation wrote to the sender before");
                    None
                }
            },
            _ => None,
        };
        let usual = Countries::new(policy.countries.iter().map(String::as_str));
        let country = self.countries.as_ref().and_then(|db| db.lookup(client)).map(|l| Country {
            usual: usual.usual(&l.code),
            code: l.code,
            name_en: l.name_en,
            name_ja: l.name_ja,
        });
        let facts = Facts {
            envelope_sender,
            header: &header,
            local_domains: &config.local_domains,
            internal_names: &names,
            protected: &protected,
            contact,
            country: country.as_ref(),
        };
        let hold = country.as_ref().filter(|c| !c.usual && policy.unusual_country == UnusualCountry::Hold).map(|c| {
            format!(
                "sent from {}, a country the organisation does not correspond with → hold (findings.unusual_country)",
                c.code
            )
        });
        Found { findings: findings(&facts), hold }
    }

    /// The protected domains, built again from the store when older than `learned_refresh`.
    async fn protected(&self, config: &Config, store: &dyn MessageStore) -> Arc<Protected> {
        let policy = &config.findings;
        let mut cached = self.protected.lock().await;
        if let Some((built, p)) = cached.as_ref()
            && built.elapsed() < policy.learned_refresh.0
        {
            return p.clone();
        }
        let learned = if policy.learn_domains {
            store.all_written_domains().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the domains the organisation writes to");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        let started = Instant::now();
        let (local, partners) = (config.local_domains.clone(), policy.partners.clone());
        // Tens of thousands of learned domains take a while: not on the runtime's threads.
        let built = tokio::task::spawn_blocking(move || {
            Protected::new(
                local
                    .iter()
                    .map(|d| (d.as_str(), Why::Local))
                    .chain(partners.iter().map(|d| (d.as_str(), Why::Partner)))
                    .chain(learned.iter().map(|d| (d.as_str(), Why::Corresponded))),
            )
        })
        .await;
        let p = Arc::new(built.unwrap_or_default());
        tracing::debug!(domains = p.len(), ms = started.elapsed().as_millis() as u64, "protected domains built");
        *cached = Some((Instant::now(), p.clone()));
        p
    }

    /// The internal names, read again when the file's modification time or size changed.
    async fn names(&self, path: Option<&PathBuf>) -> Arc<InternalNames> {
        let Some(path) = path else { return Arc::new(InternalNames::default()) };
        let mut cached = self.names.lock().await;
        if let Some(n) = cached.as_ref()
            && n.checked.elapsed() < NAMES_CHECK
        {
            return n.names.clone();
        }
        let stamp = tokio::fs::metadata(path).await.ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        if let Some(n) = cached.as_mut()
            && n.stamp == stamp
        {
            n.checked = Instant::now();
            return n.names.clone();
        }
        let names = match tokio::fs::read_to_string(path).await {
            Ok(text) => Arc::new(InternalNames::parse(&text)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read [findings] internal_names");
                // An unreadable file keeps the names last read.
                cached.as_ref().map(|n| n.names.clone()).unwrap_or_default()
            }
        };
        *cached = Some(NamesFile { checked: Instant::now(), stamp, names: names.clone() });
        names
    }
}
