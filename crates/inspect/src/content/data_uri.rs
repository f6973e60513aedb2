//! Files carried inline in an HTML file as `data:` URIs (`href="data:application/zip;base64,..."`):
//! the browser saves or shows them without any download, so each one is a file of its own,
//! opened in turn. Only base64 URIs long enough to be a file (not a spacer image) count.

use crate::encrypted::bytes::find;
use crate::encrypted::walker::{Walker, child};
use crate::mime::transfer;

/// Shortest base64 payload taken for a file.
const MIN_PAYLOAD: usize = 256;
/// Where the `data:` prefix and the media type may be.
const MAX_TYPE: usize = 128;

/// True when `bytes` look like HTML holding at least one `data:...;base64,` URI.
pub(crate) fn holds_data_uris(bytes: &[u8]) -> bool {
    crate::encrypted::sniff::textual(bytes)
        && super::types::is_html(&bytes[..bytes.len().min(4096)])
        && find(bytes, b";base64,", 0).is_some()
}

/// The payloads of the `data:` URIs in `html`: each one's media type and base64 text.
fn uris(html: &[u8]) -> Vec<(String, &[u8])> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find(html, b";base64,", from) {
        from = at + 8;
        let window = &html[at.saturating_sub(MAX_TYPE)..at];
        let Some(data) = window.windows(5).rposition(|w| w.eq_ignore_ascii_case(b"data:")) else { continue };
        let media = String::from_utf8_lossy(&window[data + 5..]).to_ascii_lowercase();
        let payload = &html[from..];
        let run = payload
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n' | b' '))
            .count();
        if run >= MIN_PAYLOAD {
            out.push((media, &payload[..run]));
        }
        from += run;
    }
    out
}

/// Opens the `data:` URIs of the HTML `bytes` found at `path`: each decoded payload is a child.
pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    let found = uris(bytes);
    if let Err(reason) = w.count_entries(found.len()) {
        return w.obstacle(path, reason);
    }
    for (i, (media, payload)) in found.into_iter().enumerate() {
        let name = format!("data URI {} ({})", i + 1, if media.is_empty() { "no type" } else { &media });
        if let Err(reason) = w.check_declared(payload.len() as u64 / 4 * 3) {
            w.obstacle(&child(path, name), reason);
            continue;
        }
        w.inspect_owned(&child(path, name), transfer::base64(payload));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_base64_uris_are_files_short_ones_are_not() {
        let long = "QUFB".repeat(100);
        let html = format!(
            "<html><a href=\"data:application/zip;base64,{long}\">x</a><img src=\"data:image/gif;base64,R0lGOD==\"></html>"
        );
        let found = uris(html.as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "application/zip");
        assert_eq!(found[0].1, long.as_bytes());
        assert!(holds_data_uris(html.as_bytes()));
        assert!(!holds_data_uris(b"plain text;base64,"));
    }
}
