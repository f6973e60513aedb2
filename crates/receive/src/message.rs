//! Receiving one message: DATA bytes through the decoder into a spool body, trace fields in
//! front, then the commit. Memory stays flat: only the header block and one line are held.

use std::time::Duration;

use sekisho_smtp::received::{self, Trace};
use sekisho_smtp::{DataDecoder, DataError, Reply, Transaction, header};
use sekisho_store::{QueueId, StoreError, TempBody};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use crate::server::Ctx;

/// Facts about the session that go into the Received field and the queue.
pub(crate) struct Arrival<'a> {
    pub helo: &'a str,
    pub esmtp: bool,
    pub client_ip: std::net::IpAddr,
    pub listener: &'a str,
    pub submission: bool,
    /// The listener's largest message (`[[listener]] max_message_size`).
    pub max_message_size: u64,
    pub tls: Option<&'a (String, String)>,
    pub user: Option<&'a str>,
    /// What the client's DNS blocklists said (`[reputation]`); None when they do not apply
    /// (submission, trusted networks, authenticated clients, no list configured).
    pub reputation: Option<&'a sekisho_policy::sender::ReputationRecord>,
}

/// Why the data phase ended without a reply to send.
#[derive(Debug)]
pub(crate) enum Abort {
    /// The client was too slow (data timeout or minimum rate).
    Timeout,
    /// The client went away.
    Disconnected,
}

/// Reads the message content after 354 and returns the reply to the final dot.
pub(crate) async fn receive<S: AsyncRead + Unpin>(
    ctx: &Ctx,
    stream: &mut S,
    buf: &mut Vec<u8>,
    tx: &Transaction,
    arrival: &Arrival<'_>,
) -> Result<Reply, Abort> {
    let id = QueueId::generate();
    let limits = sekisho_smtp::DataLimits {
        max_message: usize::try_from(arrival.max_message_size).unwrap_or(usize::MAX),
        ..ctx.data_limits
    };
    let mut decoder = DataDecoder::new(limits);
    let mut body = Sink::new(ctx.queue.create_body(&id).await);
    let mut out = Vec::with_capacity(64 << 10);
    let timeout = ctx.config.smtp.data_timeout.0;
    let rate = ctx.config.smtp.min_data_rate as f64;
    let mut deadline = Instant::now() + timeout;
    let date = chrono::Local::now().to_rfc2822();
    // The header From's addresses, checked against the sender's account (`[senders]`).
    let mut header_from = Vec::new();
    // MX mail: the header block, for the sender findings (`[findings]`).
    let mut header = Vec::new();
    // RFC 8689: a `TLS-Required: No` field in the header block.
    let mut tls_required_no = false;
    loop {
        if !buf.is_empty() {
            let fed = decoder.feed(buf, &mut out);
            buf.drain(..fed.consumed);
            if let Some(h) = decoder.take_header() {
                header_from = sekisho_smtp::from_field::from_addresses(&h);
                tls_required_no = sekisho_smtp::header::tls_required_no(&h);
                keep_header(&mut header, arrival, &h);
                body.write(trace_fields(ctx, &id, tx, arrival, &h, &date).as_bytes()).await;
                body.write(&h).await;
            }
            body.write(&out).await;
            out.clear();
            if fed.done {
                break;
            }
        }
        buf.reserve(64 << 10);
        match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
            Err(_) => {
                body.discard().await;
                return Err(Abort::Timeout);
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                body.discard().await;
                return Err(Abort::Disconnected);
            }
            // Postfix's smtpd_min_data_rate: each byte buys 1/rate seconds more, never more
            // than data_timeout ahead, so fast bursts cannot bank idle time.
            Ok(Ok(n)) => deadline = (deadline + Duration::from_secs_f64(n as f64 / rate)).min(Instant::now() + timeout),
        }
    }
    let verdict = decoder.finish();
    // The end of DATA: the time to 250 counts from here.
    let data_end = std::time::Instant::now();
    if let Some(h) = decoder.take_header() {
        header_from = sekisho_smtp::from_field::from_addresses(&h);
        tls_required_no = sekisho_smtp::header::tls_required_no(&h);
        keep_header(&mut header, arrival, &h);
        body.write(trace_fields(ctx, &id, tx, arrival, &h, &date).as_bytes()).await;
        body.write(&h).await;
    }
    if let Err(e) = verdict {
        body.discard().await;
        tracing::info!(queue_id = %id, reason = %e, "message refused");
        return Ok(data_error_reply(&e));
    }
    let temp = match body.into_result() {
        Ok(t) => t,
        Err(e) => return Ok(store_error_reply(&id, &e)),
    };
    let finished = match temp.finish().await {
        Ok(f) => f,
        Err(e) => return Ok(store_error_reply(&id, &e)),
    };
    let seen = crate::accept::Seen {
        header_from,
        header,
        tls_required_no,
        body_8bit: decoder.saw_8bit() || tx.mail.body == sekisho_smtp::command::BodyType::EightBitMime,
        data_end,
    };
    Ok(crate::accept::accept(ctx, &id, finished, tx, arrival, seen).await)
}

