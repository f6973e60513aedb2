//! The MTA-STS policy file (RFC 8461 §3.2) and MX matching (§4.1).

use serde::{Deserialize, Serialize};

/// Largest `max_age` honoured: one year (RFC 8461 §3.2).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// What the policy asks of senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliver only to matching MX hosts with a valid certificate.
    Enforce,
    /// Report failures, deliver anyway.
    Testing,
    /// The domain withdrew its policy.
    None,
}

impl Mode {
    /// The policy keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub mode: Mode,
    /// MX patterns: host names, or `*.example.net` for one leftmost label.
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
}

/// Why a policy file is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MTA-STS policy: {0}")]
pub struct PolicyError(pub String);

impl Policy {
    /// Parses the policy text: `key: value` lines ended by LF or CRLF; unknown keys ignored.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let bad = |m: String| PolicyError(m);
        let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
        for (n, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.split_once(':').ok_or_else(|| bad(format!("line {}: no `key: value`", n + 1)))?;
            let (key, value) = (key.trim(), value.trim());
            let once = |slot: &Option<String>| {
                if slot.is_some() { Err(bad(format!("`{key}` appears twice"))) } else { Ok(Some(value.to_string())) }
            };
            match key {
                "version" => version = once(&version)?,
                "mode" => mode = once(&mode)?,
                "max_age" => max_age = once(&max_age)?,
                "mx" => mx.push(value.to_ascii_lowercase().trim_end_matches('.').to_string()),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err(bad("`version: STSv1` is missing".into()));
        }
        let mode = match mode.as_deref() {
            Some("enforce") => Mode::Enforce,
            Some("testing") => Mode::Testing,
            Some("none") => Mode::None,
            Some(other) => return Err(bad(format!("mode `{other}` (enforce, testing or none)"))),
            None => return Err(bad("`mode` is missing".into())),
        };
        let max_age = max_age.ok_or_else(|| bad("`max_age` is missing".into()))?;
        if max_age.is_empty() || max_age.len() > 10 || !max_age.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("max_age `{max_age}` is not a number of seconds")));
        }
        let max_age = max_age.parse::<u64>().unwrap_or(u64::MAX).min(MAX_AGE_LIMIT);
        if mode != Mode::None && mx.is_empty() {
            return Err(bad("no `mx` pattern".into()));
        }
        if let Some(p) = mx.iter().find(|p| !valid_pattern(p)) {
            return Err(bad(format!("mx `{p}` is not a host name or *.domain pattern")));
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// True when the MX host `host` matches one of the patterns.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *p == host,
        })
    }
}

fn valid_pattern(p: &str) -> bool {
    let name = p.strip_prefix("*.").unwrap_or(p);
    !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n\
                           mx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn parses_the_rfc_example() {
        let p = Policy::parse(EXAMPLE).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(p.mx, ["mail.example.com", "*.example.net", "backupmx.example.com"]);
        let lf = Policy::parse(&EXAMPLE.replace("\r\n", "\n")).unwrap();
        assert_eq!(lf, p, "LF line endings too");
    }

    #[test]
    fn matching_follows_rfc_8461_section_4_1() {
        let p = Policy::parse(EXAMPLE).unwrap();
        for (host, expected) in [
            ("mail.example.com", true),
            ("MAIL.Example.COM.", true),
            ("mx1.example.net", true),
            ("example.net", false),
            ("a.b.example.net", false),
            ("mail.example.com.evil", false),
            ("evilmail.example.com", false),
        ] {
            assert_eq!(p.matches(host), expected, "{host}");
        }
    }

    #[test]
    fn invalid_policies_say_why() {
        let cases = [
            ("mode: enforce\nmx: a\nmax_age: 1\n", "version"),
            ("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n", "mode `strict`"),
            ("version: STSv1\nmode: enforce\nmax_age: 1\n", "no `mx`"),
            ("version: STSv1\nmode: enforce\nmx: a\n", "max_age"),
            ("version: STSv1\nmode: enforce\nmx: a\nmax_age: -5\n", "not a number"),
            ("version: STSv1\nmode: enforce\nmode: testing\nmx: a\nmax_age: 5\n", "twice"),
            ("version: STSv1\nmode: enforce\nmx: a b\nmax_age: 5\n", "mx `a b`"),
            ("<html>", "no `key: value`"),
        ];
        for (text, expected) in cases {
            let e = Policy::parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn mode_none_needs_no_mx_and_max_age_is_capped() {
        let p = Policy::parse("version: STSv1\nmode: none\nmax_age: 9999999999\nfuture: x\n").unwrap();
        assert_eq!((p.mode, p.max_age), (Mode::None, MAX_AGE_LIMIT));
    }
}
