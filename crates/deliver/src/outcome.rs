//! What an attempt did to each recipient, as pure functions: the verdict a transaction's replies
//! give, the verdict when no host took the mail ("bounce only when every host failed for
//! good"), and the recipient's outcome, next attempt and notice after an attempt (its new
//! state follows from the outcome by `sekisho_store::state`).

use sekisho_store::{
    Attempt, AttemptOutcome, MessageInfo, Notice, NoticeKind, Origin, RecipientRecord, RecipientUpdate, Variant,
};

use crate::client::reply::ServerReply;
use crate::client::session::Target;
use crate::schedule;
use crate::tls::TlsEvidence;

/// What became of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The next hop took it; its reply.
    Delivered { reply: String },
    /// Refused for good.
    Bounced { status: String, reason: String },
    /// Not delivered this time; tried again later.
    Deferred { status: String, reason: String },
    /// The destination's connections were all busy: not an attempt; tried again soon.
    Busy,
}

impl Verdict {
    /// A temporary failure with an enhanced status code.
    pub fn deferred(status: &str, reason: String) -> Verdict {
        Verdict::Deferred { status: status.to_string(), reason }
    }
}

/// One recipient's result of an attempt.
#[derive(Debug, Clone)]
pub struct RcptResult {
    pub idx: i64,
    pub verdict: Verdict,
    /// Where the attempt went, if a host was reached or tried, and over what TLS.
    pub attempt_at: Option<(Target, Option<String>)>,
    /// What the session proved about its transport.
    pub evidence: Option<TlsEvidence>,
    /// The next hop accepted DSN parameters (so it reports success itself).
    pub next_hop_dsn: bool,
    /// Which variant of the message the recipient was sent, and why.
    pub variant: Option<Variant>,
    /// Which DKIM signatures the data carried, or why none (None: signing is off).
    pub dkim: Option<String>,
    /// Who S/MIME-signed the data, or why nobody did (None: `[[smime.sign]]` is off).
    pub smime: Option<String>,
}

impl RcptResult {
    /// `verdict` for recipient `idx`, with where the attempt went and what its session proved.
    pub fn new(
        idx: i64,
        verdict: Verdict,
        at: Option<(Target, Option<String>)>,
        evidence: Option<TlsEvidence>,
    ) -> RcptResult {
        RcptResult {
            idx,
            verdict,
            attempt_at: at,
            evidence,
            next_hop_dsn: false,
            variant: None,
            dkim: None,
            smime: None,
        }
    }
}

/// How one host failed to take the mail.
#[derive(Debug, Clone)]
pub struct HostFailure {
    pub permanent: bool,
    pub status: String,
    pub reason: String,
    pub target: Target,
    pub tls: Option<String>,
    /// What that host's session proved, when one was had.
    pub evidence: Option<TlsEvidence>,
}

impl HostFailure {
    /// A failure another attempt may overcome.
    pub fn temporary(
        status: &str,
        reason: String,
        target: &Target,
        tls: Option<String>,
        evidence: Option<TlsEvidence>,
    ) -> HostFailure {
        HostFailure { permanent: false, status: status.to_string(), reason, target: target.clone(), tls, evidence }
    }
}

/// The verdict for recipients no host took, from every host's failure in the order tried: the
/// last failure speaks, but the mail bounces only when every host failed for good (one that
/// might take it later makes the recipients wait, its status turned to 4.x.x).
pub fn fold_failures(failures: &[HostFailure]) -> Option<(Verdict, &HostFailure)> {
    let last = failures.last()?;
    let every_permanent = failures.iter().all(|f| f.permanent);
    let verdict = if every_permanent {
        Verdict::Bounced { status: last.status.clone(), reason: last.reason.clone() }
    } else {
        let status =
            if last.permanent { format!("4{}", last.status.get(1..).unwrap_or(".0.0")) } else { last.status.clone() };
        Verdict::Deferred { status, reason: last.reason.clone() }
    };
    Some((verdict, last))
}

/// A recipient's verdict from its RCPT reply and the reply after the data.
pub fn transaction_verdict(data: Option<&ServerReply>, rcpt: ServerReply) -> Verdict {
    match (data, rcpt) {
        (_, rr) if rr.is_permanent() => Verdict::Bounced { status: status_of(&rr), reason: rr.one_line() },
        (_, rr) if !rr.is_positive() => Verdict::Deferred { status: status_of(&rr), reason: rr.one_line() },
        (Some(d), _) if d.is_positive() => Verdict::Delivered { reply: d.one_line() },
        (Some(d), _) if d.is_permanent() => Verdict::Bounced { status: status_of(d), reason: d.one_line() },
        (Some(d), _) => Verdict::Deferred { status: status_of(d), reason: d.one_line() },
        (None, _) => Verdict::deferred("4.4.2", "no reply after the message data".into()),
    }
}

