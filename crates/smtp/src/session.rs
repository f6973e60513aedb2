//! The SMTP server session as a state machine: lines in, replies and next steps out.
//!
//! The I/O layer owns sockets, TLS, the password check and the spool; it tells the session what
//! happened (`tls_established`, `auth_result`, `data_finished`) and does what `Action::next`
//! says. Every counter that bounds a client (errors, junk commands, recipients, failed AUTH)
//! lives here.

use std::sync::Arc;

use base64::Engine as _;

use crate::address;
use crate::command::{self, AuthMechanism, BodyType, Command, MailParams, RcptParams};
use crate::data::BareLineEndings;
use crate::line::FramedLine;
use crate::relay;
use crate::reply::Reply;
use crate::verify::{self, RecipientVerdict, SenderVerdict};

/// What a listener is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerRole {
    /// Users' mail programs: relays anywhere for authenticated users and trusted networks.
    Submission,
    /// Mail from the internet: accepted only for the local domains.
    Mx,
}

/// Limits enforced by the session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Largest message in bytes, announced in EHLO SIZE.
    pub max_message_size: u64,
    /// Recipients per message; more get 452.
    pub max_recipients: usize,
    /// Error replies before 421 and close.
    pub max_errors: u32,
    /// NOOP/RSET/VRFY/HELP/EXPN before 421 and close.
    pub max_junk_commands: u32,
    /// Failed AUTH attempts before 421 and close.
    pub max_auth_failures: u32,
    /// Unknown recipients (550 5.1.1) before the next RCPT gets 421 and close.
    pub max_unknown_recipients: u32,
}

/// Everything the session needs to know about its listener and client.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Host name used in the greeting and EHLO.
    pub hostname: String,
    /// Role of the listener.
    pub role: ListenerRole,
    /// Domains accepted on an MX listener.
    pub local_domains: Arc<[String]>,
    /// Limits.
    pub limits: SessionLimits,
    /// STARTTLS can be offered.
    pub tls_available: bool,
    /// AUTH may be used before TLS (explicit option, loopback clients only).
    pub plaintext_auth_allowed: bool,
    /// The client is in the listener's trusted networks.
    pub client_trusted: bool,
    /// Policy for bare CR/LF, also applied to command lines.
    pub bare_line_endings: BareLineEndings,
    /// MX listener: each new recipient is checked by the I/O layer (`Next::VerifyRecipient`).
    pub verify_recipients: bool,
    /// Submission listener: the sender of an authenticated or trusted client is checked by the
    /// I/O layer (`Next::VerifySender`).
    pub verify_senders: bool,
    /// RFC 8689: REQUIRETLS is advertised after STARTTLS and `MAIL FROM:<..> REQUIRETLS` taken.
    pub requiretls: bool,
}

/// The envelope of the message being received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// MAIL FROM and its parameters.
    pub mail: MailParams,
    /// Accepted recipients, in order, without duplicates.
    pub recipients: Vec<RcptParams>,
}

/// What the I/O layer does after sending `replies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Read the next command.
    Continue,
    /// Close the connection.
    Close,
    /// Discard buffered input, run the TLS handshake, then call `tls_established`.
    StartTls,
    /// Receive message content, then call `data_finished`.
    ReceiveData,
    /// Check these credentials, then call `auth_result`.
    VerifyAuth { user: String, password: String },
    /// Ask the recipient sources about this address, then call `recipient_verdict`.
    VerifyRecipient { address: String },
    /// Check that the authenticated `user` (or, with `None`, the trusted network) may send as
    /// `address`, then call `sender_verdict`.
    VerifySender { user: Option<String>, address: String },
}

/// Replies to send, then the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Replies in order.
    pub replies: Vec<Reply>,
    /// What follows.
    pub next: Next,
}

/// Outcome of a credential check done by the I/O layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Credentials valid.
    Success,
    /// Credentials invalid.
    Failure,
    /// Too many recent failures from this client address: not checked.
    Throttled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Command,
    AuthPlain,
    AuthLoginUser,
    AuthLoginPassword { user: String },
    Data,
    Closed,
}

