//! Messages a mis-send rule holds for an approver (`require_approval`): the request is written
//! with the message (its recipients start `held`, so a pending approval is as durable as any
//! queued message), and the decision — an approver's, an operator's or the timeout's — is
//! taken here, once: recorded (who, when, why), acted on (released or cancelled) and written
//! to the message's audit log. The CLI's `sekisho approvals` calls it.

use serde::Serialize;

use crate::control::QueueControl;
use crate::error::StoreError;
use crate::links::{LinkEvent, PortalEvent};

/// One message's approval, pending or decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub message_id: String,
    pub sender: String,
    /// Unix seconds.
    pub received_at: i64,
    pub recipients: Vec<String>,
    /// The rule that asked for it.
    pub rule: String,
    /// Who may decide.
    pub approvers: Vec<String>,
    /// When the timeout decides (Unix seconds).
    pub deadline: i64,
    /// True: the timeout releases the message; false: it rejects it.
    pub release_on_timeout: bool,
    /// The decision, once taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decided>,
}

/// A decision: approved or rejected, by whom, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decided {
    pub approved: bool,
    /// "approver:ADDRESS", "cli:LOGIN" or "timeout".
    pub by: String,
    /// Unix seconds.
    pub at: i64,
    pub comment: String,
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Delivery begins at once.
    Approve,
    /// Never delivered.
    Reject,
}

