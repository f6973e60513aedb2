//! The quarantine digest (`[inbound] quarantine_digest`): once a day, at the configured time
//! of day in `time_zone`, each recipient of quarantined mail gets one mail listing what was
//! held for them since their last digest (sender, subject, when, why), through sekisho's own
//! queue. What each recipient was told is remembered in the store before the mail is queued,
//! and each day's run is claimed there too: a restart never sends anything twice.
//! `sekisho quarantine digest --now` runs [`send_digests`] at once.

use std::collections::BTreeMap;

use sekisho_config::Config;
use sekisho_rewrite::quarantine_digest::{DIGEST_SUBJECT, HeldItem, digest_text};
use sekisho_store::{HeldRecipient, LinkEvent, PortalEvent, QueueControl, QueueId, StoreError, Stores};

use super::view::why_held;

const DAY: i64 = 86_400;

/// One digest mail queued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DigestMail {
    /// Who it went to.
    pub to: String,
    /// The queue ID of the digest.
    pub id: String,
    /// The held messages it lists.
    pub messages: Vec<String>,
}

/// The start of the latest digest period at or before `now`: today's `minutes` after local
/// midnight, or yesterday's, where local time is `offset` seconds ahead of UTC. Pure.
pub fn latest_slot(now: i64, offset: i64, minutes: u16) -> i64 {
    let local = now + offset;
    let mut slot = local.div_euclid(DAY) * DAY + i64::from(minutes) * 60;
    if slot > local {
        slot -= DAY;
    }
    slot - offset
}

/// Queues one digest to each recipient told about nothing yet of what is held for them, and
/// remembers it; returns the mails queued. A mail that cannot be queued is forgotten again
/// (its recipient is told at the next run) and logged.
pub async fn send_digests(
    config: &Config,
    stores: &Stores,
    control: &QueueControl,
    now: i64,
) -> Result<Vec<DigestMail>, StoreError> {
    let untold = stores.digests.untold().await?;
    let mut by_recipient: BTreeMap<String, Vec<HeldRecipient>> = BTreeMap::new();
    for held in untold {
        by_recipient.entry(held.address.to_ascii_lowercase()).or_default().push(held);
    }
    let mut items: BTreeMap<String, HeldItem> = BTreeMap::new();
    for id in by_recipient.values().flatten().map(|h| h.message_id.clone()) {
        if items.contains_key(&id) {
            continue;
        }
        let Some(d) = stores.messages.message_without_history(&id).await? else { continue };
        let header = super::read_header(control, &id).await;
        let reason = why_held(&d.info);
        items.insert(
            id,
            HeldItem {
                sender: d.info.sender.clone(),
                from: header.from,
                subject: header.subject,
                received: config.time_zone.format(d.info.received_at, "%Y-%m-%d %H:%M"),
                why: reason,
            },
        );
    }
    let mut sent = Vec::new();
    for held in by_recipient.into_values() {
        // Remembered first: a crash after this line loses one digest, never sends two; what
        // another run (the CLI beside `serve`) marked first is left to it.
        let held = stores.digests.mark_told(&held, now).await?;
        let listed: Vec<HeldItem> = held.iter().filter_map(|h| items.get(&h.message_id).cloned()).collect();
        if listed.is_empty() {
            stores.digests.unmark_told(&held).await?;
            continue;
        }
        let to = held[0].address.clone();
        let date = chrono::Utc::now().to_rfc2822();
        let mail_id = sekisho_store::links::random_token(12);
        let mail = sekisho_rewrite::own_mail::plain_mail(
            &config.hostname,
            &to,
            DIGEST_SUBJECT,
            &digest_text(&listed),
            &date,
            &mail_id,
        );
        let queue_id = QueueId::generate();
        if let Err(e) = control.inject(&queue_id, &config.hostname, &to, &mail).await {
            tracing::error!(error = %e, to = %to.escape_debug(), "cannot queue the quarantine digest");
            stores.digests.unmark_told(&held).await?;
            continue;
        }
        for h in &held {
            let event = PortalEvent {
                at: now,
                message_id: h.message_id.clone(),
                idx: Some(h.idx),
                event: LinkEvent::QuarantineDigest,
                client: "sekisho".into(),
                user_agent: String::new(),
                detail: format!("{} told in the quarantine digest {queue_id}", h.address),
            };
            stores.links.record_event(&event).await?;
        }
        let messages: Vec<String> = held.iter().map(|h| h.message_id.clone()).collect();
        tracing::info!(to = %to.escape_debug(), queue_id = %queue_id, messages = messages.len(), "quarantine digest queued");
        sent.push(DigestMail { to, id: queue_id.to_string(), messages });
    }
    Ok(sent)
}

/// Sends the digest once per day at `[inbound] quarantine_digest` (and at start, when the
/// latest run was missed while sekisho was stopped) until `shutdown`; `queued` is called
/// after a run queued mail (to wake the deliverer). Nothing when the digest is off.
pub async fn run_daily(
    config: Config,
    stores: Stores,
    control: QueueControl,
    queued: impl Fn() + Send,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let Some(minutes) = config.inbound.quarantine_digest.minutes() else { return };
    tokio::pin!(shutdown);
    loop {
        let now = chrono::Utc::now().timestamp();
        let slot = latest_slot(now, i64::from(config.time_zone.offset_at(now)), minutes);
        match stores.digests.claim_digest_slot(slot, now).await {
            Ok(true) => match send_digests(&config, &stores, &control, now).await {
                Ok(sent) if !sent.is_empty() => queued(),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "the quarantine digest failed; it runs again within the hour");
                    if let Err(e) = stores.digests.release_digest_slot(slot).await {
                        tracing::error!(error = %e, "cannot give back the quarantine digest's run");
                    }
                }
            },
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim the quarantine digest's run"),
        }
        // Looked at again at least hourly: the clock or the zone's offset may move.
        let wait = (slot + DAY - now).clamp(1, 3600) as u64;
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_period_starts_at_the_time_of_day_today_or_yesterday() {
        // 2026-12-04 00:00 UTC = 09:00 in Tokyo (+9).
        let midnight_utc = 1_796_342_400;
        let tokyo = 9 * 3600;
        // 08:30 Tokyo is 23:30 UTC the day before.
        assert_eq!(latest_slot(midnight_utc, tokyo, 8 * 60 + 30), midnight_utc - 1800);
        // At 09:00 Tokyo, 09:30 has not come yet today: yesterday's.
        assert_eq!(latest_slot(midnight_utc, tokyo, 9 * 60 + 30), midnight_utc + 1800 - DAY);
        // Exactly at the time: this one.
        assert_eq!(latest_slot(midnight_utc, tokyo, 9 * 60), midnight_utc);
        assert_eq!(latest_slot(midnight_utc + 60, 0, 0), midnight_utc);
    }
}
