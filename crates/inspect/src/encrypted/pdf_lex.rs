//! A PDF tokenizer (ISO 32000-1 §7.2): enough to walk a file's objects while stepping over
//! strings, comments and stream data, so that words inside them are never taken for syntax.

use std::borrow::Cow;

use super::bytes::find;

/// One PDF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    DictOpen,
    DictClose,
    ArrayOpen,
    ArrayClose,
    /// A name without its slash, `#xx` escapes decoded.
    Name(Cow<'a, [u8]>),
    /// A number; the value when it is a plain non-negative integer.
    Number(Option<u64>),
    /// A literal or hexadecimal string (content skipped).
    Str,
    /// Anything else: `obj`, `R`, `stream`, `trailer`, `true`, ...
    Keyword(&'a [u8]),
}

pub(crate) struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

fn is_white(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn is_regular(b: u8) -> bool {
    !is_white(b) && !is_delimiter(b)
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Lexer { data, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Goes back to a position returned by [`Lexer::pos`].
    pub(crate) fn rewind(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The next token, or `None` at the end of the input.
    pub(crate) fn next_token(&mut self) -> Option<Token<'a>> {
        loop {
            let b = *self.data.get(self.pos)?;
            match b {
                _ if is_white(b) => self.pos += 1,
                b'%' => {
                    while self.pos < self.data.len() && !matches!(self.data[self.pos], b'\r' | b'\n') {
                        self.pos += 1;
                    }
                }
                b'(' => {
                    self.skip_literal();
                    return Some(Token::Str);
                }
                b'<' if self.data.get(self.pos + 1) == Some(&b'<') => {
                    self.pos += 2;
                    return Some(Token::DictOpen);
                }
                b'<' => {
                    self.pos = find(self.data, b">", self.pos).map_or(self.data.len(), |p| p + 1);
                    return Some(Token::Str);
                }
                b'>' if self.data.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    return Some(Token::DictClose);
                }
                b'[' => {
                    self.pos += 1;
                    return Some(Token::ArrayOpen);
                }
                b']' => {
                    self.pos += 1;
                    return Some(Token::ArrayClose);
                }
                b'/' => {
                    self.pos += 1;
                    return Some(Token::Name(self.name()));
                }
                _ if is_delimiter(b) => self.pos += 1, // a stray ) > { }
                _ => return Some(self.word()),
            }
        }
    }

    fn skip_literal(&mut self) {
        let mut depth = 0usize;
        while let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
        self.pos = self.pos.min(self.data.len());
    }

    fn name(&mut self) -> Cow<'a, [u8]> {
        let start = self.pos;
        while self.pos < self.data.len() && is_regular(self.data[self.pos]) {
            self.pos += 1;
        }
        let raw = &self.data[start..self.pos];
        if !raw.contains(&b'#') {
            return Cow::Borrowed(raw);
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let hex = raw.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (raw[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'#', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        Cow::Owned(out)
    }

    fn word(&mut self) -> Token<'a> {
        let start = self.pos;
        while self.pos < self.data.len() && is_regular(self.data[self.pos]) {
            self.pos += 1;
        }
        let word = &self.data[start..self.pos];
        let numeric = word.iter().all(|b| b.is_ascii_digit() || b"+-.".contains(b));
        if numeric && word.iter().any(u8::is_ascii_digit) {
            let value = std::str::from_utf8(word).ok().and_then(|s| s.parse().ok());
            Token::Number(value)
        } else {
            Token::Keyword(word)
        }
    }

    /// Steps over stream data after the `stream` keyword: `length` bytes when the declared
    /// length lands on `endstream`, else up to the next `endstream`.
    pub(crate) fn skip_stream(&mut self, length: Option<u64>) {
        let mut start = self.pos;
        if self.data.get(start) == Some(&b'\r') {
            start += 1;
        }
        if self.data.get(start) == Some(&b'\n') {
            start += 1;
        }
        if let Some(end) = length.and_then(|l| usize::try_from(l).ok()).and_then(|l| start.checked_add(l)) {
            let mut after = end;
            while after < self.data.len() && is_white(self.data[after]) {
                after += 1;
            }
            if self.data.get(after..).is_some_and(|rest| rest.starts_with(b"endstream")) {
                self.pos = after + b"endstream".len();
                return;
            }
        }
        self.pos = find(self.data, b"endstream", start).map_or(self.data.len(), |p| p + b"endstream".len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(data: &[u8]) -> Vec<Token<'_>> {
        let mut lx = Lexer::new(data);
        std::iter::from_fn(|| lx.next_token()).collect()
    }

    #[test]
    fn strings_and_comments_hide_their_words() {
        let t = tokens(b"(a (nested) \\) /Encrypt) % /Encrypt 1 0 R\n<2F456E>/Ty#70e 12 0 R");
        assert_eq!(
            t,
            vec![
                Token::Str,
                Token::Str,
                Token::Name(Cow::Owned(b"Type".to_vec())),
                Token::Number(Some(12)),
                Token::Number(Some(0)),
                Token::Keyword(b"R"),
            ]
        );
    }

    #[test]
    fn dictionaries_and_arrays() {
        let t = tokens(b"<</A[1 -2.5]>>");
        assert_eq!(
            t,
            vec![
                Token::DictOpen,
                Token::Name(Cow::Borrowed(b"A")),
                Token::ArrayOpen,
                Token::Number(Some(1)),
                Token::Number(None),
                Token::ArrayClose,
                Token::DictClose,
            ]
        );
    }

    #[test]
    fn stream_data_is_skipped_by_length_or_by_search() {
        let data = b"stream\r\nab endstream cd\nendstream X";
        let mut lx = Lexer::new(data);
        assert_eq!(lx.next_token(), Some(Token::Keyword(b"stream")));
        lx.skip_stream(Some(16));
        assert_eq!(lx.next_token(), Some(Token::Keyword(b"X")));
        let mut lx = Lexer::new(data);
        lx.next_token();
        lx.skip_stream(Some(5)); // wrong length: falls back to the first endstream
        assert_eq!(lx.next_token(), Some(Token::Keyword(b"cd")));
    }
}