/// Who decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who<'a> {
    /// An approver, by address: only one the rule names may decide.
    Approver(&'a str),
    /// An operator on the command line (login name): may decide any pending approval.
    Operator(&'a str),
}

/// Who decides and from where, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approver<'a> {
    pub who: Who<'a>,
    /// The client's address ("local" on the command line).
    pub client: &'a str,
    /// The browser's user agent, or the tool's name.
    pub user_agent: &'a str,
}

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No such message, or its approval was decided already, or the sender cancelled it.
    #[error("no message {0} awaits approval (see `sekisho approvals list`)")]
    NotAwaiting(String),
    /// The address is not among the rule's approvers.
    #[error("{who} is not an approver of {id}")]
    NotApprover { id: String, who: String },
    /// A rejection without a reason.
    #[error("a rejection needs a comment: the sender is told why")]
    CommentNeeded,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueueControl {
    /// Approves or rejects message `id` at `now` with `comment`: recorded, acted on and
    /// written to its audit log, once. Of two deciding at once, the second gets
    /// [`ApprovalError::NotAwaiting`].
    pub async fn decide_approval(
        &self,
        id: &str,
        verdict: Verdict,
        approver: &Approver<'_>,
        comment: &str,
        now: i64,
    ) -> Result<Decided, ApprovalError> {
        let pending = self.store.approval(id).await?.filter(|a| a.decision.is_none());
        let Some(pending) = pending else { return Err(ApprovalError::NotAwaiting(id.to_string())) };
        let by = match approver.who {
            Who::Approver(address) => {
                if !pending.approvers.iter().any(|a| a.eq_ignore_ascii_case(address)) {
                    return Err(ApprovalError::NotApprover { id: id.to_string(), who: address.to_string() });
                }
                format!("approver:{}", address.to_ascii_lowercase())
            }
            Who::Operator(login) => format!("cli:{login}"),
        };
        let comment = comment.trim();
        if verdict == Verdict::Reject && comment.is_empty() {
            return Err(ApprovalError::CommentNeeded);
        }
        let d = Decided { approved: verdict == Verdict::Approve, by, at: now, comment: comment.to_string() };
        if !self.store.decide_approval(id, &d).await? {
            return Err(ApprovalError::NotAwaiting(id.to_string()));
        }
        let event = if d.approved { LinkEvent::ApprovalApproved } else { LinkEvent::ApprovalRejected };
        self.audit(id, event, approver.client, approver.user_agent, &d).await?;
        Ok(d)
    }

    /// Decides every pending approval whose timeout has passed at `now`, as its rule says
    /// (released or rejected, by "timeout"); returns the messages decided.
    pub async fn expire_approvals(&self, now: i64) -> Result<Vec<(String, Decided)>, StoreError> {
        let mut done = Vec::new();
        for a in self.store.approvals_due(now).await? {
            let d = Decided {
                approved: a.release_on_timeout,
                by: "timeout".into(),
                at: now,
                comment: format!(
                    "nobody decided by the deadline: {} as rule {} says",
                    if a.release_on_timeout { "released" } else { "rejected" },
                    a.rule
                ),
            };
            if self.store.decide_approval(&a.message_id, &d).await? {
                self.audit(&a.message_id, LinkEvent::ApprovalTimedOut, "local", "sekisho", &d).await?;
                done.push((a.message_id, d));
            }
        }
        Ok(done)
    }

    async fn audit(&self, id: &str, event: LinkEvent, client: &str, ua: &str, d: &Decided) -> Result<(), StoreError> {
        let what = if d.approved { "approved" } else { "rejected" };
        tracing::info!(queue_id = %id, by = %d.by, event = event.as_str(), "approval decided");
        let detail = if d.comment.is_empty() {
            format!("{what} by {}", d.by)
        } else {
            format!("{what} by {}: {}", d.by, d.comment)
        };
        self.store
            .record_event(&PortalEvent {
                at: d.at,
                message_id: id.to_string(),
                idx: None,
                event,
                client: client.to_string(),
                user_agent: ua.to_string(),
                detail,
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::links::LinkStore;
    use crate::model::{NewMessage, RecipientState, sample_message};
    use crate::queue_id::QueueId;
    use crate::sqlite::SqliteStore;
    use crate::store::{MessageStore, QueueWrites};
    use crate::{ApprovalRequest, RulesRecord};

    const BOSS: Approver<'static> =
        Approver { who: Who::Approver("boss@example.jp"), client: "10.0.0.9", user_agent: "ua" };

    /// A message received at 1000 that rule "contract" holds for boss@example.jp until 1000 +
    /// one hour.
    fn awaiting(release_on_timeout: bool) -> NewMessage {
        let mut m = sample_message(&QueueId::generate(), 10, 2);
        m.held = true;
        m.info.rules = Some(RulesRecord {
            approval: Some(ApprovalRequest {
                rule: "contract".into(),
                approvers: vec!["boss@example.jp".into(), "deputy@example.jp".into()],
                deadline: 4600,
                release_on_timeout,
            }),
            ..Default::default()
        });
        m
    }

    async fn store() -> (tempfile::TempDir, Arc<SqliteStore>, QueueControl) {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(SqliteStore::open(&dir.path().join("q.db")).await.unwrap());
        let control = QueueControl::new(s.clone(), dir.path());
        (dir, s, control)
    }

    fn states(d: &crate::MessageDetail) -> Vec<RecipientState> {
        d.recipients.iter().map(|r| r.state).collect()
    }

    #[tokio::test]
    async fn a_rejected_message_is_never_delivered_and_its_trace_says_who_when_and_why() {
        let (_dir, s, control) = store().await;
        let m = awaiting(false);
        let id = m.info.id.clone();
        s.insert_messages(&[m]).await.unwrap();
        let pending = s.awaiting_approval(Some("A@EXAMPLE.COM")).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(s.awaiting_approval_of("Deputy@Example.JP").await.unwrap(), pending, "an approver's list");
        assert!(s.awaiting_approval_of("a@example.com").await.unwrap().is_empty(), "the sender approves nothing");
        assert_eq!((pending[0].rule.as_str(), pending[0].deadline), ("contract", 4600));
        assert_eq!(pending[0].recipients, ["r0@example.jp", "r1@example.jp"]);
        assert!(s.claim_due(i64::MAX, 10).await.unwrap().is_empty(), "nothing leaves while it waits");

        let e = control.decide_approval(&id, Verdict::Reject, &BOSS, "  ", 2000).await.unwrap_err();
        assert!(matches!(e, ApprovalError::CommentNeeded), "{e}");
        let intruder = Approver { who: Who::Approver("a@example.com"), ..BOSS };
        let e = control.decide_approval(&id, Verdict::Approve, &intruder, "", 2000).await.unwrap_err();
        assert_eq!(e.to_string(), format!("a@example.com is not an approver of {id}"));

        let d = control.decide_approval(&id, Verdict::Reject, &BOSS, "wrong customer", 2000).await.unwrap();
        assert_eq!((d.by.as_str(), d.at, d.approved), ("approver:boss@example.jp", 2000, false));
        let e = control.decide_approval(&id, Verdict::Approve, &BOSS, "", 2001).await.unwrap_err();
        assert_eq!(e.to_string(), format!("no message {id} awaits approval (see `sekisho approvals list`)"));

        assert!(s.claim_due(i64::MAX, 10).await.unwrap().is_empty(), "a rejected message is never claimed");
        let detail = s.message(&id).await.unwrap().unwrap();
        assert_eq!(states(&detail), [RecipientState::Cancelled; 2]);
        assert_eq!(detail.done_at, Some(2000));
        let decided = detail.approval.unwrap().decision.unwrap();
        assert_eq!(
            (decided.by.as_str(), decided.at, decided.comment.as_str()),
            ("approver:boss@example.jp", 2000, "wrong customer")
        );
        assert_eq!(detail.cancelled.unwrap().by, "approver:boss@example.jp");
        let events = s.events(&id).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, LinkEvent::ApprovalRejected);
        assert_eq!(events[0].detail, "rejected by approver:boss@example.jp: wrong customer");
        assert_eq!(events[0].client, "10.0.0.9");
        assert!(s.awaiting_approval(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_approved_message_is_due_at_once_and_an_operator_may_decide() {
        let (_dir, s, control) = store().await;
        let (a, b) = (awaiting(false), awaiting(false));
        s.insert_messages(&[a.clone(), b.clone()]).await.unwrap();
        let deputy = Approver { who: Who::Approver("Deputy@Example.jp"), ..BOSS };
        control.decide_approval(&a.info.id, Verdict::Approve, &deputy, "", 2000).await.unwrap();
        let claimed = s.claim_due(2000, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(claimed.iter().all(|c| c.message_id == a.info.id));
        let root = Approver { who: Who::Operator("root"), client: "local", user_agent: "sekisho-cli" };
        let d = control.decide_approval(&b.info.id, Verdict::Approve, &root, "checked by phone", 2100).await.unwrap();
        assert_eq!(d.by, "cli:root");
        assert_eq!(s.events(&b.info.id).await.unwrap()[0].event, LinkEvent::ApprovalApproved);
    }

    #[tokio::test]
    async fn the_timeout_decides_as_the_rule_says_and_not_a_second_earlier() {
        let (_dir, s, control) = store().await;
        let (rejects, releases) = (awaiting(false), awaiting(true));
        s.insert_messages(&[rejects.clone(), releases.clone()]).await.unwrap();
        assert!(control.expire_approvals(4599).await.unwrap().is_empty());
        assert!(s.claim_due(4599, 10).await.unwrap().is_empty());
        let done = control.expire_approvals(4600).await.unwrap();
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|(_, d)| d.by == "timeout" && d.at == 4600));
        let claimed = s.claim_due(4600, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(claimed.iter().all(|c| c.message_id == releases.info.id), "released on timeout");
        let detail = s.message(&rejects.info.id).await.unwrap().unwrap();
        assert_eq!(states(&detail), [RecipientState::Cancelled; 2], "rejected on timeout");
        assert_eq!(s.events(&rejects.info.id).await.unwrap()[0].event, LinkEvent::ApprovalTimedOut);
        assert!(control.expire_approvals(9999).await.unwrap().is_empty(), "decided once");
    }

    #[tokio::test]
    async fn a_message_its_sender_cancelled_can_no_longer_be_approved() {
        let (_dir, s, control) = store().await;
        let m = awaiting(true);
        s.insert_messages(std::slice::from_ref(&m)).await.unwrap();
        assert!(control.cancel(&m.info.id, "console:a@example.com", 1500).await.unwrap());
        let e = control.decide_approval(&m.info.id, Verdict::Approve, &BOSS, "", 2000).await.unwrap_err();
        assert!(matches!(e, ApprovalError::NotAwaiting(_)), "{e}");
        assert!(control.expire_approvals(9999).await.unwrap().is_empty());
        assert!(s.claim_due(i64::MAX, 10).await.unwrap().is_empty());
    }
}
