//! PDF encryption: an `/Encrypt` entry whose value is a reference or a dictionary, at the top
//! level of a trailer dictionary or of a cross-reference stream dictionary (`/Type /XRef`),
//! the only two places ISO 32000 puts it. The file is walked token by token, so the same words
//! in page text, strings, comments, stream data or other dictionaries do not count.

use super::pdf_lex::{Lexer, Token};
use super::report::Kind;
use super::sniff::pdf_start;
use super::walker::Walker;

pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    if let Some(start) = pdf_start(bytes)
        && is_encrypted(&bytes[start..])
    {
        w.finding(path, Kind::Pdf);
    }
}

/// What matters about one top-level dictionary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Dict {
    encrypt: bool,
    xref: bool,
    length: Option<u64>,
}

/// One value at the top level of a dictionary; nested containers are collapsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A short name (longer ones are never keys we look for).
    Name(Option<Vec<u8>>),
    Int(Option<u64>),
    Keyword(Vec<u8>),
    Dict,
    Other,
}

const KEY_MAX: usize = 16;

/// True when a trailer or cross-reference stream dictionary names an encryption dictionary.
pub(crate) fn is_encrypted(pdf: &[u8]) -> bool {
    let mut lx = Lexer::new(pdf);
    let mut after_trailer = false;
    let mut last: Option<Dict> = None;
    while let Some(token) = lx.next_token() {
        match token {
            Token::DictOpen => {
                let dict = read_dict(&mut lx);
                if dict.encrypt && (after_trailer || dict.xref) {
                    return true;
                }
                after_trailer = false;
                last = Some(dict);
            }
            Token::Keyword(b"trailer") => {
                after_trailer = true;
                last = None;
            }
            Token::Keyword(b"stream") => {
                lx.skip_stream(last.take().and_then(|d| d.length));
                after_trailer = false;
            }
            _ => {
                after_trailer = false;
                last = None;
            }
        }
    }
    false
}

/// Reads a dictionary whose `<<` was just read, up to its `>>`, and sums up its top level.
/// A keyword that cannot be inside a dictionary ends it early (and is given back), so one
/// broken dictionary does not swallow the rest of the file.
fn read_dict(lx: &mut Lexer<'_>) -> Dict {
    let mut items = Vec::new();
    let mut depth = 1usize;
    loop {
        let at = lx.pos();
        let Some(token) = lx.next_token() else { break };
        let top = depth == 1;
        match token {
            Token::DictOpen | Token::ArrayOpen => {
                if top {
                    items.push(if token == Token::DictOpen { Item::Dict } else { Item::Other });
                }
                depth += 1;
            }
            Token::DictClose | Token::ArrayClose => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Keyword(b"obj" | b"endobj" | b"stream" | b"endstream" | b"trailer" | b"xref") => {
                lx.rewind(at);
                break;
            }
            _ if !top => {}
            Token::Name(name) => items.push(Item::Name((name.len() <= KEY_MAX).then(|| name.into_owned()))),
            Token::Number(value) => items.push(Item::Int(value)),
            Token::Keyword(word) => items.push(Item::Keyword(word.to_vec())),
            Token::Str => items.push(Item::Other),
        }
    }
    summarize(&items)
}

/// Pairs keys with values (a value `n g R` is one reference) and picks out what matters.
fn summarize(items: &[Item]) -> Dict {
    let mut dict = Dict::default();
    let mut i = 0;
    while i < items.len() {
        let Item::Name(Some(key)) = &items[i] else {
            i += 1;
            continue;
        };
        let value = &items[i + 1..];
        let reference =
            matches!(value, [Item::Int(Some(_)), Item::Int(Some(_)), Item::Keyword(r), ..] if r.as_slice() == b"R");
        match key.as_slice() {
            b"Encrypt" => dict.encrypt |= reference || matches!(value.first(), Some(Item::Dict)),
            b"Type" => dict.xref |= matches!(value.first(), Some(Item::Name(Some(n))) if n.as_slice() == b"XRef"),
            b"Length" if !reference => {
                if let Some(Item::Int(length)) = value.first() {
                    dict.length = *length;
                }
            }
            _ => {}
        }
        i += 1 + if reference { 3 } else { 1 };
    }
    dict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_or_xref_stream_with_encrypt() {
        assert!(is_encrypted(b"%PDF-1.4\ntrailer\n<< /Size 3 /Encrypt 5 0 R /Root 1 0 R >>"));
        assert!(is_encrypted(b"%PDF-1.4\ntrailer<</Encrypt<</Filter/Standard>>>>"));
        assert!(is_encrypted(b"%PDF-1.5\n9 0 obj\n<< /Type /XRef /Encrypt 5 0 R /Length 0 >>\nstream\n\nendstream"));
        assert!(is_encrypted(b"%PDF-1.5\ntrailer<</Encr#79pt 5 0 R>>"), "a name escape is still the name");
    }

    #[test]
    fn the_words_elsewhere_do_not_count() {
        // In an object that is not a trailer or xref stream.
        assert!(!is_encrypted(b"%PDF-1.4\n3 0 obj << /Type /Page /Encrypt 5 0 R >> endobj trailer << /Root 1 0 R >>"));
        // Nested in the trailer, in a string, in a comment, in stream data, with a null value.
        assert!(!is_encrypted(b"trailer << /Info << /Encrypt 5 0 R >> /T (/Encrypt 5 0 R) >>"));
        assert!(!is_encrypted(b"% trailer << /Encrypt 5 0 R >>\ntrailer << /Root 1 0 R >>"));
        assert!(!is_encrypted(b"1 0 obj << /Length 30 >> stream\ntrailer << /Encrypt 5 0 R >>\nendstream endobj"));
        assert!(!is_encrypted(b"trailer << /Encrypt null >>"));
        // An xref stream's dictionary ending early does not make its stream data a trailer.
        assert!(!is_encrypted(b"1 0 obj << /Type /XRef /Length 25 stream\ntrailer<</Encrypt 1 0 R>>"));
    }
}
