//! DNS blocklists (`[reputation]`) on the MX listeners, for clients that are neither in the
//! listener's `trusted_networks` nor authenticated. The client's lists are asked as soon as the
//! connection is accepted ([`ClientLookup::start`]), so the answers arrive while the client
//! says EHLO, MAIL and RCPT; they are awaited at RCPT only when `reject_score` is set, else
//! after DATA. The domain lists are asked after DATA, for the envelope sender, the header From,
//! Reply-To and the links of the text and HTML bodies (`sekisho_reputation::MessageDomains`).
//! Every question is bounded by `timeout`; a list that does not answer counts nothing and is
//! noted in the record. The names asked about are not logged: they are in the message's
//! record only.

use std::path::Path;
use std::sync::Arc;

use sekisho_config::ReputationConfig;
use sekisho_dns::Blocklists;
use sekisho_policy::sender::{ReputationRecord, SenderFinding};
use sekisho_reputation::{Action, Answer, MessageDomains, Query, Source};
use sekisho_smtp::{Reply, Transaction};
use tokio::task::JoinHandle;

use crate::server::Ctx;

/// The client's lists for one connection: asked at connect, their answer kept once read.
pub(crate) struct ClientLookup {
    running: Option<JoinHandle<ReputationRecord>>,
    done: Option<ReputationRecord>,
}

impl ClientLookup {
    /// Starts asking the client lists about `ip` (a record without hits when there are none);
    /// None when the blocklists do not apply to this client.
    pub(crate) fn start(ctx: &Arc<Ctx>, ip: std::net::IpAddr, applies: bool) -> Option<ClientLookup> {
        let lists = ctx.blocklists.clone().filter(|_| applies)?;
        if ctx.config.reputation.client_lists.is_empty() {
            return Some(ClientLookup { running: None, done: Some(ReputationRecord::default()) });
        }
        let ctx = ctx.clone();
        let running = tokio::spawn(async move {
            let config = &ctx.config.reputation;
            let answered = ask(&lists, config, sekisho_reputation::client_queries(config, ip)).await;
            sekisho_reputation::tally(&answered)
        });
        Some(ClientLookup { running: Some(running), done: None })
    }

    /// The client's record, waiting for the lists (at most `timeout`) the first time.
    pub(crate) async fn record(&mut self) -> &ReputationRecord {
        if let Some(running) = self.running.take() {
            let record = running.await.unwrap_or_else(|e| ReputationRecord {
                unanswered: vec![format!("client lists: the lookup failed: {e}")],
                ..ReputationRecord::default()
            });
            self.done = Some(record);
        }
        self.done.get_or_insert_with(ReputationRecord::default)
    }

    /// The 550 at RCPT when the client's score alone reaches `reject_score`.
    pub(crate) async fn refusal(&mut self, config: &ReputationConfig, ip: std::net::IpAddr) -> Option<Reply> {
        config.reject_score?;
        let record = self.record().await;
        (sekisho_reputation::decide(config, record.score) == Action::Reject)
            .then(|| Reply::new(550, "5.7.1", sekisho_reputation::client_refusal(ip, record)))
    }
}

impl Drop for ClientLookup {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.abort();
        }
    }
}

/// Asks every query at once, each within `timeout`; the answers in the queries' order.
async fn ask<'c>(
    lists: &Arc<Blocklists>,
    config: &ReputationConfig,
    queries: Vec<Query<'c>>,
) -> Vec<(Query<'c>, Answer)> {
    let timeout = config.timeout.0;
    let mut set = tokio::task::JoinSet::new();
    for (i, q) in queries.iter().enumerate() {
        let (lists, name) = (lists.clone(), q.name.clone());
        set.spawn(async move {
            let answer = match tokio::time::timeout(timeout, lists.lookup(&name)).await {
                Ok(Ok(addresses)) => Answer::Addresses(addresses),
                Ok(Err(e)) => Answer::Unanswered(format!("the lookup failed: {e}")),
                Err(_) => Answer::Unanswered(format!("no answer within {}", words(timeout))),
            };
            (i, answer)
        });
    }
    let mut answers: Vec<Option<Answer>> = vec![None; queries.len()];
    while let Some(done) = set.join_next().await {
        if let Ok((i, answer)) = done {
            answers[i] = Some(answer);
        }
    }
    queries
        .into_iter()
        .zip(answers)
        .map(|(q, a)| (q, a.unwrap_or_else(|| Answer::Unanswered("the lookup failed".into()))))
        .collect()
}

/// "2s", "500ms".
fn words(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// What the lists decided for one message.
pub(crate) struct Checked {
    /// The 550 when the score reaches `reject_score`.
    pub refusal: Option<Reply>,
    /// Kept with the message (`SenderRecord::reputation`).
    pub record: ReputationRecord,
    /// The findings shown to the recipient (the score reached `tag_score`).
    pub findings: Vec<SenderFinding>,
    /// The score reached `quarantine_score`.
    pub quarantine: bool,
}

/// The client's record and the domain lists' answers about the message at `path` (its
/// header block `header`), added up and decided.
pub(crate) async fn check(
    ctx: &Ctx,
    client: &ReputationRecord,
    tx: &Transaction,
    header: &[u8],
    path: &Path,
) -> Checked {
    let config = &ctx.config.reputation;
    let mut record = client.clone();
    if let Some(lists) = ctx.blocklists.as_ref().filter(|_| !config.domain_lists.is_empty()) {
        let domains = message_domains(config, &tx.mail.address, header, path).await;
        let answered = ask(lists, config, sekisho_reputation::domain_queries(config, &domains)).await;
        let domain_record = sekisho_reputation::tally(&answered);
        record.score = record.score.saturating_add(domain_record.score);
        record.hits.extend(domain_record.hits);
        record.unanswered.extend(domain_record.unanswered);
    }
    let (record, action) = sekisho_reputation::evaluate(config, record);
    let findings = sekisho_reputation::findings(&record, action);
    let refusal =
        (action == Action::Reject).then(|| Reply::new(550, "5.7.1", sekisho_reputation::message_refusal(&record)));
    Checked { refusal, findings, quarantine: action == Action::Quarantine, record }
}

/// The message's domains to ask about: the envelope sender, From, Reply-To, then the links of
/// its text and HTML bodies (read from the spooled message on a blocking thread).
async fn message_domains(
    config: &ReputationConfig,
    envelope_sender: &str,
    header: &[u8],
    path: &Path,
) -> Vec<(String, Source)> {
    let header = sekisho_findings::SenderHeader::parse(header);
    let from: Vec<String> = header.from.iter().map(|m| m.address.clone()).collect();
    let reply_to: Vec<String> = header.reply_to.iter().map(|m| m.address.clone()).collect();
    let path = path.to_path_buf();
    let bodies = tokio::task::spawn_blocking(move || {
        let raw = std::fs::read(path).ok()?;
        let bodies = sekisho_inspect::mime::text_bodies(&raw, &sekisho_inspect::mime::MessageLimits::default()).ok()?;
        Some(bodies.parts.into_iter().map(|p| p.text).collect::<Vec<String>>())
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_default();
    let m = MessageDomains { envelope_sender, from: &from, reply_to: &reply_to, bodies: &bodies };
    m.domains(config.max_domains)
}
