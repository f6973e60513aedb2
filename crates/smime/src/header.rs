//! A MIME entity's header block: where it ends, its fields (raw, as written), and the
//! parameters of a Content-Type value.

/// Where the header block of `entity` ends: (end of the fields, start of the body).
/// An entity with no blank line is all header.
pub(crate) fn split(entity: &[u8]) -> (usize, usize) {
    if entity.starts_with(b"\r\n") {
        return (0, 2);
    }
    if entity.starts_with(b"\n") {
        return (0, 1);
    }
    let mut i = 0;
    while let Some(at) = entity[i..].iter().position(|&b| b == b'\n') {
        let nl = i + at;
        let rest = &entity[nl + 1..];
        if rest.starts_with(b"\r\n") {
            return (nl + 1, nl + 3);
        }
        if rest.starts_with(b"\n") {
            return (nl + 1, nl + 2);
        }
        i = nl + 1;
    }
    (entity.len(), entity.len())
}

/// One header field as written (with its folded lines and line ending) and its name.
pub(crate) struct Field<'a> {
    pub(crate) raw: &'a [u8],
    pub(crate) name: String,
}

impl Field<'_> {
    /// The value, unfolded, without the name and the line endings.
    pub(crate) fn value(&self) -> String {
        let colon = self.raw.iter().position(|&b| b == b':').map_or(self.raw.len(), |c| c + 1);
        let text = String::from_utf8_lossy(&self.raw[colon..]);
        text.replace("\r\n", "").replace('\n', "").trim().to_string()
    }

    /// Whether the field is named `name` (case-insensitive).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// The fields of a header block (`fields_end` bytes from `split`).
pub(crate) fn fields(block: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        let end = block[i..].iter().position(|&b| b == b'\n').map_or(block.len(), |p| i + p + 1);
        let continues = end < block.len() && matches!(block[end], b' ' | b'\t');
        if !continues {
            let raw = &block[start..end];
            let name = raw
                .iter()
                .position(|&b| b == b':')
                .map_or(String::new(), |c| String::from_utf8_lossy(&raw[..c]).trim().to_string());
            if !raw.iter().all(|b| b.is_ascii_whitespace()) {
                out.push(Field { raw, name });
            }
            start = end;
        }
        i = end;
    }
    out
}

/// A Content-Type (or Content-Disposition) value: the lowercased type and its parameters
/// (names lowercased, values unquoted).
pub(crate) struct ContentType {
    pub(crate) mime: String,
    params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses a field value.
    pub(crate) fn parse(value: &str) -> ContentType {
        let mut parts = value.splitn(2, ';');
        let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut params = Vec::new();
        let rest = parts.next().unwrap_or("");
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ';') {
                chars.next();
            }
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' || c == ';' {
                    break;
                }
                name.push(c);
                chars.next();
            }
            if name.trim().is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'=') {
                chars.next();
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&'"') {
                    chars.next();
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => value.extend(chars.next()),
                            c => value.push(c),
                        }
                    }
                } else {
                    while let Some(&c) = chars.peek() {
                        if c == ';' {
                            break;
                        }
                        value.push(c);
                        chars.next();
                    }
                    value = value.trim().to_string();
                }
            }
            params.push((name.trim().to_ascii_lowercase(), value));
        }
        ContentType { mime, params }
    }

    /// The parameter `name` (lowercase), if present.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The Content-Type of an entity whose fields are `fields` (text/plain when absent).
pub(crate) fn content_type(fields: &[Field<'_>]) -> ContentType {
    fields
        .iter()
        .find(|f| f.is("Content-Type"))
        .map_or_else(|| ContentType::parse("text/plain"), |f| ContentType::parse(&f.value()))
}

/// `bytes` with every line ending CRLF (a lone LF or CR becomes CRLF).
pub(crate) fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The parts of a multipart body with `boundary`: each part's bytes (between the delimiter
/// line's CRLF and the CRLF before the next delimiter), and where the preamble ends and the
/// epilogue starts. None when no closing delimiter is found.
pub(crate) struct Parts {
    pub(crate) parts: Vec<(usize, usize)>,
    pub(crate) closed: bool,
}

pub(crate) fn multipart(body: &[u8], boundary: &str) -> Parts {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    let mut line_start = 0;
    let mut closed = false;
    while line_start <= body.len() {
        let line_end = body[line_start..].iter().position(|&b| b == b'\n').map_or(body.len(), |p| line_start + p);
        let line = &body[line_start..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(delim) {
            let tail = &line[delim.len()..];
            let is_close = tail.starts_with(b"--");
            let tail = if is_close { &tail[2..] } else { tail };
            if tail.iter().all(|b| *b == b' ' || *b == b'\t') {
                if let Some(start) = open {
                    // The CRLF before the delimiter belongs to the delimiter.
                    let mut end = line_start;
                    if end > start && body[end - 1] == b'\n' {
                        end -= 1;
                        if end > start && body[end - 1] == b'\r' {
                            end -= 1;
                        }
                    }
                    parts.push((start, end.max(start)));
                }
                if is_close {
                    closed = true;
                    break;
                }
                open = Some((line_end + 1).min(body.len()));
            }
        }
        if line_end >= body.len() {
            break;
        }
        line_start = line_end + 1;
    }
    Parts { parts, closed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_fields_are_one_field_and_params_unquote() {
        let head = b"Subject: a\r\n b\r\nContent-Type: multipart/signed;\r\n\tprotocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n boundary=\"x;y\"\r\n";
        let f = fields(head);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].value(), "a b");
        let ct = ContentType::parse(&f[1].value());
        assert_eq!(ct.mime, "multipart/signed");
        assert_eq!(ct.param("boundary"), Some("x;y"));
        assert_eq!(ct.param("protocol"), Some("application/pkcs7-signature"));
    }

    #[test]
    fn the_crlf_before_a_delimiter_belongs_to_it() {
        let body = b"pre\r\n--b\r\nA: 1\r\n\r\none\r\n\r\n--b\r\n\r\ntwo\r\n--b--\r\nepi";
        let p = multipart(body, "b");
        assert!(p.closed);
        let got: Vec<&[u8]> = p.parts.iter().map(|&(s, e)| &body[s..e]).collect();
        assert_eq!(got, vec![&b"A: 1\r\n\r\none\r\n"[..], &b"\r\ntwo"[..]]);
    }

    #[test]
    fn line_endings_become_crlf() {
        assert_eq!(crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
    }
}
