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

#[cfg(test)]
mod tests {
    use sekisho_store::{Access, LinkFile, LinkMessage, NewLink, SqliteStore};

    use super::*;

    async fn store_with_two_links(dir: &std::path::Path) -> SqliteStore {
        let s = SqliteStore::open(&dir.join("queue.db")).await.unwrap();
        let file = LinkFile {
            idx: 0,
            file_id: "ab".repeat(16),
            key: "00".repeat(32),
            name: "a.pdf".into(),
            content_type: "application/pdf".into(),
            size: 10,
            sha256: "cd".repeat(32),
            purged: false,
        };
        let message = LinkMessage {
            message_id: "M1".into(),
            sender: "alice@example.jp".into(),
            subject: "quote".into(),
            header_from: String::new(),
            created_at: 100,
            files: vec![file],
            original: None,
            password_hash: None,
        };
        s.put_link_message(&message).await.unwrap();
        for (idx, recipient) in [(0, "bob@example.com"), (1, "carol@example.org")] {
            let link = NewLink {
                message_id: "M1".into(),
                idx,
                recipient: recipient.into(),
                token_hash: format!("{idx:064}"),
                access: Access::Otp,
                created_at: 100,
                expires_at: 10_000,
                max_downloads: 3,
                secret_hash: None,
                hint: None,
            };
            s.put_link(&link).await.unwrap();
        }
        s
    }

    fn actor() -> Actor {
        Actor { client: "cli".into(), user_agent: String::new(), by: "by root".into() }
    }

    #[tokio::test]
    async fn each_action_changes_the_links_it_names_and_says_so_in_the_audit_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_two_links(dir.path()).await;
        let tz = TimeZone::utc();
        let actions = LinkActions { store: &s, time_zone: &tz };

        let acted = actions.revoke("M1", Which::Recipient("<Bob@Example.com>"), &actor(), 200).await.unwrap();
        assert_eq!(acted.changed, 1);
        assert!(s.link("M1", 0).await.unwrap().unwrap().revoked);
        assert!(!s.link("M1", 1).await.unwrap().unwrap().revoked, "only bob's");
        let again = actions.revoke("M1", Which::Index(0), &actor(), 201).await.unwrap();
        assert_eq!(again.changed, 0, "already revoked: nothing changes, nothing is recorded");

        let acted = actions.extend("M1", Which::All, 50_000, &actor(), 202).await.unwrap();
        assert_eq!((acted.changed, acted.links.len()), (2, 2));
        assert_eq!(s.link("M1", 1).await.unwrap().unwrap().expires_at, 50_000);
        assert!(s.link("M1", 0).await.unwrap().unwrap().revoked, "a revoked link stays revoked");

        let events = s.events("M1").await.unwrap();
        let seen: Vec<(LinkEvent, Option<i64>)> = events.iter().map(|e| (e.event, e.idx)).collect();
        assert_eq!(seen, [(LinkEvent::Revoked, Some(0)), (LinkEvent::Extended, None)]);
        assert_eq!(events[0].detail, "Bob@Example.com, by root");
        assert!(events[1].detail.starts_with("every recipient until 1970-01-01 13:53"), "{}", events[1].detail);
        assert_eq!(events[1].client, "cli");
    }

    #[tokio::test]
    async fn unknown_messages_and_recipients_and_purged_files_are_refused_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with_two_links(dir.path()).await;
        let tz = TimeZone::utc();
        let actions = LinkActions { store: &s, time_zone: &tz };
        let e = actions.unlock("NOPE", Which::All, &actor(), 1).await.unwrap_err();
        assert_eq!(e.to_string(), "no links for message NOPE");
        let e = actions.revoke("M1", Which::Recipient("dave@example.net"), &actor(), 1).await.unwrap_err();
        assert_eq!(e.to_string(), "message M1 has no link for dave@example.net");
        s.mark_purged("M1", 0).await.unwrap();
        let e = actions.extend("M1", Which::All, 99, &actor(), 1).await.unwrap_err();
        assert!(matches!(e, LinkError::Purged(_)), "{e}");
        assert!(s.events("M1").await.unwrap().is_empty(), "nothing refused is recorded");
    }
}
