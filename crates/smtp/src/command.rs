//! SMTP commands: parsed with smtp-proto, then checked for what sekisho refuses to interpret
//! (control characters, unsupported parameters) so every address and parameter is either
//! refused or stored byte-exact.

use smtp_proto::{Error as ProtoError, Request};

use crate::address;
use crate::reply::Reply;

/// `BODY=` of MAIL FROM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyType {
    /// No BODY parameter or BODY=7BIT.
    #[default]
    SevenBit,
    /// BODY=8BITMIME.
    EightBitMime,
}

/// `RET=` of MAIL FROM (RFC 3461).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// Return the full message in a DSN.
    Full,
    /// Return the headers only.
    Hdrs,
}

impl Ret {
    /// The keyword as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        }
    }
}

/// MAIL FROM and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// Reverse path without angle brackets; empty for the null sender.
    pub address: String,
    /// Declared SIZE, if any.
    pub size: Option<u64>,
    /// Declared body type.
    pub body: BodyType,
    /// SMTPUTF8 was given.
    pub smtputf8: bool,
    /// DSN RET.
    pub ret: Option<Ret>,
    /// DSN ENVID, xtext-decoded.
    pub envid: Option<String>,
    /// RFC 8689 `REQUIRETLS`: the session decides whether it may be given here.
    pub requiretls: bool,
}

/// RCPT TO and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptParams {
    /// Forward path without angle brackets and without a source route.
    pub address: String,
    /// DSN ORCPT (`type;address`), xtext-decoded.
    pub orcpt: Option<String>,
    /// DSN NOTIFY keywords (NEVER, SUCCESS, FAILURE, DELAY), comma-separated; `None` if absent.
    pub notify: Option<String>,
}

/// AUTH mechanisms sekisho offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    /// RFC 4616 PLAIN.
    Plain,
    /// The LOGIN mechanism.
    Login,
}

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail(MailParams),
    Rcpt(RcptParams),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth {
        mechanism: Option<AuthMechanism>,
        initial: Option<String>,
    },
    /// A known command sekisho does not implement (BDAT, ETRN, ATRN, BURL, LHLO).
    NotImplemented(&'static str),
}

/// Parses one command line (without its CRLF). Errors come back as the reply to send.
pub fn parse(line: &[u8]) -> Result<Command, Reply> {
    // smtp-proto knows neither address literals nor (byte-exact) quoted local parts: such a
    // path is checked here and replaced by a placeholder while the parameters are parsed.
    if let Some(reply) = bare_postmaster_sender(line) {
        return Err(reply);
    }
    let special = special_path(line)?;
    let mut framed = Vec::with_capacity(line.len() + 2);
    match &special {
        Some((start, end, _)) => {
            framed.extend_from_slice(&line[..*start]);
            framed.extend_from_slice(PLACEHOLDER.as_bytes());
            framed.extend_from_slice(&line[*end..]);
        }
        None => framed.extend_from_slice(line),
    }
    framed.extend_from_slice(b"\r\n");
    let raw = special.map(|(_, _, path)| path);
    if let Some(name) = duplicate_parameter(line) {
        return Err(Reply::new(501, "5.5.4", format!("Duplicate parameter {name}")));
    }
    let request = Request::parse(&mut framed.iter()).map_err(|e| proto_error(e, line))?;
    Ok(match request {
        Request::Ehlo { host } => Command::Ehlo(clean(&host, "EHLO domain")?),
        Request::Helo { host } => Command::Helo(clean(&host, "HELO domain")?),
        Request::Mail { from } => {
            if from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0 {
                return Err(Reply::new(555, "5.5.4", "BODY=BINARYMIME is not supported"));
            }
            let ret = if from.flags & smtp_proto::MAIL_RET_FULL != 0 {
                Some(Ret::Full)
            } else if from.flags & smtp_proto::MAIL_RET_HDRS != 0 {
                Some(Ret::Hdrs)
            } else {
                None
            };
            Command::Mail(MailParams {
                address: match &raw {
                    Some(path) => path.clone(),
                    None => clean(&from.address, "MAIL FROM:<address>")?,
                },
                size: declared_size(line),
                body: if from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0 {
                    BodyType::EightBitMime
                } else {
                    BodyType::SevenBit
                },
                smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
                ret,
                envid: from.env_id.map(|v| clean(&v, "ENVID=xtext")).transpose()?,
                requiretls: from.flags & smtp_proto::MAIL_REQUIRETLS != 0,
            })
        }
        Request::Rcpt { to } => {
            let notify = notify_keywords(to.flags);
            Command::Rcpt(RcptParams {
                address: match raw {
                    Some(path) => path,
                    // smtp-proto maps <Postmaster> to the empty path; keep the name.
                    None if to.address.is_empty() && names_postmaster(line) => "postmaster".to_string(),
                    None => clean(&to.address, "RCPT TO:<address>")?,
                },
                orcpt: match (to.orcpt, param_value(line, "ORCPT")) {
                    (Some(_), Some(raw)) => Some(clean(&xtext_decode(raw), "ORCPT=type;xtext")?),
                    _ => None,
                },
                notify,
            })
        }
        Request::Data => Command::Data,
        Request::Rset => Command::Rset,
        Request::Noop { .. } => Command::Noop,
        Request::Quit => Command::Quit,
        Request::Vrfy { .. } => Command::Vrfy,
        Request::Expn { .. } => Command::Expn,
        Request::Help { .. } => Command::Help,
        Request::StartTls => Command::StartTls,
        Request::Auth { mechanism, initial_response } => Command::Auth {
            mechanism: match mechanism {
                smtp_proto::AUTH_PLAIN => Some(AuthMechanism::Plain),
                smtp_proto::AUTH_LOGIN => Some(AuthMechanism::Login),
                _ => None,
            },
            initial: (!initial_response.is_empty()).then(|| initial_response.into_owned()),
        },
        Request::Bdat { .. } => Command::NotImplemented("BDAT"),
        Request::Etrn { .. } => Command::NotImplemented("ETRN"),
        Request::Atrn { .. } => Command::NotImplemented("ATRN"),
        Request::Burl { .. } => Command::NotImplemented("BURL"),
        Request::Lhlo { .. } => Command::NotImplemented("LHLO"),
    })
}

