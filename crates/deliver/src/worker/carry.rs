//! The transactions one checked session carries: the variants planned for its evidence (inline,
//! ZIP, one link notice per recipient), sent one after another. The first transaction that
//! fails in a way the next host might not ends the session; recipients of later transactions
//! wait for the next attempt.

use sekisho_store::{MessageInfo, RecipientRecord};

use super::Inner;
use super::group::Checked;
use crate::client::envelope::Envelope;
use crate::client::reply::ServerReply;
use crate::client::session::{RcptSpec, SessionError, Target, Transaction};
use crate::decide::Carriage;
use crate::outcome::{HostFailure, RcptResult, Verdict, size_refusal_deferred, status_of, transaction_verdict};
use crate::variants::{self, Files, Session, SmartHost};

/// What carrying the transactions over one session came to.
pub(super) enum Carried {
    /// Every recipient has a result (delivered, refused, or waiting).
    Done(Vec<RcptResult>),
    /// A pooled connection was closed before the data: the same target, on a fresh one.
    RetryFresh,
    /// The first transaction failed in a way another host might not: the next host is tried.
    HostFailed(Box<HostFailure>),
}

/// How the session ends after a failed transaction.
enum Stop {
    /// Later recipients get this verdict; the connection may still be reused.
    Clean(Verdict),
    /// Later recipients get this verdict; the connection is dropped.
    Broken(Verdict),
}

impl Inner {
    /// Sends message `info` to `rcpts` over `checked`, in as many transactions as its variants
    /// need.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn carry(
        &self,
        info: &MessageInfo,
        files: &Files,
        smart_host: Option<&SmartHost>,
        rcpts: &[&RecipientRecord],
        target: &Target,
        checked: Checked,
    ) -> Carried {
        let Checked { mut conn, reused } = checked;
        let tls = conn.tls_summary();
        let at = Some((target.clone(), tls.clone()));
        let evidence = conn.evidence.clone();
        let result =
            |r: &RecipientRecord, verdict: Verdict| RcptResult::new(r.idx, verdict, at.clone(), Some(evidence.clone()));
        let body = files.spooled();
        let (batches, held) = variants::plan(
            &self.config,
            &self.links,
            info,
            files,
            rcpts,
            Session { host: &target.host, evidence: &evidence, advertised_size: conn.caps.size, smart_host },
            body,
        )
        .await;
        files.planned().await;
        // `bcc_external`: external recipients each get a copy naming only them.
        let (batches, hidden) = crate::bcc::separate(&self.config, info, batches, body).await;
        // REQUIRETLS: a recipient whose attachments would go as a link bounces (5.7.30), and so
        // does one whose planned transaction is a link variant (an inbound separated message).
        let requiretls = crate::requiretls::requires_tls(info.sender_tls);
        let (linked, batches): (Vec<_>, Vec<_>) = batches
            .into_iter()
            .partition(|b| requiretls && b.variant.as_ref().is_some_and(|v| v.kind == Carriage::Link));
        let mut results: Vec<RcptResult> = held
            .into_iter()
            .chain(hidden)
            .map(|h| {
                let verdict = if requiretls && h.variant.kind == Carriage::Link {
                    Verdict::Bounced { status: crate::requiretls::STATUS.into(), reason: h.reason }
                } else {
                    Verdict::deferred("4.3.0", h.reason)
                };
                RcptResult { variant: Some(h.variant), ..result(h.rcpt, verdict) }
            })
            .collect();
        for batch in linked {
            let variant = batch.variant.clone().expect("a link batch has its variant");
            let reason = crate::requiretls::no_link(&variant.reason);
            let verdict = Verdict::Bounced { status: crate::requiretls::STATUS.into(), reason };
            results.extend(
                batch.rcpts.iter().map(|r| RcptResult { variant: Some(variant.clone()), ..result(r, verdict.clone()) }),
            );
        }
        let mut stop: Option<Stop> = None;
        for (n, batch) in batches.into_iter().enumerate() {
            if let Some(Stop::Clean(verdict) | Stop::Broken(verdict)) = &stop {
                let with_variant = |r: RcptResult| RcptResult { variant: batch.variant.clone(), ..r };
                results.extend(batch.rcpts.iter().map(|r| with_variant(result(r, verdict.clone()))));
                continue;
            }
            // Signed as it is sent, after every rewrite: S/MIME first, then DKIM over the
            // final bytes.
            let (data, smime) = self.smime.sign(info, batch.data, body).await;
            let (data, dkim) = self.dkim.sign(&info.id, info.origin, data, body).await;
            let with_variant = |r: RcptResult| RcptResult {
                variant: batch.variant.clone(),
                dkim: dkim.clone(),
                smime: smime.clone(),
                ..r
            };
            let specs: Vec<RcptSpec<'_>> = batch
                .rcpts
                .iter()
                .map(|r| RcptSpec { address: &r.address, notify: r.notify.as_deref(), orcpt: r.orcpt.as_deref() })
                .collect();
            let env = Envelope {
                sender: &info.sender,
                size: data.size(info.size),
                body_8bit: info.body_8bit,
                smtputf8: info.smtputf8,
                ret: info.ret.as_deref(),
                envid: info.envid.as_deref(),
                requiretls: crate::requiretls::relayed_with(info.sender_tls, &evidence, conn.caps.requiretls),
            };
            let sent = conn.send(&env, &specs, files.body_of(&data)).await;
            let first = n == 0;
            if first && reused && sent.is_err() && !conn.data_started() {
                // The server closed the idle connection before the data: once more on a fresh
                // one (after the data started, the server may have the message: no resend).
                return Carried::RetryFresh;
            }
            let (dsn, reusable) = (conn.caps.dsn, conn.reusable());
            let verdicts = match judge(sent, first, target, reusable) {
                Judged::HostFailed { permanent, status, reason } => {
                    self.release(conn);
                    let target = target.clone();
                    let failure = HostFailure { permanent, status, reason, target, tls, evidence: Some(evidence) };
                    return Carried::HostFailed(Box::new(failure));
                }
                Judged::All { verdict, stop: s } => {
                    stop = s;
                    vec![verdict; batch.rcpts.len()]
                }
                Judged::Each { verdicts, stop: s } => {
                    stop = s;
                    verdicts
                }
            };
            // A server that refuses the files inline for their size gets the link next time.
            let inline_files = files.may_have() && batch.variant.as_ref().is_some_and(|v| v.kind == Carriage::Inline);
            // The next hop's DSN support matters for recipients it accepted.
            results.extend(batch.rcpts.iter().zip(verdicts).map(|(r, verdict)| {
                let verdict = if inline_files { size_refusal_deferred(verdict, &target.host) } else { verdict };
                let next_hop_dsn = dsn && matches!(verdict, Verdict::Delivered { .. });
                with_variant(RcptResult { next_hop_dsn, ..result(r, verdict) })
            }));
        }
        // A connection whose last transaction went wrong is not used again.
        match stop {
            Some(Stop::Broken(_)) => drop(conn),
            Some(Stop::Clean(_)) | None => self.release(conn),
        }
        Carried::Done(results)
    }
}

