//! A sans-IO reader of one HTTP/1.1 response, for the policy fetch: status, headers, and a
//! body framed by Content-Length, chunked encoding or the end of the connection, within limits.

/// Most bytes of status line and headers.
pub const MAX_HEAD: usize = 16 << 10;

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Lower-case header names with their values, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why the bytes are not an acceptable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("the response headers exceed {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("the response body exceeds {0} bytes")]
    BodyTooLarge(usize),
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    #[error("the connection closed before the response was complete")]
    Truncated,
}

/// Parses `buf`, everything read so far; `eof` when the peer closed. `Ok(None)`: read more.
pub fn parse(buf: &[u8], eof: bool, max_body: usize) -> Result<Option<Response>, HttpError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(HttpError::HeadTooLarge);
        }
        return if eof { Err(HttpError::Truncated) } else { Ok(None) };
    };
    if head_end > MAX_HEAD {
        return Err(HttpError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| HttpError::Malformed("headers are not text"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not an HTTP/1.x status line"));
    }
    let status = parts
        .next()
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(HttpError::Malformed("no status code"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HttpError::Malformed("a header line without `:`"))?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(HttpError::Malformed("a header name with spaces"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let rest = &buf[head_end + 4..];
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let chunked = header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        match dechunk(rest, max_body)? {
            Some(body) => body,
            None if eof => return Err(HttpError::Truncated),
            None => return Ok(None),
        }
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| HttpError::Malformed("Content-Length is not a number"))?;
        if length > max_body {
            return Err(HttpError::BodyTooLarge(max_body));
        }
        if rest.len() < length {
            return if eof { Err(HttpError::Truncated) } else { Ok(None) };
        }
        rest[..length].to_vec()
    } else {
        if rest.len() > max_body {
            return Err(HttpError::BodyTooLarge(max_body));
        }
        if !eof {
            return Ok(None);
        }
        rest.to_vec()
    };
    Ok(Some(Response { status, headers, body }))
}

/// Decodes a chunked body; `Ok(None)` until the last chunk arrived.
fn dechunk(mut rest: &[u8], max_body: usize) -> Result<Option<Vec<u8>>, HttpError> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            return if rest.len() > 64 { Err(HttpError::Malformed("a chunk size line too long")) } else { Ok(None) };
        };
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| HttpError::Malformed("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers, if any, end with an empty line.
            return Ok(find(rest, b"\r\n").map(|_| body));
        }
        // `body` never exceeds `max_body`; a size near usize::MAX must not overflow the sum.
        if size > max_body - body.len() {
            return Err(HttpError::BodyTooLarge(max_body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        if &rest[size..size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("a chunk not followed by CRLF"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn content_length_body() {
        let r = parse(OK, false, 100).unwrap().unwrap();
        assert_eq!((r.status, r.header("content-type"), r.body.as_slice()), (200, Some("text/plain"), &b"hello"[..]));
        assert_eq!(parse(&OK[..OK.len() - 1], false, 100), Ok(None), "waits for the rest");
        assert_eq!(parse(&OK[..OK.len() - 1], true, 100), Err(HttpError::Truncated));
    }

    #[test]
    fn chunked_body() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n";
        assert_eq!(parse(r, false, 100).unwrap().unwrap().body, b"hello");
        assert_eq!(parse(&r[..r.len() - 2], false, 100), Ok(None));
        assert_eq!(parse(r, false, 4), Err(HttpError::BodyTooLarge(4)));
    }

    #[test]
    fn a_chunk_size_near_the_largest_integer_is_too_large() {
        // After a first chunk, a size that overflowed `body.len() + size` used to pass the limit
        // check and panic on slicing: a policy host could stop the delivery task.
        let huge = format!("{:x}", usize::MAX);
        let r = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n{huge}\r\nxx");
        assert_eq!(parse(r.as_bytes(), false, 100), Err(HttpError::BodyTooLarge(100)));
        assert_eq!(parse(r.as_bytes(), true, 100), Err(HttpError::BodyTooLarge(100)));
    }

    #[test]
    fn body_until_close() {
        let r = b"HTTP/1.0 200 OK\r\n\r\nabc";
        assert_eq!(parse(r, false, 100), Ok(None));
        assert_eq!(parse(r, true, 100).unwrap().unwrap().body, b"abc");
        assert_eq!(parse(r, true, 2), Err(HttpError::BodyTooLarge(2)));
    }

    #[test]
    fn limits_and_malformed_input() {
        let huge = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &vec![b'a'; MAX_HEAD + 1]].concat();
        assert_eq!(parse(&huge, false, 100), Err(HttpError::HeadTooLarge));
        let long = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
        assert_eq!(parse(long, false, 65536), Err(HttpError::BodyTooLarge(65536)));
        for bad in [&b"SMTP 220 hi\r\n\r\n"[..], b"HTTP/1.1 2x0 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n"] {
            assert!(matches!(parse(bad, true, 100), Err(HttpError::Malformed(_))), "{bad:?}");
        }
    }
}