/// One SMTP server session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    phase: Phase,
    helo: Option<(String, bool)>,
    tls: bool,
    user: Option<String>,
    tx: Option<Transaction>,
    errors: u32,
    junk: u32,
    auth_failures: u32,
    /// Recipients refused as unknown in this session.
    unknown: u32,
    /// The recipient waiting for `recipient_verdict`.
    pending: Option<RcptParams>,
    /// The MAIL FROM waiting for `sender_verdict`.
    pending_mail: Option<MailParams>,
}

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Session {
    /// A new session; send `greeting()` first.
    pub fn new(cfg: SessionConfig) -> Self {
        Session {
            cfg,
            phase: Phase::Command,
            helo: None,
            tls: false,
            user: None,
            tx: None,
            errors: 0,
            junk: 0,
            auth_failures: 0,
            unknown: 0,
            pending: None,
            pending_mail: None,
        }
    }

    /// The 220 greeting.
    pub fn greeting(&self) -> Reply {
        Reply::plain(220, vec![format!("{} ESMTP sekisho", self.cfg.hostname)])
    }

    /// The reply for a client that was too slow.
    pub fn timeout_reply() -> Reply {
        Reply::new(421, "4.4.2", "Timeout exceeded, closing connection")
    }

    /// The EHLO/HELO name, and whether EHLO was used.
    pub fn helo(&self) -> Option<(&str, bool)> {
        self.helo.as_ref().map(|(h, e)| (h.as_str(), *e))
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// True once STARTTLS completed.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The configuration this session runs with.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The envelope collected so far, for the data phase.
    pub fn transaction(&self) -> Option<&Transaction> {
        self.tx.as_ref()
    }

    /// Handles one framed input line.
    pub fn on_line(&mut self, line: FramedLine) -> Action {
        let bytes = match line {
            FramedLine::TooLong => {
                // An over-long line also ends an AUTH dialogue: the next line is a command.
                if self.phase != Phase::Closed {
                    self.phase = Phase::Command;
                }
                return self.error(Reply::new(500, "5.5.2", "Line too long"));
            }
            FramedLine::BareLf(_) if self.cfg.bare_line_endings == BareLineEndings::Reject => {
                return self.error(Reply::new(500, "5.5.2", "Command lines must end with CRLF"));
            }
            FramedLine::BareLf(b) | FramedLine::Line(b) => b,
        };
        match std::mem::replace(&mut self.phase, Phase::Command) {
            Phase::Command => self.on_command(&bytes),
            Phase::AuthPlain => self.auth_plain_response(&bytes),
            Phase::AuthLoginUser => self.auth_login_user(&bytes),
            Phase::AuthLoginPassword { user } => self.auth_login_password(user, &bytes),
            Phase::Data | Phase::Closed => {
                self.phase = Phase::Closed;
                self.close(Reply::new(421, "4.3.0", "Internal state error, closing connection"))
            }
        }
    }

    /// TLS is up: RFC 3207 says forget everything learned before it.
    pub fn tls_established(&mut self) {
        self.tls = true;
        self.helo = None;
        self.tx = None;
        self.user = None;
        self.phase = Phase::Command;
    }

    /// The result of the credential check asked for with `Next::VerifyAuth`.
    pub fn auth_result(&mut self, user: String, outcome: AuthOutcome) -> Action {
        match outcome {
            AuthOutcome::Success => {
                self.user = Some(user);
                self.reply(Reply::new(235, "2.7.0", "Authentication successful"))
            }
            AuthOutcome::Throttled => self.close(Reply::new(
                421,
                "4.7.0",
                "Too many failed authentications from your address; try again later",
            )),
            AuthOutcome::Failure => {
                self.auth_failures += 1;
                let reply = Reply::new(535, "5.7.8", "Authentication credentials invalid");
                if self.auth_failures >= self.cfg.limits.max_auth_failures {
                    let mut a = self.close(Reply::new(421, "4.7.0", "Too many failed authentications"));
                    a.replies.insert(0, reply);
                    return a;
                }
                self.error(reply)
            }
        }
    }

    /// The data phase ended with `reply` (250 with the queue ID, or a refusal).
    pub fn data_finished(&mut self, reply: Reply) -> Action {
        self.phase = Phase::Command;
        self.tx = None;
        if reply.is_error() {
            return self.error(reply);
        }
        // Like Postfix's hard error limit: errors count "without delivering mail".
        self.errors = 0;
        self.junk = 0;
        self.reply(reply)
    }

    /// The verdict on the recipient asked for with `Next::VerifyRecipient`.
    pub fn recipient_verdict(&mut self, verdict: RecipientVerdict) -> Action {
        let (Some(r), Some(_)) = (self.pending.take(), &self.tx) else {
            return self.close(Reply::new(421, "4.3.0", "Internal state error, closing connection"));
        };
        match verdict.refusal(&r.address) {
            None => self.accept_recipient(r),
            Some(reply) if verdict == RecipientVerdict::Unknown => {
                self.unknown += 1;
                self.error(reply)
            }
            // Counted like any refusal (as Postfix's error count does): a client cannot make
            // endless callouts while the internal server is down.
            Some(reply) => self.error(reply),
        }
    }

    /// The verdict on the sender asked for with `Next::VerifySender`.
    pub fn sender_verdict(&mut self, verdict: SenderVerdict) -> Action {
        let Some(m) = self.pending_mail.take() else {
            return self.close(Reply::new(421, "4.3.0", "Internal state error, closing connection"));
        };
        match verdict.refusal(&m.address) {
            None => self.open_transaction(m),
            Some(reply) => self.error(reply),
        }
    }

    /// Refuses the current command for a reason found by the I/O layer (e.g. storage low).
    pub fn refuse(&mut self, reply: Reply) -> Action {
        self.error(reply)
    }

    fn on_command(&mut self, bytes: &[u8]) -> Action {
        if is_http(bytes) {
            return self.close(Reply::new(421, "4.7.0", "This is an SMTP server, not a web server"));
        }
        let cmd = match command::parse(bytes) {
            Ok(c) => c,
            Err(reply) => return self.error(reply),
        };
        match cmd {
            Command::Ehlo(host) => self.ehlo(host, true),
            Command::Helo(host) => self.ehlo(host, false),
            Command::Mail(m) => self.mail(m),
            Command::Rcpt(r) => self.rcpt(r),
            Command::Data => self.data(),
            Command::Rset => {
                self.tx = None;
                self.junk(Reply::new(250, "2.0.0", "Ok"))
            }
            Command::Noop => self.junk(Reply::new(250, "2.0.0", "Ok")),
            Command::Vrfy => self.junk(Reply::new(252, "2.5.0", "Cannot VRFY user; try RCPT to attempt delivery")),
            Command::Help => self.junk(Reply::new(214, "2.0.0", "sekisho: see RFC 5321")),
            Command::Expn => self.error(Reply::new(502, "5.5.1", "EXPN is disabled")),
            Command::Quit => self.close(Reply::new(221, "2.0.0", "Bye")),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial),
            Command::NotImplemented(name) => self.error(Reply::new(502, "5.5.1", format!("{name} is not implemented"))),
        }
    }

    fn ehlo(&mut self, host: String, esmtp: bool) -> Action {
        self.tx = None;
        self.helo = Some((host, esmtp));
        if !esmtp {
            return self.reply(Reply::plain(250, vec![self.cfg.hostname.clone()]));
        }
        let mut lines =
            vec![self.cfg.hostname.clone(), "PIPELINING".into(), format!("SIZE {}", self.cfg.limits.max_message_size)];
        if self.cfg.tls_available && !self.tls {
            lines.push("STARTTLS".into());
        }
        // RFC 8689: only where the session itself is TLS.
        if self.requiretls_offered() {
            lines.push("REQUIRETLS".into());
        }
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.extend(["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8"].map(String::from));
        self.reply(Reply::plain(250, lines))
    }

    fn requiretls_offered(&self) -> bool {
        self.cfg.requiretls && self.tls
    }

    fn auth_offered(&self) -> bool {
        self.cfg.role == ListenerRole::Submission
            && self.user.is_none()
            && (self.tls || self.cfg.plaintext_auth_allowed)
    }

    fn mail(&mut self, m: MailParams) -> Action {
        let Some((_, esmtp)) = self.helo else {
            return self.error(Reply::new(503, "5.5.1", "Send EHLO or HELO first"));
        };
        if self.tx.is_some() {
            return self.error(Reply::new(503, "5.5.1", "Nested MAIL command"));
        }
        let has_params = m.size.is_some()
            || m.body != BodyType::SevenBit
            || m.smtputf8
            || m.ret.is_some()
            || m.envid.is_some()
            || m.requiretls;
        if !esmtp && has_params {
            return self.error(Reply::new(555, "5.5.4", "MAIL parameters require EHLO"));
        }
        if m.requiretls && !self.cfg.requiretls {
            return self.error(Reply::new(555, "5.5.4", "REQUIRETLS is not offered on this listener"));
        }
        if m.requiretls && !self.tls {
            // RFC 8689: REQUIRETLS is given only over a session that is itself TLS.
            return self.error(Reply::new(
                530,
                "5.7.10",
                "REQUIRETLS needs a TLS session: issue STARTTLS first (RFC 8689)",
            ));
        }
        if !m.address.is_empty() {
            match address::split(&m.address) {
                Some(mb) if address::valid_domain(mb.domain) => {}
                _ => return self.error(Reply::new(501, "5.1.7", "Bad sender address syntax")),
            }
        }
        if !m.smtputf8 && !m.address.is_ascii() {
            return self.error(Reply::new(553, "5.6.7", "Non-ASCII sender address requires the SMTPUTF8 parameter"));
        }
        if m.size.is_some_and(|s| s > self.cfg.limits.max_message_size) {
            return self.error(Reply::new(
                552,
                "5.3.4",
                format!("Message size exceeds the fixed maximum of {} bytes", self.cfg.limits.max_message_size),
            ));
        }
        let checked = self.user.is_some() || self.cfg.client_trusted;
        if self.cfg.verify_senders && self.cfg.role == ListenerRole::Submission && checked {
            let (user, address) = (self.user.clone(), m.address.clone());
            self.pending_mail = Some(m);
            return Action { replies: vec![], next: Next::VerifySender { user, address } };
        }
        self.open_transaction(m)
    }

    fn open_transaction(&mut self, m: MailParams) -> Action {
        let sender = if m.address.is_empty() { "<>".to_string() } else { m.address.clone() };
        self.tx = Some(Transaction { mail: m, recipients: Vec::new() });
        self.reply(Reply::new(250, "2.1.0", format!("Sender <{}> ok", sender.trim_matches(['<', '>']))))
    }

    fn rcpt(&mut self, mut r: RcptParams) -> Action {
        let Some(tx) = &self.tx else {
            return self.error(Reply::new(503, "5.5.1", "Need MAIL command first"));
        };
        // Not an oracle: a session that tried too many unknown addresses gets no more answers.
        if self.verifies() && self.unknown >= self.cfg.limits.max_unknown_recipients {
            return self.close(verify::too_many_unknown(self.cfg.limits.max_unknown_recipients));
        }
        if r.address.eq_ignore_ascii_case("postmaster") {
            // RFC 5321 §4.5.1: <Postmaster> without a domain reaches this system's postmaster.
            match self.cfg.local_domains.first() {
                Some(domain) => r.address = format!("postmaster@{domain}"),
                None => return self.error(Reply::new(550, "5.1.1", "No postmaster mailbox here")),
            }
        }
        if r.address.is_empty() {
            return self.error(Reply::new(501, "5.1.3", "Bad recipient address syntax"));
        }
        if !tx.mail.smtputf8 && !r.address.is_ascii() {
            return self.error(Reply::new(553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8 in MAIL FROM"));
        }
        let authorized = self.user.is_some() || self.cfg.client_trusted;
        if let Err(reply) = relay::authorize_recipient(self.cfg.role, authorized, &self.cfg.local_domains, &r.address) {
            return self.error(reply);
        }
        if tx.recipients.len() >= self.cfg.limits.max_recipients {
            // Not a client error (RFC 5321 §4.5.3.1.10): the client sends the rest later.
            return self.reply(Reply::new(
                452,
                "4.5.3",
                format!("Too many recipients (limit {} per message)", self.cfg.limits.max_recipients),
            ));
        }
        let known = tx.recipients.iter().any(|x| x.address.eq_ignore_ascii_case(&r.address));
        if self.verifies() && !known {
            let address = r.address.clone();
            self.pending = Some(r);
            return Action { replies: vec![], next: Next::VerifyRecipient { address } };
        }
        self.accept_recipient(r)
    }

    fn verifies(&self) -> bool {
        self.cfg.verify_recipients && self.cfg.role == ListenerRole::Mx
    }

    fn accept_recipient(&mut self, mut r: RcptParams) -> Action {
        let tx = self.tx.as_mut().expect("a recipient is only taken within a transaction");
        if !tx.recipients.iter().any(|x| x.address.eq_ignore_ascii_case(&r.address)) {
            r.address.shrink_to_fit();
            tx.recipients.push(r.clone());
        }
        self.reply(Reply::new(250, "2.1.5", format!("Recipient <{}> ok", r.address)))
    }

    fn data(&mut self) -> Action {
        match &self.tx {
            None => self.error(Reply::new(503, "5.5.1", "Need MAIL command first")),
            Some(tx) if tx.recipients.is_empty() => self.error(Reply::new(554, "5.5.1", "No valid recipients")),
            Some(_) => {
                self.phase = Phase::Data;
                Action {
                    replies: vec![Reply::plain(354, vec!["End data with <CR><LF>.<CR><LF>".into()])],
                    next: Next::ReceiveData,
                }
            }
        }
    }

    fn starttls(&mut self) -> Action {
        if self.tls {
            return self.error(Reply::new(503, "5.5.1", "TLS already active"));
        }
        if !self.cfg.tls_available {
            return self.error(Reply::new(502, "5.5.1", "STARTTLS is not available"));
        }
        Action { replies: vec![Reply::new(220, "2.0.0", "Ready to start TLS")], next: Next::StartTls }
    }

    fn auth(&mut self, mechanism: Option<AuthMechanism>, initial: Option<String>) -> Action {
        if self.cfg.role != ListenerRole::Submission {
            return self.error(Reply::new(503, "5.5.1", "AUTH is not available on this listener"));
        }
        if self.helo.is_none() {
            return self.error(Reply::new(503, "5.5.1", "Send EHLO first"));
        }
        if self.user.is_some() {
            return self.error(Reply::new(503, "5.5.1", "Already authenticated"));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(503, "5.5.1", "AUTH is not allowed during a mail transaction"));
        }
        if !self.tls && !self.cfg.plaintext_auth_allowed {
            return self.error(Reply::new(538, "5.7.11", "Encryption required: use STARTTLS before AUTH"));
        }
        match (mechanism, initial) {
            (None, _) => {
                self.error(Reply::new(504, "5.5.4", "Unrecognized authentication mechanism; use PLAIN or LOGIN"))
            }
            (Some(AuthMechanism::Plain), Some(resp)) => self.auth_plain_response(resp.as_bytes()),
            (Some(AuthMechanism::Plain), None) => self.challenge(Phase::AuthPlain, ""),
            (Some(AuthMechanism::Login), Some(resp)) => self.auth_login_user(resp.as_bytes()),
            (Some(AuthMechanism::Login), None) => self.challenge(Phase::AuthLoginUser, "VXNlcm5hbWU6"),
        }
    }

    fn challenge(&mut self, phase: Phase, text: &str) -> Action {
        self.phase = phase;
        Action { replies: vec![Reply::plain(334, vec![text.to_string()])], next: Next::Continue }
    }

    fn decode_response(&mut self, bytes: &[u8]) -> Result<Vec<u8>, Action> {
        if bytes == b"*" {
            return Err(self.error(Reply::new(501, "5.7.0", "Authentication cancelled")));
        }
        BASE64.decode(bytes).map_err(|_| self.error(Reply::new(501, "5.5.2", "Invalid base64 data")))
    }

    fn auth_plain_response(&mut self, bytes: &[u8]) -> Action {
        let decoded = match self.decode_response(bytes) {
            Ok(d) => d,
            Err(a) => return a,
        };
        let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let [authz, user, password] = parts.as_slice() else {
            return self.error(Reply::new(501, "5.5.2", "Malformed PLAIN response"));
        };
        if !authz.is_empty() && authz != user {
            return self.error(Reply::new(535, "5.7.8", "Authorization identity must match the user"));
        }
        self.verify(user, password)
    }

    fn auth_login_user(&mut self, bytes: &[u8]) -> Action {
        match self.decode_response(bytes) {
            Ok(user) => match String::from_utf8(user) {
                Ok(user) => self.challenge(Phase::AuthLoginPassword { user }, "UGFzc3dvcmQ6"),
                Err(_) => self.error(Reply::new(501, "5.5.2", "User name is not UTF-8")),
            },
            Err(a) => a,
        }
    }

    fn auth_login_password(&mut self, user: String, bytes: &[u8]) -> Action {
        match self.decode_response(bytes) {
            Ok(password) => self.verify(user.as_bytes(), &password),
            Err(a) => a,
        }
    }

    fn verify(&mut self, user: &[u8], password: &[u8]) -> Action {
        match (std::str::from_utf8(user), std::str::from_utf8(password)) {
            (Ok(u), Ok(p)) if !u.is_empty() && !u.chars().any(char::is_control) => {
                Action { replies: vec![], next: Next::VerifyAuth { user: u.to_string(), password: p.to_string() } }
            }
            _ => self.auth_result(String::new(), AuthOutcome::Failure),
        }
    }

    fn reply(&mut self, reply: Reply) -> Action {
        Action { replies: vec![reply], next: Next::Continue }
    }

    fn close(&mut self, reply: Reply) -> Action {
        self.phase = Phase::Closed;
        Action { replies: vec![reply], next: Next::Close }
    }

    fn error(&mut self, reply: Reply) -> Action {
        self.errors += 1;
        if reply.closes() {
            return self.close(reply);
        }
        if self.errors >= self.cfg.limits.max_errors {
            let mut a = self.close(Reply::new(421, "4.7.0", "Too many errors, closing connection"));
            a.replies.insert(0, reply);
            return a;
        }
        self.reply(reply)
    }

    fn junk(&mut self, reply: Reply) -> Action {
        self.junk += 1;
        if self.junk > self.cfg.limits.max_junk_commands {
            return self.close(Reply::new(421, "4.7.0", "Too many junk commands, closing connection"));
        }
        self.reply(reply)
    }
}

fn is_http(bytes: &[u8]) -> bool {
    ["GET ", "POST ", "HEAD ", "PUT ", "CONNECT "].iter().any(|m| bytes.starts_with(m.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(role: ListenerRole) -> SessionConfig {
        SessionConfig {
            hostname: "gw.example.jp".into(),
            role,
            local_domains: Arc::from(vec!["example.jp".to_string()]),
            limits: SessionLimits {
                max_message_size: 1000,
                max_recipients: 3,
                max_errors: 10,
                max_junk_commands: 4,
                max_auth_failures: 2,
                max_unknown_recipients: 2,
            },
            tls_available: true,
            plaintext_auth_allowed: false,
            client_trusted: false,
            bare_line_endings: BareLineEndings::Reject,
            verify_recipients: false,
            verify_senders: false,
            requiretls: true,
        }
    }

    fn send(s: &mut Session, line: &str) -> Action {
        s.on_line(FramedLine::Line(line.as_bytes().to_vec()))
    }

    fn codes(a: &Action) -> Vec<u16> {
        a.replies.iter().map(|r| r.code).collect()
    }

    #[test]
    fn mx_transaction_to_local_domain() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        let ehlo = send(&mut s, "EHLO client.example");
        let text = ehlo.replies[0].to_wire();
        for cap in ["PIPELINING", "SIZE 1000", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8"] {
            assert!(text.contains(cap), "{cap} missing in {text}");
        }
        assert!(!text.contains("AUTH"), "no AUTH on an MX listener");
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@example.com> RET=FULL")), [250]);
        assert_eq!(codes(&send(&mut s, "RCPT TO:<bob@example.jp> NOTIFY=FAILURE")), [250]);
        assert_eq!(codes(&send(&mut s, "RCPT TO:<eve@elsewhere.example>")), [554]);
        let a = send(&mut s, "DATA");
        assert_eq!((codes(&a), a.next), (vec![354], Next::ReceiveData));
        let tx = s.transaction().unwrap();
        assert_eq!(tx.recipients.len(), 1);
        assert_eq!(tx.recipients[0].notify.as_deref(), Some("FAILURE"));
        s.data_finished(Reply::new(250, "2.0.0", "queued"));
        assert!(s.transaction().is_none());
    }

    #[test]
    fn order_of_commands_is_enforced() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example>")), [503]);
        send(&mut s, "HELO x");
        assert_eq!(codes(&send(&mut s, "RCPT TO:<bob@example.jp>")), [503]);
        assert_eq!(codes(&send(&mut s, "DATA")), [503]);
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example>")), [250]);
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example>")), [503]);
        assert_eq!(codes(&send(&mut s, "DATA")), [554]);
    }

    #[test]
    fn params_after_helo_are_refused() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        send(&mut s, "HELO x");
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example> SIZE=10")), [555]);
    }

    #[test]
    fn size_over_limit_is_552_at_mail() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        send(&mut s, "EHLO x");
        let a = send(&mut s, "MAIL FROM:<a@b.example> SIZE=1001");
        assert_eq!((a.replies[0].code, a.replies[0].status), (552, Some("5.3.4")));
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example> SIZE=1000")), [250]);
    }

    #[test]
    fn recipient_limit_gives_452() {
        let mut s = Session::new(SessionConfig { client_trusted: true, ..cfg(ListenerRole::Submission) });
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b.example>");
        for i in 0..3 {
            assert_eq!(codes(&send(&mut s, &format!("RCPT TO:<r{i}@c.example>"))), [250]);
        }
        let a = send(&mut s, "RCPT TO:<r4@c.example>");
        assert_eq!((a.replies[0].code, a.replies[0].status), (452, Some("4.5.3")));
    }

    #[test]
    fn submission_needs_auth_or_trust() {
        let mut s = Session::new(cfg(ListenerRole::Submission));
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b.example>");
        let a = send(&mut s, "RCPT TO:<x@anywhere.example>");
        assert_eq!((a.replies[0].code, a.replies[0].status), (554, Some("5.7.1")));
    }

    #[test]
    fn auth_requires_tls_and_resets_after_starttls() {
        let mut s = Session::new(cfg(ListenerRole::Submission));
        let text = send(&mut s, "EHLO x").replies[0].to_wire();
        assert!(!text.contains("AUTH"));
        assert_eq!(codes(&send(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==")), [538]);
        send(&mut s, "MAIL FROM:<a@b.example>");
        assert_eq!(send(&mut s, "STARTTLS").next, Next::StartTls);
        s.tls_established();
        assert!(s.transaction().is_none());
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example>")), [503], "EHLO is needed again");
        let text = send(&mut s, "EHLO x").replies[0].to_wire();
        assert!(text.contains("AUTH PLAIN LOGIN") && !text.contains("STARTTLS"));
        let a = send(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==");
        assert_eq!(a.next, Next::VerifyAuth { user: "alice".into(), password: "secret".into() });
        assert_eq!(codes(&s.auth_result("alice".into(), AuthOutcome::Success)), [235]);
        assert_eq!(s.user(), Some("alice"));
        send(&mut s, "MAIL FROM:<alice@example.jp>");
        assert_eq!(codes(&send(&mut s, "RCPT TO:<x@anywhere.example>")), [250]);
    }

    #[test]
    fn auth_login_dialogue() {
        let mut s = Session::new(SessionConfig { plaintext_auth_allowed: true, ..cfg(ListenerRole::Submission) });
        send(&mut s, "EHLO x");
        let a = send(&mut s, "AUTH LOGIN");
        assert_eq!(a.replies[0].to_wire(), "334 VXNlcm5hbWU6\r\n");
        let a = send(&mut s, "YWxpY2U=");
        assert_eq!(a.replies[0].to_wire(), "334 UGFzc3dvcmQ6\r\n");
        let a = send(&mut s, "c2VjcmV0");
        assert_eq!(a.next, Next::VerifyAuth { user: "alice".into(), password: "secret".into() });
    }

    #[test]
    fn failed_auth_closes_after_the_limit() {
        let mut s = Session::new(SessionConfig { plaintext_auth_allowed: true, ..cfg(ListenerRole::Submission) });
        send(&mut s, "EHLO x");
        send(&mut s, "AUTH PLAIN AGFsaWNlAHdyb25n");
        assert_eq!(codes(&s.auth_result("alice".into(), AuthOutcome::Failure)), [535]);
        send(&mut s, "AUTH PLAIN AGFsaWNlAHdyb25n");
        let a = s.auth_result("alice".into(), AuthOutcome::Failure);
        assert_eq!((codes(&a), a.next), (vec![535, 421], Next::Close));
    }

    #[test]
    fn auth_cancel_and_garbage() {
        let mut s = Session::new(SessionConfig { plaintext_auth_allowed: true, ..cfg(ListenerRole::Submission) });
        send(&mut s, "EHLO x");
        send(&mut s, "AUTH PLAIN");
        assert_eq!(codes(&send(&mut s, "*")), [501]);
        send(&mut s, "AUTH PLAIN");
        assert_eq!(codes(&send(&mut s, "!!!not base64")), [501]);
        assert_eq!(codes(&send(&mut s, "NOOP")), [250], "back in command phase");
    }

    #[test]
    fn error_limit_closes_with_421() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        for _ in 0..9 {
            assert_eq!(send(&mut s, "BOGUS").next, Next::Continue);
        }
        let a = send(&mut s, "BOGUS");
        assert_eq!((codes(&a), a.next), (vec![500, 421], Next::Close));
    }

    #[test]
    fn junk_limit_closes_with_421() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        for _ in 0..4 {
            assert_eq!(codes(&send(&mut s, "NOOP")), [250]);
        }
        let a = send(&mut s, "NOOP");
        assert_eq!((codes(&a), a.next), (vec![421], Next::Close));
    }

    #[test]
    fn vrfy_is_252_and_bare_lf_commands_are_refused() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        assert_eq!(codes(&send(&mut s, "VRFY root")), [252]);
        assert_eq!(codes(&s.on_line(FramedLine::BareLf(b"NOOP".to_vec()))), [500]);
        assert_eq!(codes(&s.on_line(FramedLine::TooLong)), [500]);
    }

    #[test]
    fn smtputf8_addresses_need_the_parameter() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        send(&mut s, "EHLO x");
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<ü@b.example>")), [553]);
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<ü@b.example> SMTPUTF8")), [250]);
    }

    #[test]
    fn http_request_is_closed() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        assert_eq!(send(&mut s, "GET / HTTP/1.1").next, Next::Close);
    }

    #[test]
    fn postmaster_without_domain_is_the_local_postmaster() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b.example>");
        assert_eq!(codes(&send(&mut s, "RCPT TO:<Postmaster>")), [250]);
        assert_eq!(s.transaction().unwrap().recipients[0].address, "postmaster@example.jp");
        let mut s = Session::new(cfg(ListenerRole::Mx));
        send(&mut s, "EHLO x");
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<postmaster>")), [501], "a sender needs a domain");
    }

    #[test]
    fn delivered_mail_resets_the_error_count_and_452_is_not_an_error() {
        let mut s = Session::new(SessionConfig { client_trusted: true, ..cfg(ListenerRole::Submission) });
        send(&mut s, "EHLO x");
        for _ in 0..9 {
            send(&mut s, "BOGUS");
        }
        send(&mut s, "MAIL FROM:<a@b.example>");
        for i in 0..3 {
            send(&mut s, &format!("RCPT TO:<r{i}@c.example>"));
        }
        for _ in 0..5 {
            assert_eq!(send(&mut s, "RCPT TO:<more@c.example>").next, Next::Continue, "452 does not close");
        }
        send(&mut s, "DATA");
        s.data_finished(Reply::new(250, "2.0.0", "queued"));
        for _ in 0..9 {
            assert_eq!(send(&mut s, "BOGUS").next, Next::Continue);
        }
    }

    #[test]
    fn over_long_auth_response_ends_the_dialogue() {
        let mut s = Session::new(SessionConfig { plaintext_auth_allowed: true, ..cfg(ListenerRole::Submission) });
        send(&mut s, "EHLO x");
        send(&mut s, "AUTH PLAIN");
        assert_eq!(codes(&s.on_line(FramedLine::TooLong)), [500]);
        assert_eq!(codes(&send(&mut s, "NOOP")), [250]);
    }

    #[test]
    fn duplicate_recipients_are_kept_once() {
        let mut s = Session::new(cfg(ListenerRole::Mx));
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b.example>");
        send(&mut s, "RCPT TO:<bob@example.jp>");
        assert_eq!(codes(&send(&mut s, "RCPT TO:<BOB@example.jp>")), [250]);
        assert_eq!(s.transaction().unwrap().recipients.len(), 1);
    }

    #[test]
    fn recipients_are_verified_and_unknown_ones_get_550_then_421() {
        let mut s = Session::new(SessionConfig { verify_recipients: true, ..cfg(ListenerRole::Mx) });
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b.example>");
        let a = send(&mut s, "RCPT TO:<bob@example.jp>");
        assert_eq!(a, Action { replies: vec![], next: Next::VerifyRecipient { address: "bob@example.jp".into() } });
        assert_eq!(codes(&s.recipient_verdict(RecipientVerdict::Known)), [250]);
        assert_eq!(
            codes(&send(&mut s, "RCPT TO:<BOB@example.jp>")),
            [250],
            "a recipient already taken is not asked again"
        );
        assert_eq!(send(&mut s, "RCPT TO:<eve@elsewhere.example>").replies[0].code, 554, "relay rules come first");
        send(&mut s, "RCPT TO:<nobody@example.jp>");
        let a = s.recipient_verdict(RecipientVerdict::Unknown);
        assert_eq!((a.replies[0].code, a.replies[0].status), (550, Some("5.1.1")));
        send(&mut s, "RCPT TO:<later@example.jp>");
        assert_eq!(codes(&s.recipient_verdict(RecipientVerdict::Unverified)), [450]);
        send(&mut s, "RCPT TO:<down@example.jp>");
        assert_eq!(codes(&s.recipient_verdict(RecipientVerdict::Unreachable)), [451], "not counted as unknown");
        send(&mut s, "RCPT TO:<nobody2@example.jp>");
        assert_eq!(codes(&s.recipient_verdict(RecipientVerdict::Unknown)), [550]);
        assert_eq!(s.transaction().unwrap().recipients.len(), 1, "only the known recipient is kept");
        let a = send(&mut s, "RCPT TO:<bob@example.jp>");
        assert_eq!((a.replies[0].code, a.replies[0].status, a.next), (421, Some("4.7.1"), Next::Close));
    }

    #[test]
    fn a_throttled_client_is_closed_and_temporary_verdicts_count_as_errors() {
        let mut s = Session::new(SessionConfig { verify_recipients: true, ..cfg(ListenerRole::Mx) });
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b.example>");
        for i in 0..9 {
            send(&mut s, &format!("RCPT TO:<r{i}@example.jp>"));
            assert_eq!(s.recipient_verdict(RecipientVerdict::Unreachable).next, Next::Continue);
        }
        send(&mut s, "RCPT TO:<r9@example.jp>");
        assert_eq!(s.recipient_verdict(RecipientVerdict::Unreachable).next, Next::Close, "max_errors holds");

        let mut s = Session::new(SessionConfig { verify_recipients: true, ..cfg(ListenerRole::Mx) });
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b.example>");
        send(&mut s, "RCPT TO:<bob@example.jp>");
        let a = s.recipient_verdict(RecipientVerdict::Throttled);
        assert_eq!((codes(&a), a.next), (vec![421], Next::Close));
    }

    #[test]
    fn the_unknown_limit_holds_across_transactions_and_submission_never_verifies() {
        let mut s = Session::new(SessionConfig { verify_recipients: true, ..cfg(ListenerRole::Mx) });
        send(&mut s, "EHLO x");
        for _ in 0..2 {
            send(&mut s, "MAIL FROM:<a@b.example>");
            send(&mut s, "RCPT TO:<x@example.jp>");
            s.recipient_verdict(RecipientVerdict::Unknown);
            send(&mut s, "RSET");
        }
        send(&mut s, "MAIL FROM:<a@b.example>");
        assert_eq!(send(&mut s, "RCPT TO:<y@example.jp>").next, Next::Close);

        let mut s = Session::new(SessionConfig {
            verify_recipients: true,
            client_trusted: true,
            ..cfg(ListenerRole::Submission)
        });
        send(&mut s, "EHLO x");
        send(&mut s, "MAIL FROM:<a@b.example>");
        assert_eq!(codes(&send(&mut s, "RCPT TO:<x@example.jp>")), [250]);
    }

    #[test]
    fn senders_of_checked_clients_are_asked_about_and_a_mismatch_is_553() {
        let mut s = Session::new(SessionConfig {
            verify_senders: true,
            plaintext_auth_allowed: true,
            ..cfg(ListenerRole::Submission)
        });
        send(&mut s, "EHLO x");
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<ceo@example.jp>")), [250], "an unauthenticated client is not asked");
        send(&mut s, "RSET");
        send(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==");
        s.auth_result("alice".into(), AuthOutcome::Success);
        let a = send(&mut s, "MAIL FROM:<ceo@example.jp>");
        assert_eq!(a.next, Next::VerifySender { user: Some("alice".into()), address: "ceo@example.jp".into() });
        let a = s.sender_verdict(SenderVerdict::NotBound { account: "alice".into() });
        assert_eq!((a.replies[0].code, a.replies[0].status), (553, Some("5.7.1")));
        assert!(a.replies[0].lines[0].contains("account alice"), "{a:?}");
        assert!(s.transaction().is_none());
        send(&mut s, "MAIL FROM:<alice@example.jp>");
        assert_eq!(codes(&s.sender_verdict(SenderVerdict::Unverified)), [451]);
        send(&mut s, "MAIL FROM:<alice@example.jp>");
        assert_eq!(codes(&s.sender_verdict(SenderVerdict::Allowed)), [250]);
        assert_eq!(s.transaction().unwrap().mail.address, "alice@example.jp");

        let mut s =
            Session::new(SessionConfig { verify_senders: true, client_trusted: true, ..cfg(ListenerRole::Submission) });
        send(&mut s, "EHLO x");
        let a = send(&mut s, "MAIL FROM:<app@outside.example>");
        assert_eq!(a.next, Next::VerifySender { user: None, address: "app@outside.example".into() });
        assert_eq!(codes(&s.sender_verdict(SenderVerdict::NotTrustedDomain)), [553]);
    }

    #[test]
    fn requiretls_is_advertised_after_starttls_and_refused_without_tls() {
        let mut s = Session::new(SessionConfig { client_trusted: true, ..cfg(ListenerRole::Submission) });
        let text = send(&mut s, "EHLO x").replies[0].to_wire();
        assert!(!text.contains("REQUIRETLS"), "not before TLS: {text}");
        let a = send(&mut s, "MAIL FROM:<a@b.example> REQUIRETLS");
        assert_eq!((a.replies[0].code, a.replies[0].status), (530, Some("5.7.10")));
        assert!(a.replies[0].lines[0].contains("STARTTLS"), "{a:?}");
        assert!(s.transaction().is_none());
        send(&mut s, "STARTTLS");
        s.tls_established();
        let text = send(&mut s, "EHLO x").replies[0].to_wire();
        assert!(text.contains("REQUIRETLS"), "{text}");
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example> REQUIRETLS")), [250]);
        assert!(s.transaction().unwrap().mail.requiretls);
        send(&mut s, "RSET");
        send(&mut s, "HELO x");
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example> REQUIRETLS")), [555], "HELO has no parameters");
    }

    #[test]
    fn a_listener_that_does_not_offer_requiretls_refuses_it_even_over_tls() {
        let mut s = Session::new(SessionConfig { requiretls: false, ..cfg(ListenerRole::Mx) });
        send(&mut s, "STARTTLS");
        s.tls_established();
        let text = send(&mut s, "EHLO x").replies[0].to_wire();
        assert!(!text.contains("REQUIRETLS"), "{text}");
        let a = send(&mut s, "MAIL FROM:<a@b.example> REQUIRETLS");
        assert_eq!((a.replies[0].code, a.replies[0].status), (555, Some("5.5.4")));
        assert!(a.replies[0].lines[0].contains("not offered"), "{a:?}");
        assert_eq!(codes(&send(&mut s, "MAIL FROM:<a@b.example>")), [250]);
    }
}
