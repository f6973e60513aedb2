//! Parsing SMTP replies as they arrive: multi-line, enhanced status codes, bounded size.

/// One reply from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    pub code: u16,
    /// Text lines without the code and separator.
    pub lines: Vec<String>,
}

/// A malformed or oversized reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("malformed reply line: {0}")]
    Malformed(String),
    #[error("reply longer than {0} bytes")]
    TooLong(usize),
}

/// Most bytes one reply may take (EHLO answers are the longest legitimate ones).
pub const MAX_REPLY: usize = 64 * 1024;

impl ServerReply {
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The RFC 3463 enhanced status of the first line, if it has one.
    pub fn enhanced(&self) -> Option<&str> {
        let first = self.lines.first()?.split_whitespace().next()?;
        let parts: Vec<&str> = first.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..].iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then_some(first)
    }

    /// The whole reply on one line, as logged and recorded: "550 5.1.1 No such user".
    pub fn one_line(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
}

/// Takes one complete reply from the front of `buf`, returning it and the bytes it used;
/// `Ok(None)` when more input is needed.
pub fn parse(buf: &[u8]) -> Result<Option<(ServerReply, usize)>, ReplyError> {
    let mut pos = 0;
    let mut lines = Vec::new();
    let mut code = None;
    loop {
        let Some(lf) = buf[pos..].iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_REPLY {
                return Err(ReplyError::TooLong(MAX_REPLY));
            }
            return Ok(None);
        };
        let raw = &buf[pos..pos + lf];
        pos += lf + 1;
        if pos > MAX_REPLY {
            return Err(ReplyError::TooLong(MAX_REPLY));
        }
        let line = String::from_utf8_lossy(raw.strip_suffix(b"\r").unwrap_or(raw)).into_owned();
        let bytes = line.as_bytes();
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(ReplyError::Malformed(line));
        }
        let this: u16 = line[..3].parse().map_err(|_| ReplyError::Malformed(line.clone()))?;
        if !(200..600).contains(&this) || code.is_some_and(|c| c != this) {
            return Err(ReplyError::Malformed(line));
        }
        code = Some(this);
        let sep = bytes.get(3).copied();
        lines.push(line.get(4..).unwrap_or("").to_string());
        match sep {
            Some(b'-') => continue,
            None | Some(b' ') => return Ok(Some((ServerReply { code: this, lines }, pos))),
            Some(_) => return Err(ReplyError::Malformed(line)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line() {
        let (r, n) = parse(b"250 2.0.0 Ok\r\nrest").unwrap().unwrap();
        assert_eq!((r.code, n, r.enhanced()), (250, 14, Some("2.0.0")));
        let (r, _) = parse(b"250-mx.example\r\n250-SIZE 100\r\n250 DSN\r\n").unwrap().unwrap();
        assert_eq!(r.lines, ["mx.example", "SIZE 100", "DSN"]);
        assert_eq!(parse(b"250-mx.example\r\n250-SI").unwrap(), None);
        let (r, _) = parse(b"220\r\n").unwrap().unwrap();
        assert_eq!(r.code, 220);
    }

    #[test]
    fn malformed_replies() {
        assert!(parse(b"hello\r\n").is_err());
        assert!(parse(b"250-a\r\n550 b\r\n").is_err(), "codes must agree");
        assert!(parse(b"250xok\r\n").is_err());
        assert!(parse(&vec![b'2'; MAX_REPLY + 10]).is_err());
    }

    #[test]
    fn classes() {
        let r = |code| ServerReply { code, lines: vec!["x".into()] };
        assert!(r(250).is_positive() && r(451).is_transient() && r(550).is_permanent());
        assert_eq!(r(550).enhanced(), None);
    }
}