/// What one transaction's result means.
enum Judged {
    /// The first transaction failed in a way another host might not.
    HostFailed { permanent: bool, status: String, reason: String },
    /// One verdict for every recipient of the transaction, and whether the session ends here.
    All { verdict: Verdict, stop: Option<Stop> },
    /// One verdict per recipient, in order.
    Each { verdicts: Vec<Verdict>, stop: Option<Stop> },
}

/// Reads the result of one transaction to `target` (`first` of the session; the connection
/// still `reusable`).
fn judge(sent: Result<Transaction, SessionError>, first: bool, target: &Target, reusable: bool) -> Judged {
    let one = |verdict: Verdict, stop: Option<Stop>| Judged::All { verdict, stop };
    match sent {
        Err(e) => {
            let verdict = Verdict::deferred("4.4.2", format!("{}[{}]: {e}", target.host, target.ip));
            one(verdict.clone(), Some(Stop::Broken(verdict)))
        }
        Ok(Transaction::Unsendable(u)) if first => Judged::HostFailed {
            permanent: true,
            status: u.status.into(),
            reason: format!("{}: {}", target.host, u.reason),
        },
        Ok(Transaction::MailRefused(r)) if first && !r.is_permanent() => Judged::HostFailed {
            permanent: false,
            status: status_of(&r),
            reason: format!("{}: {}", target.host, r.one_line()),
        },
        Ok(Transaction::Unsendable(u)) => {
            let reason = format!("{}: {}", target.host, u.reason);
            let verdict = Verdict::Deferred { status: format!("4{}", &u.status[1..]), reason };
            one(verdict.clone(), Some(Stop::Clean(verdict)))
        }
        Ok(Transaction::MailRefused(r)) => {
            let verdict = if r.is_permanent() {
                Verdict::Bounced { status: status_of(&r), reason: r.one_line() }
            } else {
                Verdict::Deferred { status: status_of(&r), reason: r.one_line() }
            };
            one(verdict, None)
        }
        Ok(Transaction::Done { rcpts, data }) => {
            let stop = (!data.as_ref().is_some_and(ServerReply::is_positive) && !reusable).then(|| {
                let reason = format!("{}[{}]: the session ended early", target.host, target.ip);
                Stop::Clean(Verdict::deferred("4.4.2", reason))
            });
            Judged::Each {
                verdicts: rcpts.into_iter().map(|reply| transaction_verdict(data.as_ref(), reply)).collect(),
                stop,
            }
        }
    }
}
