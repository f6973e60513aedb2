//! The canonical form of the part that is signed (RFC 8551 §3.1): CRLF line endings, and
//! every leaf whose body is 8-bit, binary or has lines longer than 998 octets re-encoded as
//! base64, so no relay on the way has a reason to change the signed bytes.

use base64::Engine as _;

use crate::header::{self, ContentType};

/// Multiparts nested deeper than this are left as they are.
const MAX_DEPTH: usize = 32;

/// `entity` (CRLF line endings) with every leaf that is not 7-bit re-encoded as base64.
pub(crate) fn seven_bit(entity: &[u8]) -> Vec<u8> {
    entity_7bit(entity, 0)
}

fn entity_7bit(entity: &[u8], depth: usize) -> Vec<u8> {
    let (fields_end, body_start) = header::split(entity);
    let block = &entity[..fields_end];
    let body = &entity[body_start..];
    let fields = header::fields(block);
    let ct = header::content_type(&fields);
    if ct.mime.starts_with("multipart/")
        && depth < MAX_DEPTH
        && let Some(boundary) = ct.param("boundary")
    {
        return multipart_7bit(entity, body_start, boundary, depth);
    }
    if !needs_encoding(body) {
        return entity.to_vec();
    }
    let encoding = fields
        .iter()
        .find(|f| f.is("Content-Transfer-Encoding"))
        .map(|f| f.value().to_ascii_lowercase())
        .unwrap_or_default();
    if encoding == "base64" || encoding == "quoted-printable" || is_message(&ct) {
        return entity.to_vec();
    }
    let mut out = Vec::with_capacity(body.len() * 4 / 3 + block.len() + 64);
    for f in fields.iter().filter(|f| !f.is("Content-Transfer-Encoding")) {
        out.extend_from_slice(f.raw);
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    out.extend_from_slice(&base64_lines(body));
    out
}

fn is_message(ct: &ContentType) -> bool {
    ct.mime.starts_with("message/")
}

fn multipart_7bit(entity: &[u8], body_start: usize, boundary: &str, depth: usize) -> Vec<u8> {
    let body = &entity[body_start..];
    let parts = header::multipart(body, boundary);
    if !parts.closed || parts.parts.is_empty() {
        return entity.to_vec();
    }
    let mut out = Vec::with_capacity(entity.len() + 64);
    out.extend_from_slice(&entity[..body_start]);
    let mut at = 0;
    for &(start, end) in &parts.parts {
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(&entity_7bit(&body[start..end], depth + 1));
        at = end;
    }
    out.extend_from_slice(&body[at..]);
    out
}

/// Whether a body holds bytes or lines a 7-bit transport would not carry.
fn needs_encoding(body: &[u8]) -> bool {
    body.iter().any(|&b| b >= 0x80 || b == 0) || body.split(|&b| b == b'\n').any(|l| l.len() > 999)
}

/// `bytes` as base64 in lines of 76 characters, each ending CRLF.
pub(crate) fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(text.len() + text.len() / 38 + 2);
    for line in text.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_8bit_leaf_in_a_multipart_becomes_base64_and_the_rest_stays() {
        let entity = "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\npre\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n日本語\r\n--b\r\nContent-Type: text/plain\r\n\r\nascii\r\n--b--\r\n";
        let out = String::from_utf8(seven_bit(entity.as_bytes())).unwrap();
        assert!(out.is_ascii(), "{out}");
        let expected = format!(
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\npre\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nascii\r\n--b--\r\n",
            base64::engine::general_purpose::STANDARD.encode("日本語".as_bytes())
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn a_7bit_entity_is_unchanged() {
        let entity = b"Content-Type: text/plain\r\n\r\nhello\r\n";
        assert_eq!(seven_bit(entity), entity.to_vec());
    }
}
