//! The domains of a message a domain list is asked about: the envelope sender's, the header
//! From's and Reply-To's, then the hosts of the links in its text and HTML bodies, each as its
//! registrable domain (the Public Suffix List, as `sekisho_lookalike` reads it), each once, at
//! most `max` of them.

use sekisho_lookalike::organisational_domain;

use crate::Source;

/// What [`MessageDomains::domains`] reads of one message.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageDomains<'a> {
    /// The envelope sender (MAIL FROM); empty for the null sender.
    pub envelope_sender: &'a str,
    /// The header From's addresses.
    pub from: &'a [String],
    /// The Reply-To addresses.
    pub reply_to: &'a [String],
    /// The decoded text and HTML bodies.
    pub bodies: &'a [String],
}

impl MessageDomains<'_> {
    /// The registrable domains to ask about, with where each was first found, at most `max`.
    pub fn domains(&self, max: usize) -> Vec<(String, Source)> {
        let mut out: Vec<(String, Source)> = Vec::new();
        let add = |host: &str, source: Source, out: &mut Vec<(String, Source)>| {
            if out.len() >= max {
                return;
            }
            let Some(domain) = registrable(host) else { return };
            if !out.iter().any(|(d, _)| *d == domain) {
                out.push((domain, source));
            }
        };
        add(domain_of(self.envelope_sender), Source::EnvelopeSender, &mut out);
        for a in self.from {
            add(domain_of(a), Source::From, &mut out);
        }
        for a in self.reply_to {
            add(domain_of(a), Source::ReplyTo, &mut out);
        }
        for body in self.bodies {
            for host in link_domains(body) {
                add(&host, Source::Link, &mut out);
            }
        }
        out
    }
}

/// The part after the last `@`, or "" when there is none.
fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d.trim_end_matches('>'))
}

/// The registrable domain of `host`; None for an address literal or a name that is not one.
fn registrable(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.');
    if host.is_empty() || !host.contains('.') || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let domain = organisational_domain(host);
    let ok = domain.contains('.')
        && domain.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && !domain.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    ok.then_some(domain)
}

/// The hosts of the links written in `text` (plain text or HTML), in order: `http://` and
/// `https://` URLs wherever they appear (also inside `href="..."`), and `www.` names in text.
pub fn link_domains(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let start = if starts_ci(rest, b"https://") {
            Some(i + 8)
        } else if starts_ci(rest, b"http://") {
            Some(i + 7)
        } else if starts_ci(rest, b"www.") && (i == 0 || !is_host_byte(bytes[i - 1])) {
            Some(i)
        } else {
            None
        };
        let Some(start) = start else {
            i += 1;
            continue;
        };
        let end =
            text[start..].find(|c: char| "/?#\"'<>()[]{}\\ \t\r\n,;".contains(c)).map_or(text.len(), |n| start + n);
        let authority = &text[start..end];
        // user:password@host:port
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = host.split(':').next().unwrap_or("").trim_end_matches('.').to_ascii_lowercase();
        if !host.is_empty() && !out.contains(&host) {
            out.push(host);
        }
        i = end.max(i + 1);
    }
    out
}

fn starts_ci(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'/'
}