/// A recipient's verdict after a transaction that carried the message's files inline: a
/// permanent refusal for size (552, 5.3.4) from `host` becomes a deferral whose reason tells
/// the next attempt to send the link variant (`decide::refused_for_size` reads it back), so
/// the sender gets the file through instead of a bounce.
pub fn size_refusal_deferred(verdict: Verdict, host: &str) -> Verdict {
    match verdict {
        Verdict::Bounced { status, reason } if crate::decide::is_size_refusal(&status, &reason) => Verdict::Deferred {
            status: "4.3.4".into(),
            reason: format!("{host} {} {reason}", crate::decide::SIZE_REFUSAL),
        },
        v => v,
    }
}

/// The enhanced status code of a reply, or one derived from its class.
pub fn status_of(r: &ServerReply) -> String {
    r.enhanced().map(str::to_string).unwrap_or_else(|| {
        if r.is_permanent() {
            "5.0.0".into()
        } else if r.is_transient() {
            "4.0.0".into()
        } else {
            "2.0.0".into()
        }
    })
}

/// Which notifications a recipient's sender asked for (RFC 3461 NOTIFY; none given: failure
/// and delay). Never a notification about a notification, nor to the null sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wants {
    pub failure: bool,
    pub delay: bool,
    pub success: bool,
}

impl Wants {
    /// From the recipient's NOTIFY parameter and the message.
    pub fn of(notify: Option<&str>, info: &MessageInfo) -> Wants {
        let notify = notify.unwrap_or("").to_ascii_uppercase();
        let never = notify.contains("NEVER") || info.sender.is_empty() || info.origin == Origin::Local;
        Wants {
            failure: !never && (notify.is_empty() || notify.contains("FAILURE")),
            delay: !never && (notify.is_empty() || notify.contains("DELAY")),
            success: !never && notify.contains("SUCCESS"),
        }
    }
}

/// The retry policy of `[delivery]`, in seconds.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Waits between attempts; the last repeats.
    pub schedule: Vec<u64>,
    pub max_lifetime: u64,
    /// Age at which a delay notification is due (0: never).
    pub delay_warning: u64,
}

/// Seconds after which recipients put back for a busy destination are due again.
pub const BUSY_RETRY: i64 = 5;

