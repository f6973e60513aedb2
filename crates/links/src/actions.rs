//! The actions on download links — revoke, extend, unlock — written once for the command line
//! and the sender console. Each records one audit-log line per link it changed, saying who
//! took it.

use sekisho_config::TimeZone;
use sekisho_store::{LinkEvent, LinkRecord, LinkStore, PortalEvent, StoreError};

/// Why an action on links could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The message has no links at all.
    #[error("no links for message {0}")]
    NoLinks(String),
    /// The message has links, none for this recipient.
    #[error("message {message_id} has no link for {recipient}")]
    NoSuchLink { message_id: String, recipient: String },
    /// The message's files are gone: a longer or new link would have nothing to download.
    #[error("the files of message {0} were purged: a link would have nothing to download")]
    Purged(String),
    /// The files could not be taken out of the message, or the variant not written.
    #[error("{0}")]
    Message(String),
    /// A notice template could not be read.
    #[error("{0}")]
    Template(String),
    /// A blocking task failed.
    #[error("an internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which links of a message an action is for.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// Every link of the message (recorded as one line without a recipient).
    All,
    /// The link of this recipient address (any case, with or without angle brackets).
    Recipient(&'a str),
    /// The link of the recipient at this position.
    Index(i64),
}

/// Who takes an action, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// "cli", or the client's address.
    pub client: String,
    pub user_agent: String,
    /// "by root", "by alice@example.jp in the console".
    pub by: String,
}

/// What an action touched.
#[derive(Debug, Clone)]
pub struct Acted {
    /// The links it was for (as they were before).
    pub links: Vec<LinkRecord>,
    /// How many changed.
    pub changed: u64,
}

/// The actions, over a link store; times in the audit log's sentences in `time_zone`.
pub struct LinkActions<'a> {
    pub store: &'a dyn LinkStore,
    pub time_zone: &'a TimeZone,
}

/// The links an action is for: positions (None: the whole message), the records, and how
/// the audit log names them.
struct Targets {
    idxs: Vec<Option<i64>>,
    links: Vec<LinkRecord>,
    what: String,
}

impl LinkActions<'_> {
    /// Revokes the links: they open nothing from now on.
    pub async fn revoke(
        &self,
        message_id: &str,
        which: Which<'_>,
        actor: &Actor,
        now: i64,
    ) -> Result<Acted, LinkError> {
        let t = self.targets(message_id, which).await?;
        let mut changed = 0;
        for idx in &t.idxs {
            changed += self.store.revoke_links(message_id, *idx).await?;
        }
        self.record(message_id, &t, changed, LinkEvent::Revoked, "", actor, now).await
    }

    /// Makes the links expire at `expires_at` (revoked ones stay revoked).
    pub async fn extend(
        &self,
        message_id: &str,
        which: Which<'_>,
        expires_at: i64,
        actor: &Actor,
        now: i64,
    ) -> Result<Acted, LinkError> {
        let t = self.targets(message_id, which).await?;
        if let Some(m) = self.store.link_message(message_id).await?
            && m.files.iter().any(|f| f.purged)
        {
            return Err(LinkError::Purged(message_id.to_string()));
        }
        let mut changed = 0;
        for idx in &t.idxs {
            changed += self.store.set_link_expiry(message_id, *idx, expires_at).await?;
        }
        let until = format!(" until {}", crate::readable_time(expires_at, self.time_zone));
        self.record(message_id, &t, changed, LinkEvent::Extended, &until, actor, now).await
    }

    /// Clears the wrong-try count of the links, so a locked one opens again.
    pub async fn unlock(
        &self,
        message_id: &str,
        which: Which<'_>,
        actor: &Actor,
        now: i64,
    ) -> Result<Acted, LinkError> {
        let t = self.targets(message_id, which).await?;
        let mut changed = 0;
        for link in &t.links {
            changed += u64::from(self.store.unlock_link(message_id, link.idx).await?);
        }
        let t = Targets { idxs: t.links.iter().map(|l| Some(l.idx)).collect(), ..t };
        self.record(message_id, &t, changed, LinkEvent::Unlocked, "", actor, now).await
    }

    /// Records `event` on the message's audit log, one line per link acted on.
    pub async fn note(
        &self,
        message_id: &str,
        idx: Option<i64>,
        event: LinkEvent,
        detail: String,
        actor: &Actor,
        now: i64,
    ) -> Result<(), StoreError> {
        let e = PortalEvent {
            at: now,
            message_id: message_id.to_string(),
            idx,
            event,
            client: actor.client.clone(),
            user_agent: actor.user_agent.clone(),
            detail,
        };
        self.store.record_event(&e).await
    }

    async fn targets(&self, message_id: &str, which: Which<'_>) -> Result<Targets, LinkError> {
        let links = self.store.links(Some(message_id)).await?;
        if links.is_empty() {
            return Err(LinkError::NoLinks(message_id.to_string()));
        }
        let (links, what): (Vec<LinkRecord>, String) = match which {
            Which::All => return Ok(Targets { idxs: vec![None], links, what: "every recipient".into() }),
            Which::Recipient(r) => {
                let wanted = r.trim().trim_start_matches('<').trim_end_matches('>');
                (links.into_iter().filter(|l| l.recipient.eq_ignore_ascii_case(wanted)).collect(), wanted.to_string())
            }
            Which::Index(i) => {
                let found: Vec<LinkRecord> = links.into_iter().filter(|l| l.idx == i).collect();
                let what = found.first().map_or_else(|| format!("#{i}"), |l| l.recipient.clone());
                (found, what)
            }
        };
        if links.is_empty() {
            return Err(LinkError::NoSuchLink { message_id: message_id.to_string(), recipient: what });
        }
        Ok(Targets { idxs: links.iter().map(|l| Some(l.idx)).collect(), links, what })
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        message_id: &str,
        t: &Targets,
        changed: u64,
        event: LinkEvent,
        more: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Acted, LinkError> {
        if changed > 0 {
            let detail = format!("{}{more}, {}", t.what, actor.by);
            for idx in &t.idxs {
                self.note(message_id, *idx, event, detail.clone(), actor, now).await?;
            }
        }
        Ok(Acted { links: t.links.clone(), changed })
    }
}
