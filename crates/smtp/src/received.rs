//! Trace fields sekisho adds to a message: Received (RFC 5321 §4.4), and on submission a
//! Message-ID and Date when missing.

use std::net::IpAddr;

/// Facts for the Received field of one message.
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    /// The name the client gave in EHLO/HELO.
    pub helo: &'a str,
    /// The client's address.
    pub client_ip: IpAddr,
    /// This gateway's host name.
    pub hostname: &'a str,
    /// The queue ID of the message.
    pub queue_id: &'a str,
    /// EHLO rather than HELO was used.
    pub esmtp: bool,
    /// TLS protocol version and cipher suite, when the session used TLS.
    pub tls: Option<(&'a str, &'a str)>,
    /// The client authenticated.
    pub authenticated: bool,
    /// The single recipient, named in the field only when there is exactly one.
    pub single_recipient: Option<&'a str>,
    /// The time, formatted as RFC 5322 date-time.
    pub date: &'a str,
}

/// The RFC 3848 protocol keyword: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA.
pub fn protocol(esmtp: bool, tls: bool, authenticated: bool) -> &'static str {
    match (esmtp, tls, authenticated) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, true, true) => "ESMTPSA",
    }
}

/// The Received field, folded, CRLF-terminated.
pub fn received_field(t: &Trace<'_>) -> String {
    let helo: String = t.helo.chars().filter(|c| !c.is_control() && *c != '(' && *c != ')').collect();
    let ip = match t.client_ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("IPv6:{v6}"),
    };
    let mut s = format!("Received: from {helo} ([{ip}])\r\n\tby {} (sekisho)", t.hostname);
    if let Some((version, cipher)) = t.tls {
        s.push_str(&format!(" (using {version} with cipher {cipher})"));
    }
    s.push_str(&format!("\r\n\twith {} id {}", protocol(t.esmtp, t.tls.is_some(), t.authenticated), t.queue_id));
    if let Some(rcpt) = t.single_recipient {
        s.push_str(&format!("\r\n\tfor <{rcpt}>"));
    }
    s.push_str(&format!("; {}\r\n", t.date));
    s
}

/// A Message-ID field for a message that has none.
pub fn message_id_field(queue_id: &str, hostname: &str) -> String {
    format!("Message-ID: <{queue_id}@{hostname}>\r\n")
}

/// A Date field for a message that has none.
pub fn date_field(date: &str) -> String {
    format!("Date: {date}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_field_names_tls_auth_and_id() {
        let t = Trace {
            helo: "client.example",
            client_ip: "127.0.0.1".parse().unwrap(),
            hostname: "gw.example.jp",
            queue_id: "ABC123",
            esmtp: true,
            tls: Some(("TLSv1.3", "TLS13_AES_256_GCM_SHA384")),
            authenticated: true,
            single_recipient: Some("bob@example.com"),
            date: "Tue, 24 Nov 2026 03:00:00 +0000",
        };
        let f = received_field(&t);
        assert_eq!(
            f,
            "Received: from client.example ([127.0.0.1])\r\n\tby gw.example.jp (sekisho) \
             (using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\n\twith ESMTPSA id ABC123\r\n\
             \tfor <bob@example.com>; Tue, 24 Nov 2026 03:00:00 +0000\r\n"
        );
    }

    #[test]
    fn helo_cannot_break_the_field() {
        let t = Trace {
            helo: "a)\r\nX-Evil: 1",
            client_ip: "::1".parse().unwrap(),
            hostname: "gw",
            queue_id: "Q",
            esmtp: false,
            tls: None,
            authenticated: false,
            single_recipient: None,
            date: "d",
        };
        let f = received_field(&t);
        assert_eq!(f.matches("\r\n").count(), 3);
        assert!(f.contains("from aX-Evil: 1 ([IPv6:::1])"));
        assert!(f.contains("with SMTP id Q"));
    }
}