fn notify_keywords(flags: u64) -> Option<String> {
    let names = [
        (smtp_proto::RCPT_NOTIFY_NEVER, "NEVER"),
        (smtp_proto::RCPT_NOTIFY_SUCCESS, "SUCCESS"),
        (smtp_proto::RCPT_NOTIFY_FAILURE, "FAILURE"),
        (smtp_proto::RCPT_NOTIFY_DELAY, "DELAY"),
    ];
    let set: Vec<&str> = names.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, n)| *n).collect();
    (!set.is_empty()).then(|| set.join(","))
}

/// Refuses values with control characters (CR, LF, NUL, ...) after decoding.
fn clean(value: &str, syntax: &'static str) -> Result<String, Reply> {
    if value.chars().any(|c| c.is_control()) {
        return Err(Reply::new(501, "5.5.4", format!("Control characters are not allowed in {syntax}")));
    }
    Ok(value.to_string())
}

/// smtp-proto turns `<postmaster>` into the null path; as a sender that would silently become
/// `<>`, so it is refused instead.
fn bare_postmaster_sender(line: &[u8]) -> Option<Reply> {
    let is_mail = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"MAIL");
    (is_mail && names_postmaster(line))
        .then(|| Reply::new(501, "5.1.7", "Bad sender address syntax: <postmaster> needs a domain"))
}

/// True when the path of a MAIL or RCPT line is `<postmaster>` (any case).
fn names_postmaster(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line).to_ascii_lowercase();
    text.find('<').is_some_and(|i| text[i..].starts_with("<postmaster>"))
}

const PLACEHOLDER: &str = "placeholder@placeholder.invalid";

