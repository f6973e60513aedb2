//! Before a connection is taken: what a delivery will likely need that no session decides —
//! the message read and walked (for a ZIP or a link), and its files sealed into the file store
//! (for a link) — is made now, so no SMTP session waits for it. What depends on the session
//! stays in it: whether a recipient gets a link at all, and then that recipient's own link
//! (a token row and the notice spliced in; measured in BENCHMARKS.md).

use sekisho_config::{InlineFormat, InlineMin, SmartHostAttachments};
use sekisho_policy::Carriage;
use sekisho_store::{MessageInfo, RecipientRecord};

use super::{Inner, now};
use crate::client::session::Target;
use crate::tls::Assurance;
use crate::variants::{Files, SmartHost};

/// What is known before the session of one recipient's chances of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outlook {
    pub inline_min: InlineMin,
    /// A password-protected file under `encrypted_attachments = "link"`.
    pub encrypted: bool,
    /// What the last session to the first target proved (None: none within the probe TTL).
    pub last_session: Option<Assurance>,
    /// Through the smart host: its mode, and what the probe found of the recipient's MX hosts
    /// (None: not probed).
    pub beyond: Option<(SmartHostAttachments, Option<Assurance>)>,
}

/// Whether the recipient will likely get a link, by the rule delivery applies
/// (`InlineMin::carriage`): certainly when even the strongest session would give one (an
/// encrypted file, `never`) or the smart-host decision already does; likely when the last
/// session to the same host would. A pure function.
pub(crate) fn link_likely(o: Outlook) -> bool {
    let link = |a: Assurance| o.inline_min.carriage(a, false, o.encrypted) == Carriage::Link;
    link(Assurance::Dane)
        || o.last_session.is_some_and(link)
        || match o.beyond {
            Some((SmartHostAttachments::Link, _)) => true,
            // As `beyond_smart_host`: with `inline_min = "none"` the hop alone decides.
            Some((SmartHostAttachments::Probe, probe)) => o.inline_min != InlineMin::None && probe.is_none_or(link),
            None => false,
        }
}

impl Inner {
    /// Reads and walks the message when a recipient gets a ZIP or likely a link, and seals its
    /// files when a link is likely. Failures are left to the session, which meets them again
    /// and holds back only the recipients concerned.
    pub(super) async fn prepare(
        &self,
        info: &MessageInfo,
        files: &Files,
        rcpts: &[&RecipientRecord],
        targets: &[Target],
        smart_host: Option<&SmartHost>,
    ) {
        if !files.may_have() {
            return;
        }
        let last_session = targets.first().and_then(|t| self.probes.recent(t, now()));
        let (mut walk, mut seal) = (false, false);
        for r in rcpts {
            let domain = r.address.rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase();
            let policy = self.config.attachments_for(&domain);
            let beyond = smart_host
                .filter(|_| !self.config.is_local(&domain))
                .map(|s| (s.mode, s.probes.get(&domain).map(|p| p.assurance)));
            // A rule's force_link makes a link certain, as `never` does.
            let inline_min = if files.forced().is_some() { InlineMin::Never } else { policy.inline_min };
            let outlook = Outlook { inline_min, encrypted: files.encrypted().is_some(), last_session, beyond };
            // `link_above`, or a refusal for size last time, makes a link certain whatever the
            // session.
            let too_large = policy.link_above.is_some_and(|limit| files.size() > limit)
                || crate::decide::refused_for_size(r.last_reply.as_deref());
            let link = too_large || link_likely(outlook);
            seal |= link;
            walk |= link || policy.inline_format == InlineFormat::Zip;
        }
        if !walk {
            return;
        }
        let started = std::time::Instant::now();
        let walked = files.prepared().await;
        let Ok(Some(prepared)) = walked.as_ref() else { return };
        if seal && let Err(e) = self.links.keep(info, prepared).await {
            tracing::warn!(queue_id = %info.id, error = %e, "cannot keep the files before delivery; trying in the session");
            return;
        }
        tracing::debug!(queue_id = %info.id, seal, elapsed_ms = started.elapsed().as_millis() as u64, "prepared before the connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlook(inline_min: InlineMin) -> Outlook {
        Outlook { inline_min, encrypted: false, last_session: None, beyond: None }
    }

    #[test]
    fn a_link_is_foreseen_only_where_the_session_cannot_change_it_or_last_time_said_so() {
        let min = InlineMin::Authenticated;
        assert!(!link_likely(outlook(min)), "nothing known: the session decides");
        assert!(link_likely(Outlook { encrypted: true, ..outlook(InlineMin::None) }));
        assert!(link_likely(outlook(InlineMin::Never)));
        assert!(link_likely(Outlook { last_session: Some(Assurance::Encrypted), ..outlook(min) }));
        assert!(!link_likely(Outlook { last_session: Some(Assurance::Dane), ..outlook(min) }));
        assert!(!link_likely(Outlook { last_session: Some(Assurance::None), ..outlook(InlineMin::None) }));
        let beyond = |mode, probe| Outlook { beyond: Some((mode, probe)), ..outlook(min) };
        assert!(link_likely(beyond(SmartHostAttachments::Link, Some(Assurance::Dane))));
        assert!(link_likely(beyond(SmartHostAttachments::Probe, None)), "not probed: a link");
        assert!(link_likely(beyond(SmartHostAttachments::Probe, Some(Assurance::Encrypted))));
        assert!(!link_likely(beyond(SmartHostAttachments::Probe, Some(Assurance::Authenticated))));
    }
}
