//! Delivery status notifications (RFC 3464) to senders: queued through sekisho's own queue from
//! what the recorded outcomes call for, so a crash re-sends one at worst, never loses one.

use sekisho_store::{MessageInfo, NoticeKind, QueueId, RecipientRecord};

use super::{Inner, now};
use crate::dsn::{self, Dsn, DsnKind, DsnRecipient};

/// Bodies up to this size are returned whole in a failure notice when RET is not given.
const RETURN_FULL_UP_TO: u64 = 50_000;

impl Inner {
    pub(super) async fn sweep_notices(&self) {
        match self.queue.stores().messages.messages_with_notices().await {
            Ok(ids) => {
                for id in ids {
                    self.send_notices(&id).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read pending notifications"),
        }
    }

    /// Queues the notifications a message's recipients wait for, then marks the message done
    /// when nothing is left to do for it.
    pub(super) async fn send_notices(&self, id: &str) {
        let detail = match self.queue.stores().messages.message(id).await {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(queue_id = id, error = %e, "cannot read message");
                return;
            }
        };
        for kind in [NoticeKind::Failed, NoticeKind::Delayed, NoticeKind::Relayed] {
            let due: Vec<&RecipientRecord> =
                detail.recipients.iter().filter(|r| r.notice.as_ref().is_some_and(|n| n.kind == kind)).collect();
            let idxs: Vec<i64> = due.iter().map(|r| r.idx).collect();
            let list: Vec<DsnRecipient> = due
                .iter()
                .map(|r| DsnRecipient {
                    address: r.address.clone(),
                    orcpt: r.orcpt.clone(),
                    status: r.notice.as_ref().map_or(String::new(), |n| n.status.clone()),
                    diagnostic: r.last_reply.clone(),
                    remote_mta: detail
                        .attempts
                        .iter()
                        .rev()
                        .find(|a| a.recipient == r.address && !a.attempt.host.is_empty())
                        .map(|a| a.attempt.host.clone()),
                })
                .collect();
            if list.is_empty() {
                continue;
            }
            match self.notify_sender(&detail.info, kind, list).await {
                Ok(()) => {
                    if let Err(e) = self.queue.clear_notices(id, kind, &idxs).await {
                        tracing::error!(queue_id = id, error = %e, "cannot clear sent notifications");
                    }
                }
                Err(e) => tracing::error!(queue_id = id, error = %e, "cannot queue the delivery status notification"),
            }
        }
        match self.queue.finish_if_done(id, now()).await {
            Ok(true) => self.queue.remove_body(id),
            Ok(false) => {}
            Err(e) => tracing::error!(queue_id = id, error = %e, "cannot mark message done"),
        }
    }

    async fn notify_sender(
        &self,
        info: &MessageInfo,
        kind: NoticeKind,
        recipients: Vec<DsnRecipient>,
    ) -> Result<(), sekisho_store::StoreError> {
        // The original's body, fetched when this node has none; a body no store holds is
        // returned as nothing (the notice still goes), a store that does not answer now makes
        // the notice wait for the next sweep.
        let original = match self.queue.local_body(&info.id).await {
            Ok(path) => tokio::fs::read(path).await.unwrap_or_default(),
            Err(sekisho_store::StoreError::BodyUnavailable { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let kind = match kind {
            NoticeKind::Failed => DsnKind::Failed,
            NoticeKind::Delayed => DsnKind::Delayed,
            NoticeKind::Relayed => DsnKind::Relayed,
        };
        // A REQUIRETLS message's content went only over authenticated TLS; its DSN returns the
        // header only, as if RET=HDRS (RFC 8689), and may go where REQUIRETLS is not offered.
        let full = kind == DsnKind::Failed
            && !crate::requiretls::requires_tls(info.sender_tls)
            && match info.ret.as_deref() {
                Some("FULL") => true,
                Some(_) => false,
                None => info.size <= RETURN_FULL_UP_TO,
            };
        let id = QueueId::generate();
        let date = chrono::Local::now().to_rfc2822();
        let zone = &self.config.time_zone;
        let local_time = |unix: i64| zone.at(unix).map(|t| t.to_rfc2822());
        let arrival = local_time(info.received_at).unwrap_or_else(|| date.clone());
        let until = (kind == DsnKind::Delayed)
            .then(|| local_time(info.received_at + self.config.delivery.max_lifetime.0.as_secs() as i64))
            .flatten();
        let message_id = format!("<{id}@{}>", self.config.hostname);
        let bytes = dsn::build(&Dsn {
            kind,
            hostname: &self.config.hostname,
            to: &info.sender,
            queue_id: &info.id,
            envid: info.envid.as_deref(),
            arrival_date: &arrival,
            date: &date,
            will_retry_until: until.as_deref(),
            recipients,
            original: &original,
            full,
            message_id: &message_id,
        });
        // RFC 8689: the DSN about a REQUIRETLS message asks for REQUIRETLS where offered.
        let asked = crate::requiretls::for_dsn(info.sender_tls);
        self.queue.inject_asking(&id, &self.config.hostname, &info.sender, &bytes, asked).await?;
        tracing::info!(queue_id = %info.id, dsn = %id, kind = ?kind, to = %info.sender, "notification queued");
        Ok(())
    }
}
