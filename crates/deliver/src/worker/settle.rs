//! After an attempt: each recipient's update (a pure function in `crate::outcome`), logged and
//! recorded with the notifications it calls for in one transaction.

use sekisho_store::{AttemptOutcome, MessageDetail};

use super::Inner;
use crate::outcome::{RcptResult, RetryPolicy, recipient_update};

impl Inner {
    /// The retry policy of `[delivery]`.
    fn retry_policy(&self) -> RetryPolicy {
        let d = &self.config.delivery;
        RetryPolicy {
            schedule: d.retry_schedule.iter().map(|x| x.0.as_secs().max(1)).collect(),
            max_lifetime: d.max_lifetime.0.as_secs(),
            delay_warning: d.delay_warning.0.as_secs(),
        }
    }

    /// Counts one recipient's outcome for `/metrics`: delivered (by the session's `assurance`,
    /// `age` seconds after reception, and how its files went), deferred or bounced.
    fn count(
        &self,
        update: &sekisho_store::RecipientUpdate,
        assurance: Option<sekisho_policy::Assurance>,
        carriage: Option<sekisho_policy::Carriage>,
        age: i64,
    ) {
        match update.outcome {
            AttemptOutcome::Delivered => {
                let age = std::time::Duration::from_secs(age.max(0) as u64);
                self.metrics.delivered(assurance.unwrap_or(sekisho_policy::Assurance::None), age);
                if let Some(how) = carriage {
                    self.metrics.carried(how);
                }
            }
            // A recipient set aside because its destination was busy had no attempt.
            AttemptOutcome::Deferred if update.attempt.is_some() => self.metrics.deferred(),
            AttemptOutcome::Deferred => {}
            AttemptOutcome::Bounced => self.metrics.bounced(),
        }
    }

    /// Records what an attempt did to each recipient of message `detail`, then queues the
    /// notifications it calls for.
    pub(super) async fn settle(&self, detail: &MessageDetail, results: Vec<RcptResult>) {
        let info = &detail.info;
        let t = self.queue.now();
        let policy = self.retry_policy();
        let mut updates = Vec::with_capacity(results.len());
        for r in results {
            let Some(rec) = detail.recipients.iter().find(|x| x.idx == r.idx) else { continue };
            let (assurance, carriage) = (r.evidence.as_ref().map(|e| e.assurance), r.variant.as_ref().map(|v| v.kind));
            let (update, report) = recipient_update(info, rec, r, t, &policy);
            self.count(&update, assurance, carriage, t - info.received_at);
            if let (Some(report), Some(attempt)) = (report, &update.attempt) {
                let relay = if attempt.host.is_empty() {
                    "none".to_string()
                } else {
                    format!("{}[{}]:{}", attempt.host, attempt.ip, attempt.port)
                };
                tracing::info!(
                    queue_id = %info.id,
                    to = %rec.address,
                    relay = %relay,
                    tls = attempt.tls.as_deref().unwrap_or("none"),
                    delay = t - info.received_at,
                    status = report,
                    reply = %attempt.reply,
                    "delivery"
                );
            }
            updates.push(update);
        }
        // Outcomes and the notifications they call for are recorded together: a crash after
        // this point re-sends a notification at worst, never loses one.
        let notices = updates.iter().any(|u| u.notice.is_some());
        match self.queue.record_outcomes(updates, t).await {
            Ok(finished) => {
                if finished.contains(&info.id) {
                    self.queue.remove_body(&info.id);
                }
            }
            Err(e) => {
                tracing::error!(queue_id = %info.id, error = %e, "cannot record delivery outcomes");
                return;
            }
        }
        if notices {
            self.send_notices(&info.id).await;
        }
    }
}
