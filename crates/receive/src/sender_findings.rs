//! Who sent an MX message, in words a person reads, before the 250: the header block and the
//! envelope go to the pure `sekisho_findings::findings`, with what it needs gathered here —
//! the protected domains (local ones, `[findings] partners`, and the domains the organisation
//! has written to, read from the store at most every `learned_refresh`), the internal names
//! (`[findings] internal_names`, read again when the file changes), the history's answer
//! for the From address (one indexed lookup per message) and the client's country
//! (`[findings] country_database`, with `countries` and `unusual_country`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sekisho_config::Config;
use sekisho_config::UnusualCountry;
use sekisho_directory::Directory;
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
    /// The internal names and where they come from.
    names: Mutex<Option<NamesState>>,
}

/// The internal names' sources as last read, and the names made of them.
#[derive(Default)]
struct NamesState {
    /// When the file was last looked at, whether it was ever read, and its modification time
    /// and size then.
    file_checked: Option<Instant>,
    file_read: bool,
    stamp: Option<(SystemTime, u64)>,
    file_text: String,
    /// When the directory was last asked, and what it said.
    directory_read: Option<Instant>,
    directory_names: Vec<String>,
    combined: Arc<InternalNames>,
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
        directory: Option<&Directory>,
    ) -> Found {
        let policy = &config.findings;
        let header = SenderHeader::parse(header);
        let protected = self.protected(config, store).await;
        let names = self.names(config, directory).await;
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

    /// The internal names: the file's, read again when its modification time or size changed
    /// (looked at every 2 s), and the directory's, read at most every `learned_refresh`.
    async fn names(&self, config: &Config, directory: Option<&Directory>) -> Arc<InternalNames> {
        let policy = &config.findings;
        let from_directory = directory.filter(|_| policy.ldap_names);
        if policy.internal_names.is_none() && from_directory.is_none() {
            return Arc::new(InternalNames::default());
        }
        let mut state = self.names.lock().await;
        let st = state.get_or_insert_with(NamesState::default);
        let mut changed = false;
        if let Some(path) = &policy.internal_names
            && st.file_checked.is_none_or(|t| t.elapsed() >= NAMES_CHECK)
        {
            st.file_checked = Some(Instant::now());
            let stamp = tokio::fs::metadata(path).await.ok().and_then(|m| Some((m.modified().ok()?, m.len())));
            if !st.file_read || stamp != st.stamp {
                match tokio::fs::read_to_string(path).await {
                    Ok(text) => (st.file_text, st.stamp, st.file_read, changed) = (text, stamp, true, true),
                    // An unreadable file keeps the names last read.
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read [findings] internal_names")
                    }
                }
            }
        }
        if let Some(directory) = from_directory
            && st.directory_read.is_none_or(|t| t.elapsed() >= policy.learned_refresh.0)
        {
            st.directory_read = Some(Instant::now());
            let attrs: Vec<&str> = config.ldap.name_attributes.iter().map(String::as_str).collect();
            match directory.search(&config.ldap.names_filter, &attrs).await {
                Ok(entries) => {
                    st.directory_names = entries.into_iter().flat_map(|e| e.into_values().flatten()).collect();
                    changed = true;
                }
                // A directory that does not answer keeps the names last read.
                Err(e) => tracing::warn!(error = %e, "cannot read the internal names from the directory"),
            }
        }
        if changed {
            let mut names = InternalNames::parse(&st.file_text);
            names.extend(st.directory_names.iter().map(String::as_str));
            st.combined = Arc::new(names);
        }
        st.combined.clone()
    }
}