/// For MAIL/RCPT with a path holding quotes or an address literal: the byte range of the path
/// inside the brackets and the path as sent (without a source route), after checking its
/// syntax here. `None` for every other line.
fn special_path(line: &[u8]) -> Result<Option<(usize, usize, String)>, Reply> {
    let is_mail = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"MAIL");
    let is_rcpt = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"RCPT");
    if !is_mail && !is_rcpt {
        return Ok(None);
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Ok(None);
    };
    let Some(open) = text.find('<') else {
        return Ok(None);
    };
    let start = open + 1;
    let mut in_quote = false;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in text[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => {
                end = Some(start + i);
                break;
            }
            _ => {}
        }
    }
    let Some(end) = end else { return Ok(None) };
    let full = &text[start..end];
    if !full.contains(['"', '[']) {
        return Ok(None);
    }
    let path = match full.strip_prefix('@') {
        Some(route) => route.find(':').map_or("", |i| &route[i + 1..]),
        None => full,
    };
    if !address::valid_mailbox(path) {
        return Err(if is_mail {
            Reply::new(501, "5.1.7", "Bad sender address syntax")
        } else {
            Reply::new(501, "5.1.3", "Bad recipient address syntax")
        });
    }
    Ok(Some((start, end, path.to_string())))
}

fn proto_error(e: ProtoError, line: &[u8]) -> Reply {
    match e {
        ProtoError::UnknownCommand | ProtoError::NeedsMoreData { .. } => {
            Reply::new(500, "5.5.2", "Command not recognized")
        }
        ProtoError::InvalidSenderAddress => Reply::new(501, "5.1.7", "Invalid sender address"),
        ProtoError::InvalidRecipientAddress => Reply::new(501, "5.1.3", "Invalid recipient address"),
        ProtoError::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("Syntax: {syntax}")),
        ProtoError::InvalidParameter { param: "SIZE" } if declared_size_is_numeric(line) => {
            Reply::new(552, "5.3.4", "Declared message size exceeds the fixed maximum message size")
        }
        ProtoError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("Invalid value for parameter {param}"))
        }
        ProtoError::UnsupportedParameter { param } => {
            let param: String = param.chars().filter(|c| !c.is_control()).take(64).collect();
            Reply::new(555, "5.5.4", format!("Unsupported parameter {param}"))
        }
        ProtoError::ResponseTooLong | ProtoError::InvalidResponse { .. } => {
            Reply::new(500, "5.5.2", "Command not recognized")
        }
    }
}

fn declared_size_is_numeric(line: &[u8]) -> bool {
    declared_size(line).is_some()
}

/// The value of ESMTP parameter `name` as sent (after the closing `>`), if present.
fn param_value<'a>(line: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(line).ok()?;
    let params = &text[text.rfind('>')? + 1..];
    params.split_ascii_whitespace().find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.eq_ignore_ascii_case(name).then_some(value)
    })
}

/// The first ESMTP parameter (after the path) given twice, if any.
fn duplicate_parameter(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let params = &text[text.rfind('>')? + 1..];
    let mut seen = Vec::new();
    for p in params.split_ascii_whitespace() {
        let key = p.split_once('=').map_or(p, |(k, _)| k).to_ascii_uppercase();
        if seen.contains(&key) {
            return Some(key);
        }
        seen.push(key);
    }
    None
}

/// Declared SIZE; a number too large for u64 saturates so the limit check refuses it.
fn declared_size(line: &[u8]) -> Option<u64> {
    let value = param_value(line, "SIZE")?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<u64>().unwrap_or(u64::MAX))
}

