//! MAIL FROM and RCPT TO as sent to the next hop, with the parameters its EHLO allows, and the
//! RFC 6152 / RFC 6531 rules for messages it cannot take as they are.

use super::ehlo::Capabilities;

/// The envelope facts the commands are built from.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub sender: &'a str,
    pub size: u64,
    pub body_8bit: bool,
    pub smtputf8: bool,
    pub ret: Option<&'a str>,
    pub envid: Option<&'a str>,
    /// RFC 8689: relayed with `REQUIRETLS`; a server that does not advertise it cannot take it.
    pub requiretls: bool,
}

/// Why the message cannot go to this server as it is (a permanent failure for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsendable {
    /// RFC 3463 status for the bounce.
    pub status: &'static str,
    pub reason: String,
}

/// The MAIL FROM command for `caps`, or why the message cannot be sent there.
pub fn mail_from(env: &Envelope<'_>, recipients: &[&str], caps: &Capabilities) -> Result<String, Unsendable> {
    let utf8_envelope = !env.sender.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
    if utf8_envelope && !caps.smtputf8 {
        return Err(Unsendable {
            status: "5.6.7",
            reason: "the address needs SMTPUTF8, which the receiving server does not support".into(),
        });
    }
    if env.body_8bit && !caps.eight_bit_mime {
        return Err(Unsendable {
            status: "5.6.3",
            reason: "the message has 8-bit content and the receiving server does not support 8BITMIME".into(),
        });
    }
    if env.requiretls && !caps.requiretls {
        return Err(Unsendable {
            status: "5.7.30",
            reason: "the message requires TLS (REQUIRETLS) and the receiving server does not advertise REQUIRETLS"
                .into(),
        });
    }
    if caps.too_small_for(env.size) {
        return Err(Unsendable {
            status: "5.3.4",
            reason: format!("the message ({} bytes) is larger than the receiving server accepts", env.size),
        });
    }
    let mut cmd = format!("MAIL FROM:<{}>", env.sender);
    if !caps.esmtp {
        return Ok(cmd + "\r\n");
    }
    if caps.size.is_some() {
        cmd.push_str(&format!(" SIZE={}", env.size));
    }
    if env.body_8bit {
        cmd.push_str(" BODY=8BITMIME");
    }
    // Declared by the sender (UTF-8 headers, say) and supported here, or needed by the envelope.
    if utf8_envelope || (env.smtputf8 && caps.smtputf8) {
        cmd.push_str(" SMTPUTF8");
    }
    if env.requiretls {
        cmd.push_str(" REQUIRETLS");
    }
    if caps.dsn {
        if let Some(ret) = env.ret {
            cmd.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = env.envid {
            cmd.push_str(&format!(" ENVID={}", xtext(envid)));
        }
    }
    Ok(cmd + "\r\n")
}

/// The RCPT TO command; DSN parameters only when the server supports DSN.
pub fn rcpt_to(address: &str, notify: Option<&str>, orcpt: Option<&str>, caps: &Capabilities) -> String {
    let mut cmd = format!("RCPT TO:<{address}>");
    if caps.dsn {
        if let Some(n) = notify {
            cmd.push_str(&format!(" NOTIFY={n}"));
        }
        if let Some(o) = orcpt {
            match o.split_once(';') {
                Some((kind, addr)) => cmd.push_str(&format!(" ORCPT={kind};{}", xtext(addr))),
                None => cmd.push_str(&format!(" ORCPT=rfc822;{}", xtext(o))),
            }
        }
    }
    cmd + "\r\n"
}

/// RFC 3461 xtext: '+', '=', controls, space and non-ASCII become +XX.
pub fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope<'static> {
        Envelope {
            sender: "a@example.jp",
            size: 1000,
            body_8bit: false,
            smtputf8: false,
            ret: Some("HDRS"),
            envid: Some("id+1"),
            requiretls: false,
        }
    }

    fn full() -> Capabilities {
        Capabilities {
            esmtp: true,
            pipelining: true,
            size: Some(0),
            eight_bit_mime: true,
            smtputf8: true,
            dsn: true,
            ..Default::default()
        }
    }

    #[test]
    fn parameters_follow_the_capabilities() {
        assert_eq!(
            mail_from(&env(), &["b@x"], &full()).unwrap(),
            "MAIL FROM:<a@example.jp> SIZE=1000 RET=HDRS ENVID=id+2B1\r\n"
        );
        let plain = Capabilities { esmtp: true, ..Default::default() };
        assert_eq!(mail_from(&env(), &["b@x"], &plain).unwrap(), "MAIL FROM:<a@example.jp>\r\n");
        assert_eq!(
            rcpt_to("b@x.example", Some("SUCCESS,FAILURE"), Some("rfc822;b@x.example"), &full()),
            "RCPT TO:<b@x.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@x.example\r\n"
        );
        assert_eq!(rcpt_to("b@x.example", Some("NEVER"), None, &plain), "RCPT TO:<b@x.example>\r\n");
    }

    #[test]
    fn eight_bit_and_utf8_rules() {
        let e8 = Envelope { body_8bit: true, ..env() };
        let no8 = Capabilities { eight_bit_mime: false, ..full() };
        assert_eq!(mail_from(&e8, &["b@x"], &no8).unwrap_err().status, "5.6.3");
        assert!(mail_from(&e8, &["b@x"], &full()).unwrap().contains("BODY=8BITMIME"));
        let nou = Capabilities { smtputf8: false, ..full() };
        assert_eq!(mail_from(&env(), &["鈴木@x"], &nou).unwrap_err().status, "5.6.7");
        assert!(mail_from(&env(), &["鈴木@x"], &full()).unwrap().contains(" SMTPUTF8"));
        let declared = Envelope { smtputf8: true, ..env() };
        assert!(mail_from(&declared, &["b@x"], &full()).unwrap().contains(" SMTPUTF8"));
        assert!(!mail_from(&declared, &["b@x"], &nou).unwrap().contains("SMTPUTF8"), "ASCII envelope still goes");
        let small = Capabilities { size: Some(999), ..full() };
        assert_eq!(mail_from(&env(), &["b@x"], &small).unwrap_err().status, "5.3.4");
    }

    #[test]
    fn requiretls_goes_on_mail_from_only_to_a_server_that_advertises_it() {
        let e = Envelope { requiretls: true, ..env() };
        let with = Capabilities { requiretls: true, ..full() };
        assert!(mail_from(&e, &["b@x"], &with).unwrap().contains(" REQUIRETLS"), "RFC 8689");
        let refused = mail_from(&e, &["b@x"], &full()).unwrap_err();
        assert_eq!(refused.status, "5.7.30");
        assert!(refused.reason.contains("does not advertise REQUIRETLS"));
        assert!(!mail_from(&env(), &["b@x"], &with).unwrap().contains("REQUIRETLS"));
    }

    #[test]
    fn xtext_escapes() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("é"), "+C3+A9");
    }
}