/// Keeps a copy of an MX message's header block `h` in `header` (submitted mail needs none).
fn keep_header(header: &mut Vec<u8>, arrival: &Arrival<'_>, h: &[u8]) {
    if !arrival.submission {
        header.clear();
        header.extend_from_slice(h);
    }
}

/// Received, and on submission Message-ID and Date when the message has none.
fn trace_fields(ctx: &Ctx, id: &QueueId, tx: &Transaction, a: &Arrival<'_>, header: &[u8], date: &str) -> String {
    let single = (tx.recipients.len() == 1).then(|| tx.recipients[0].address.as_str());
    let tls = a.tls.map(|(v, c)| (v.as_str(), c.as_str()));
    let trace = Trace {
        helo: a.helo,
        client_ip: a.client_ip,
        hostname: &ctx.config.hostname,
        queue_id: id.as_str(),
        esmtp: a.esmtp,
        tls,
        authenticated: a.user.is_some(),
        single_recipient: single,
        date,
    };
    let mut fields = received::received_field(&trace);
    if a.submission {
        if !header::has_field(header, "Message-ID") {
            fields.push_str(&received::message_id_field(id.as_str(), &ctx.config.hostname));
        }
        if !header::has_field(header, "Date") {
            fields.push_str(&received::date_field(date));
        }
    }
    fields
}

/// The reply for content the decoder refused.
pub(crate) fn data_error_reply(e: &DataError) -> Reply {
    let text = format!("{e}; the message was not accepted");
    match e {
        DataError::BareLineEnding { .. } => Reply::new(550, "5.6.2", text),
        DataError::Nul { .. } => Reply::new(550, "5.6.0", text),
        DataError::LineTooLong { .. } => Reply::new(550, "5.6.0", text),
        DataError::HeaderTooLarge { .. } | DataError::MessageTooLarge { .. } => Reply::new(552, "5.3.4", text),
    }
}

pub(crate) fn store_error_reply(id: &QueueId, e: &StoreError) -> Reply {
    tracing::error!(queue_id = %id, error = %e, "message could not be queued");
    if e.is_storage_full() {
        Reply::new(452, "4.3.1", "Insufficient system storage; try again later")
    } else {
        Reply::new(451, "4.3.0", "Local error in processing; the message was not queued, try again later")
    }
}

/// The body being written, remembering the first write error so the rest of the data can
/// still be read and the client gets one reply.
struct Sink {
    body: Result<TempBody, StoreError>,
}

impl Sink {
    fn new(body: Result<TempBody, StoreError>) -> Self {
        Sink { body }
    }

    async fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Ok(b) = &mut self.body
            && let Err(e) = b.write(bytes).await
        {
            let failed = std::mem::replace(&mut self.body, Err(e));
            if let Ok(b) = failed {
                b.discard().await;
            }
        }
    }

    async fn discard(self) {
        if let Ok(b) = self.body {
            b.discard().await;
        }
    }

    fn into_result(self) -> Result<TempBody, StoreError> {
        self.body
    }
}