/// A recipient's update after an attempt at `now`, and the word the delivery log gives it
/// ("sent", "bounced", "deferred", "expired"; None for a busy destination, which is no attempt).
pub fn recipient_update(
    info: &MessageInfo,
    rec: &RecipientRecord,
    r: RcptResult,
    now: i64,
    policy: &RetryPolicy,
) -> (RecipientUpdate, Option<&'static str>) {
    let wants = Wants::of(rec.notify.as_deref(), info);
    let notice = |kind: NoticeKind, status: &str, wanted: bool| wanted.then(|| Notice { kind, status: status.into() });
    let mut warned = rec.delay_warned;
    let (next, reply, outcome, report, notice) = match r.verdict {
        Verdict::Busy => {
            let update = RecipientUpdate {
                message_id: info.id.clone(),
                idx: rec.idx,
                outcome: AttemptOutcome::Deferred,
                next_attempt_at: now + BUSY_RETRY,
                last_reply: rec.last_reply.clone(),
                delay_warned: rec.delay_warned,
                attempt: None,
                notice: None,
            };
            return (update, None);
        }
        Verdict::Delivered { reply } => {
            let n = notice(NoticeKind::Relayed, "2.0.0", wants.success && !r.next_hop_dsn);
            (now, reply, AttemptOutcome::Delivered, "sent", n)
        }
        Verdict::Bounced { status, reason } => {
            let n = notice(NoticeKind::Failed, &status, wants.failure);
            (now, reason, AttemptOutcome::Bounced, "bounced", n)
        }
        Verdict::Deferred { status, reason } => {
            match schedule::next_attempt(info.received_at, rec.attempts + 1, now, &policy.schedule, policy.max_lifetime)
            {
                Some(at) => {
                    let due = schedule::delay_warning_due(info.received_at, now, policy.delay_warning, warned);
                    let n = notice(NoticeKind::Delayed, &status, wants.delay && due);
                    warned |= n.is_some();
                    (at, reason, AttemptOutcome::Deferred, "deferred", n)
                }
                None => {
                    let reason = format!("delivery time expired; last error: {reason}");
                    let n = notice(NoticeKind::Failed, "4.4.7", wants.failure);
                    (now, reason, AttemptOutcome::Bounced, "expired", n)
                }
            }
        }
    };
    let (target, tls) = r.attempt_at.map_or((None, None), |(t, tls)| (Some(t), tls));
    let update = RecipientUpdate {
        message_id: info.id.clone(),
        idx: rec.idx,
        outcome,
        next_attempt_at: next,
        last_reply: Some(reply.clone()),
        delay_warned: warned,
        attempt: Some(Attempt {
            at: now,
            host: target.as_ref().map_or(String::new(), |t| t.host.clone()),
            ip: target.as_ref().map_or(String::new(), |t| t.ip.to_string()),
            port: target.as_ref().map_or(0, |t| t.port),
            reply,
            tls,
            outcome,
            evidence: r.evidence.as_ref().and_then(|e| serde_json::to_value(e).ok()),
            variant: r.variant,
            dkim: r.dkim,
            smime: r.smime,
        }),
        notice,
    };
    (update, Some(report))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sekisho_store::RecipientState;

    fn target(host: &str) -> Target {
        Target { host: host.into(), ip: "127.0.0.2".parse().unwrap(), port: 25 }
    }

    fn failure(host: &str, permanent: bool, status: &str) -> HostFailure {
        HostFailure {
            permanent,
            status: status.into(),
            reason: format!("{host} said no"),
            target: target(host),
            tls: None,
            evidence: None,
        }
    }

    /// Each host's failure (permanent?, status), and the folded verdict (kind, status).
    type FoldRow<'a> = (&'a [(bool, &'a str)], Option<(&'a str, &'a str)>);

    #[test]
    fn the_mail_bounces_only_when_every_host_failed_for_good() {
        let table: [FoldRow<'_>; 6] = [
            (&[], None),
            (&[(true, "5.1.1")], Some(("bounced", "5.1.1"))),
            (&[(false, "4.4.1")], Some(("deferred", "4.4.1"))),
            (&[(true, "5.7.1"), (true, "5.1.1")], Some(("bounced", "5.1.1"))),
            (&[(false, "4.4.1"), (true, "5.1.1")], Some(("deferred", "4.1.1"))),
            (&[(true, "5.1.1"), (false, "4.7.5")], Some(("deferred", "4.7.5"))),
        ];
        for (failures, expected) in table {
            let list: Vec<HostFailure> =
                failures.iter().enumerate().map(|(i, (p, s))| failure(&format!("mx{i}.example"), *p, s)).collect();
            let got = fold_failures(&list).map(|(v, last)| {
                assert_eq!(last.target.host, list.last().unwrap().target.host, "the last host tried speaks");
                match v {
                    Verdict::Bounced { status, .. } => ("bounced", status),
                    Verdict::Deferred { status, .. } => ("deferred", status),
                    other => panic!("{other:?}"),
                }
            });
            let got = got.as_ref().map(|(k, s)| (*k, s.as_str()));
            assert_eq!(got, expected, "{failures:?}");
        }
    }

    /// A message's record for tests.
    pub(crate) fn info(sender: &str, origin: Origin) -> MessageInfo {
        MessageInfo {
            id: "Q1".into(),
            received_at: 1_000,
            sender: sender.into(),
            size: 10,
            ret: None,
            envid: None,
            smtputf8: false,
            body_8bit: false,
            client_ip: "127.0.0.1".into(),
            helo: "client".into(),
            listener: "submission".into(),
            auth_user: None,
            tls: None,
            origin,
            findings: None,
            required_tls: None,
            sender_tls: None,
            inspection: None,
            rules: None,
            sender_record: None,
        }
    }

    fn rec(notify: Option<&str>, attempts: u32, warned: bool) -> RecipientRecord {
        RecipientRecord {
            idx: 0,
            address: "bob@example.jp".into(),
            orcpt: None,
            notify: notify.map(str::to_string),
            state: RecipientState::Active,
            attempts,
            next_attempt_at: 0,
            last_reply: Some("earlier".into()),
            delay_warned: warned,
            notice: None,
        }
    }

    const POLICY: fn() -> RetryPolicy =
        || RetryPolicy { schedule: vec![60, 600], max_lifetime: 86_400, delay_warning: 3_600 };

    #[test]
    fn each_verdict_gives_its_state_next_attempt_and_notice() {
        let deferred = || Verdict::deferred("4.4.1", "no answer".into());
        let bounced = || Verdict::Bounced { status: "5.1.1".into(), reason: "no such user".into() };
        let delivered = || Verdict::Delivered { reply: "250 ok".into() };
        // (verdict, NOTIFY, attempts so far, now, already warned)
        //   => (state, next attempt, notice, log word)
        type Row = (Verdict, Option<&'static str>, u32, i64, bool);
        type Expected = (RecipientState, i64, Option<(NoticeKind, &'static str)>, Option<&'static str>);
        let table: Vec<(Row, Expected)> = vec![
            ((delivered(), None, 0, 2_000, false), (RecipientState::Delivered, 2_000, None, Some("sent"))),
            (
                (delivered(), Some("SUCCESS"), 0, 2_000, false),
                (RecipientState::Delivered, 2_000, Some((NoticeKind::Relayed, "2.0.0")), Some("sent")),
            ),
            (
                (bounced(), None, 0, 2_000, false),
                (RecipientState::Bounced, 2_000, Some((NoticeKind::Failed, "5.1.1")), Some("bounced")),
            ),
            ((bounced(), Some("NEVER"), 0, 2_000, false), (RecipientState::Bounced, 2_000, None, Some("bounced"))),
            ((deferred(), None, 0, 2_000, false), (RecipientState::Queued, 2_060, None, Some("deferred"))),
            ((deferred(), None, 1, 2_000, false), (RecipientState::Queued, 2_600, None, Some("deferred"))),
            (
                (deferred(), None, 3, 5_000, false),
                (RecipientState::Queued, 5_600, Some((NoticeKind::Delayed, "4.4.1")), Some("deferred")),
            ),
            ((deferred(), None, 3, 5_000, true), (RecipientState::Queued, 5_600, None, Some("deferred"))),
            ((deferred(), Some("FAILURE"), 3, 5_000, false), (RecipientState::Queued, 5_600, None, Some("deferred"))),
            (
                (deferred(), None, 9, 87_400, false),
                (RecipientState::Bounced, 87_400, Some((NoticeKind::Failed, "4.4.7")), Some("expired")),
            ),
            ((Verdict::Busy, None, 2, 2_000, false), (RecipientState::Queued, 2_005, None, None)),
        ];
        for ((verdict, notify, attempts, now, warned), (state, next, notice, word)) in table {
            let label = format!("{verdict:?} NOTIFY={notify:?} attempts={attempts} now={now} warned={warned}");
            let r = RcptResult::new(0, verdict, Some((target("mx.example.jp"), None)), None);
            let (u, w) = recipient_update(
                &info("alice@corp.example", Origin::Submission),
                &rec(notify, attempts, warned),
                r,
                now,
                &POLICY(),
            );
            let moved =
                sekisho_store::state::next(RecipientState::Active, sekisho_store::state::Move::Outcome(u.outcome));
            assert_eq!(moved, Some(state), "{label}");
            assert_eq!(u.next_attempt_at, next, "{label}");
            assert_eq!(u.notice.as_ref().map(|n| (n.kind, n.status.as_str())), notice, "{label}");
            assert_eq!(w, word, "{label}");
            assert_eq!(u.attempt.is_some(), word.is_some(), "a busy destination is no attempt: {label}");
        }
    }

    #[test]
    fn no_notice_to_the_null_sender_nor_about_sekishos_own_mail() {
        for info in [info("", Origin::Submission), info("alice@corp.example", Origin::Local)] {
            let r = RcptResult::new(0, Verdict::Bounced { status: "5.1.1".into(), reason: "x".into() }, None, None);
            let (u, _) = recipient_update(&info, &rec(None, 0, false), r, 2_000, &POLICY());
            assert_eq!(u.notice, None);
        }
    }

    #[test]
    fn a_next_hop_that_reports_success_itself_gets_no_relayed_notice_from_us() {
        let mut r = RcptResult::new(0, Verdict::Delivered { reply: "250 ok".into() }, None, None);
        r.next_hop_dsn = true;
        let (u, _) = recipient_update(
            &info("a@corp.example", Origin::Submission),
            &rec(Some("SUCCESS"), 0, false),
            r,
            2_000,
            &POLICY(),
        );
        assert_eq!(u.notice, None);
    }

    #[test]
    fn a_refusal_for_size_waits_for_the_link_and_other_refusals_bounce() {
        let bounced = |status: &str, reason: &str| Verdict::Bounced { status: status.into(), reason: reason.into() };
        let v = size_refusal_deferred(bounced("5.3.4", "552 5.3.4 Message too big for system"), "mx1.partner.test");
        let Verdict::Deferred { status, reason } = v else { panic!("{v:?}") };
        assert_eq!(status, "4.3.4");
        assert!(crate::decide::refused_for_size(Some(&reason)), "{reason}");
        assert!(reason.starts_with("mx1.partner.test ") && reason.ends_with("552 5.3.4 Message too big for system"));
        let other = bounced("5.7.1", "550 5.7.1 rejected");
        assert_eq!(size_refusal_deferred(other.clone(), "mx1.partner.test"), other);
        let delivered = Verdict::Delivered { reply: "250 ok".into() };
        assert_eq!(size_refusal_deferred(delivered.clone(), "mx1.partner.test"), delivered);
    }
}