/// Decodes RFC 3461 xtext (`+XX` hex escapes); malformed escapes are kept as sent.
fn xtext_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(line: &str) -> MailParams {
        match parse(line.as_bytes()) {
            Ok(Command::Mail(m)) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn rcpt(line: &str) -> RcptParams {
        match parse(line.as_bytes()) {
            Ok(Command::Rcpt(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn refused(line: &[u8]) -> Reply {
        parse(line).expect_err(&String::from_utf8_lossy(line))
    }

    #[test]
    fn mail_parameters() {
        let m = mail("MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1");
        assert_eq!(m.address, "a@example.com");
        assert_eq!(m.size, Some(1000));
        assert_eq!(m.body, BodyType::EightBitMime);
        assert_eq!(m.ret, Some(Ret::Hdrs));
        assert_eq!(m.envid.as_deref(), Some("QQ+1"));
        assert_eq!(mail("MAIL FROM:<>").address, "");
        assert!(mail("MAIL FROM:<ü@example.jp> SMTPUTF8").smtputf8);
        assert!(mail("MAIL FROM:<a@example.com> REQUIRETLS").requiretls);
        assert!(mail("MAIL FROM:<a@example.com> requiretls").requiretls);
        assert!(!mail("MAIL FROM:<a@example.com>").requiretls);
    }

    #[test]
    fn rcpt_parameters() {
        let r = rcpt("RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.com");
        assert_eq!(r.address, "b@example.com");
        assert_eq!(r.notify.as_deref(), Some("SUCCESS,FAILURE"));
        assert_eq!(r.orcpt.as_deref(), Some("rfc822;b@example.com"));
    }

    #[test]
    fn source_route_is_dropped() {
        assert_eq!(rcpt("RCPT TO:<@local:victim@outside.example>").address, "victim@outside.example");
    }

    #[test]
    fn quoted_local_part_is_kept_byte_exact() {
        assert_eq!(rcpt("RCPT TO:<\"john doe\"@example.com>").address, "\"john doe\"@example.com");
        assert_eq!(rcpt("RCPT TO:<\"victim@outside\"@local>").address, "\"victim@outside\"@local");
    }

    #[test]
    fn crlf_smuggled_in_xtext_is_refused() {
        let r = refused(b"RCPT TO:<b@example.com> ORCPT=rfc822;b+0D+0AX-Evil:+20yes@example.com");
        assert_eq!((r.code, r.status), (501, Some("5.5.4")));
        let r = refused(b"MAIL FROM:<a@example.com> ENVID=a+0Db");
        assert_eq!(r.code, 501);
    }

    #[test]
    fn shell_metacharacters_are_refused_or_kept_verbatim() {
        assert_eq!(refused(b"MAIL FROM:<;sleep 66;@example.com>").code, 501);
        assert_eq!(mail("MAIL FROM:<`id`@example.com>").address, "`id`@example.com");
    }

    #[test]
    fn address_literals_are_accepted_with_their_parameters() {
        let m = mail("MAIL FROM:<antispam@[127.0.0.1]> SIZE=10");
        assert_eq!((m.address.as_str(), m.size), ("antispam@[127.0.0.1]", Some(10)));
        let r = rcpt("RCPT TO:<@[127.0.0.1]:relaytest@outside.example> NOTIFY=NEVER");
        assert_eq!((r.address.as_str(), r.notify.as_deref()), ("relaytest@outside.example", Some("NEVER")));
        assert_eq!(refused(b"RCPT TO:<a@[not an ip]>").code, 501);
        assert_eq!(refused(b"RCPT TO:<\"unterminated@x.example>").code, 501);
    }

    #[test]
    fn duplicate_parameters_are_refused() {
        let r = refused(b"MAIL FROM:<a@example.com> SIZE=10 size=99999999");
        assert_eq!((r.code, r.status), (501, Some("5.5.4")));
        assert_eq!(refused(b"RCPT TO:<b@example.com> NOTIFY=NEVER NOTIFY=SUCCESS").code, 501);
    }

    #[test]
    fn huge_declared_size_saturates() {
        let m = mail("MAIL FROM:<a@example.com> SIZE=999999999999999999999999999");
        assert_eq!(m.size, Some(u64::MAX));
    }

    #[test]
    fn xtext_decoding() {
        assert_eq!(xtext_decode("a+2Bb+3Dc"), "a+b=c");
        assert_eq!(xtext_decode("a+"), "a+");
        assert_eq!(xtext_decode("a+zz"), "a+zz");
    }

    #[test]
    fn unknown_and_unsupported() {
        assert_eq!(refused(b"FOO bar").code, 500);
        assert_eq!(refused(b"MAIL FROM:<a@b.c> BODY=BINARYMIME").code, 555);
        assert_eq!(refused(b"MAIL FROM:<a@b.c> X-FOO=1").code, 555);
        assert_eq!(parse(b"BDAT 10 LAST"), Ok(Command::NotImplemented("BDAT")));
    }

    #[test]
    fn auth_mechanisms() {
        assert_eq!(
            parse(b"AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth { mechanism: Some(AuthMechanism::Plain), initial: Some("AGEAYg==".into()) })
        );
        assert_eq!(parse(b"AUTH LOGIN"), Ok(Command::Auth { mechanism: Some(AuthMechanism::Login), initial: None }));
        assert!(matches!(parse(b"AUTH CRAM-MD5"), Ok(Command::Auth { mechanism: None, .. })));
    }
}
