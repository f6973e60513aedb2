//! The `_smtp._tls` TXT record (RFC 8460 §3): `v=TLSRPTv1; rua=mailto:a@b.example,https://r.example/x`.

/// Where a domain wants its reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rua {
    /// By mail, to this address.
    Mailto(String),
    /// By HTTPS POST to this URL.
    Https(String),
}

impl std::fmt::Display for Rua {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rua::Mailto(a) => write!(f, "mailto:{a}"),
            Rua::Https(u) => f.write_str(u),
        }
    }
}

/// Why a domain's reporting record is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no TLSRPTv1 record")]
    Missing,
    #[error("{0} TLSRPTv1 records (exactly one is allowed)")]
    Several(usize),
    #[error("the record has no rua")]
    NoRua,
    #[error("unusable rua `{0}` (mailto: or https: expected)")]
    BadRua(String),
}

/// Reads the TXT strings of `_smtp._tls.DOMAIN` (each answer's strings already joined).
/// Answers not starting with `v=TLSRPTv1` are ignored; more than one that does means the
/// domain does not take reports (§3). Unknown URI schemes are skipped; none usable is an
/// error.
pub fn parse_record(answers: &[String]) -> Result<Vec<Rua>, RecordError> {
    let records: Vec<&String> = answers
        .iter()
        .filter(|a| {
            let mut parts = a.split(';');
            let v = parts.next().unwrap_or("").trim();
            v.eq_ignore_ascii_case("v=TLSRPTv1")
        })
        .collect();
    let record = match records.as_slice() {
        [] => return Err(RecordError::Missing),
        [one] => one,
        many => return Err(RecordError::Several(many.len())),
    };
    let rua = record
        .split(';')
        .skip(1)
        .filter_map(|f| f.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("rua"))
        .map(|(_, v)| v.trim())
        .ok_or(RecordError::NoRua)?;
    let mut out = Vec::new();
    let mut rejected = None;
    for uri in rua.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        // §3: only commas and semicolons are encoded in the record; the rest of an https URI
        // is sent as published.
        let decoded = uri.replace("%2C", ",").replace("%2c", ",").replace("%3B", ";").replace("%3b", ";");
        let lower = decoded.to_ascii_lowercase();
        if let Some(addr) = lower.starts_with("mailto:").then(|| &decoded[7..]) {
            // An address without parameters (`?subject=` is not for reports).
            let addr = percent_decode(addr.split('?').next().unwrap_or(""));
            if plain_address(&addr) {
                out.push(Rua::Mailto(addr))
            } else {
                rejected = Some(uri.to_string());
            }
        } else if lower.starts_with("https://")
            && decoded.len() > 8
            && !decoded.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            out.push(Rua::Https(decoded))
        } else {
            rejected = Some(uri.to_string());
        }
    }
    match (out.is_empty(), rejected) {
        (false, _) => Ok(out),
        (true, Some(bad)) => Err(RecordError::BadRua(bad)),
        (true, None) => Err(RecordError::NoRua),
    }
}

/// An address sekisho will put in an envelope: `local@domain.tld` of plain characters (no
/// control characters, spaces, quotes, angle brackets or commas).
fn plain_address(addr: &str) -> bool {
    addr.len() <= 254
        && !addr
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"' | ',' | '(' | ')' | '\\'))
        && addr.rsplit_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
}

/// `%40` → `@` and the like in a mailto address (§3: commas and semicolons in URIs are encoded).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = ((b[i + 1] as char).to_digit(16), (b[i + 2] as char).to_digit(16))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Result<Vec<Rua>, RecordError> {
        parse_record(&[s.to_string()])
    }

    #[test]
    fn mailto_and_https_destinations_are_read() {
        assert_eq!(
            one("v=TLSRPTv1; rua=mailto:tls@example.jp,https://report.example.jp/v1/tlsrpt").unwrap(),
            vec![Rua::Mailto("tls@example.jp".into()), Rua::Https("https://report.example.jp/v1/tlsrpt".into())]
        );
        assert_eq!(
            one("v=TLSRPTv1;rua=mailto:tls%40example.jp,https://r.example.jp/a%2Fb").unwrap(),
            vec![Rua::Mailto("tls@example.jp".into()), Rua::Https("https://r.example.jp/a%2Fb".into())]
        );
    }

    #[test]
    fn unusable_records_are_refused_with_the_reason() {
        assert_eq!(one("v=spf1 -all"), Err(RecordError::Missing));
        assert_eq!(
            parse_record(&["v=TLSRPTv1; rua=mailto:a@x.jp".into(), "v=TLSRPTv1; rua=mailto:b@x.jp".into()]),
            Err(RecordError::Several(2))
        );
        assert_eq!(one("v=TLSRPTv1;"), Err(RecordError::NoRua));
        assert_eq!(
            one("v=TLSRPTv1; rua=http://insecure.example/"),
            Err(RecordError::BadRua("http://insecure.example/".into()))
        );
        assert_eq!(one("v=TLSRPTv1; rua=mailto:nobody"), Err(RecordError::BadRua("mailto:nobody".into())));
        for bad in ["mailto:a%0D%0ARCPT@example.jp", "mailto:a%2Cb@example.jp", "mailto:<a@example.jp>"] {
            assert_eq!(one(&format!("v=TLSRPTv1; rua={bad}")), Err(RecordError::BadRua(bad.into())), "{bad}");
        }
        // One bad URI beside a good one: the good one is used.
        assert_eq!(one("v=TLSRPTv1; rua=ftp://x,mailto:a@x.jp").unwrap(), vec![Rua::Mailto("a@x.jp".into())]);
    }

    #[test]
    fn a_trailing_percent_is_kept_as_is() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz"), "a%zz");
    }
}
