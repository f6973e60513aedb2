//! SQLite: the delivery evidence per recipient domain that `sekisho partners` reads.

use crate::error::StoreError;
use crate::model::PartnerEvidence;
use crate::sqlite::SqliteStore;

/// The statement: attempts in the window (`attempts_at`), their recipient (primary key) and
/// message (primary key, to leave out mail from the internet), grouped in SQLite so a window
/// of 100,000 attempts comes back as a few rows per domain.
const QUERY: &str = "\
SELECT lower(substr(r.address, instr(r.address, '@') + 1)) AS domain, a.outcome AS outcome, \
       a.variant AS variant, json_extract(a.evidence, '$.assurance') AS assurance, \
       json_extract(a.evidence, '$.failure') AS failure, \
       COALESCE(json_extract(a.evidence, '$.downgrade_suspected'), 0) AS downgrade, \
       (a.variant = 'link' AND a.variant_reason LIKE '%attachments travel inline from%') AS below_policy, \
       (a.at >= ?2) AS late, COUNT(*) AS n, MIN(a.at) AS first_at, MAX(a.at) AS last_at \
FROM attempts a INDEXED BY attempts_at \
JOIN recipients r ON r.message_id = a.message_id AND r.idx = a.idx \
JOIN messages m ON m.id = a.message_id \
WHERE a.at >= ?1 AND a.evidence IS NOT NULL AND a.host != '' AND m.origin != 'mx' \
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8";

pub(crate) async fn partner_evidence(
    store: &SqliteStore,
    since: i64,
    middle: i64,
) -> Result<Vec<PartnerEvidence>, StoreError> {
    let rows = sqlx::query(QUERY).bind(since).bind(middle).fetch_all(&store.reader).await?;
    Ok(rows.iter().map(crate::rows::partner_evidence).collect())
}

/// The query plan, for the index test.
#[cfg(test)]
pub(crate) const PLAN_QUERY: &str = QUERY;

#[cfg(test)]
mod tests {
    use crate::model::{Attempt, AttemptOutcome, RecipientUpdate, Variant, sample_message};
    use crate::store::{QueueWrites, TlsStore};
    use crate::{Origin, QueueId, SqliteStore};
    use sekisho_policy::Carriage;

    fn attempt(at: i64, evidence: serde_json::Value, variant: Option<(Carriage, &str)>) -> Attempt {
        Attempt {
            at,
            host: "mx.partner.example".into(),
            ip: "192.0.2.1".into(),
            port: 25,
            reply: "250 ok".into(),
            tls: None,
            outcome: AttemptOutcome::Delivered,
            evidence: Some(evidence),
            variant: variant.map(|(kind, reason)| Variant { kind, reason: reason.into() }),
            dkim: None,
            smime: None,
        }
    }

    #[tokio::test]
    async fn attempts_are_counted_per_domain_and_evidence_by_the_time_index_without_inbound_mail() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let mut out = sample_message(&QueueId::generate(), 10, 3);
        out.recipients[0].address = "a@NoTLS.example".into();
        out.recipients[1].address = "b@notls.example".into();
        out.recipients[2].address = "c@good.example".into();
        let mut inbound = sample_message(&QueueId::generate(), 10, 1);
        inbound.info.origin = Origin::Mx;
        inbound.recipients[0].address = "x@notls.example".into();
        s.insert_messages(&[out.clone(), inbound.clone()]).await.unwrap();
        assert_eq!(s.claim_due(i64::MAX, 10).await.unwrap().len(), 4);
        let plain =
            serde_json::json!({"assurance": "none", "failure": "starttls-not-supported", "downgrade_suspected": false});
        let good = serde_json::json!({"assurance": "authenticated", "downgrade_suspected": false});
        let no_tls = "link — mx offered no STARTTLS";
        let below = "link — mx reached TLS 1.3, authenticated; attachments travel inline from mta-sts";
        let update = |id: &str, idx, a: Attempt| RecipientUpdate {
            message_id: id.to_string(),
            idx,
            outcome: AttemptOutcome::Delivered,
            next_attempt_at: 0,
            last_reply: None,
            delay_warned: false,
            attempt: Some(a),
            notice: None,
        };
        let (o, i) = (out.info.id.as_str(), inbound.info.id.as_str());
        s.record_outcomes(
            &[
                update(o, 0, attempt(100, plain.clone(), Some((Carriage::Link, no_tls)))),
                update(o, 1, attempt(900, plain.clone(), Some((Carriage::Link, no_tls)))),
                update(o, 2, attempt(950, good, Some((Carriage::Link, below)))),
                update(i, 0, attempt(960, plain.clone(), None)),
            ],
            1000,
        )
        .await
        .unwrap();
        let mut rows = s.partner_evidence(50, 500).await.unwrap();
        rows.sort_by(|a, b| (&a.domain, a.late).cmp(&(&b.domain, b.late)));
        assert_eq!(rows.len(), 3, "{rows:#?}");
        assert_eq!((rows[0].domain.as_str(), rows[0].below_policy, rows[0].late), ("good.example", true, true));
        let notls: Vec<_> = rows[1..].iter().map(|r| (r.domain.as_str(), r.late, r.attempts)).collect();
        assert_eq!(notls, [("notls.example", false, 1), ("notls.example", true, 1)], "inbound mail is not counted");
        assert_eq!(rows[1].failure.as_deref(), Some("starttls-not-supported"));
        assert_eq!((rows[1].variant, rows[1].downgrade), (Some(Carriage::Link), false));
        assert_eq!(s.partner_evidence(901, 950).await.unwrap().len(), 1, "the window starts at `since`");
        let plan = s.query_plan(super::PLAN_QUERY).await;
        assert!(plan.iter().any(|p| p.contains("attempts_at")), "the window is read by the index: {plan:?}");
    }
}
