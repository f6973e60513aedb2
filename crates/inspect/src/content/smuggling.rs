//! HTML smuggling: an HTML file whose script builds a file in the browser (a Blob or a data
//! URI from a long base64 string or a large byte array) and makes the browser save it, so the
//! file never crosses the gateway as an attachment.

use crate::encrypted::bytes::find;

/// Shortest run of base64 characters, or of comma-separated numbers, counted as a file's
/// bytes carried in a script.
const LONG_RUN: usize = 2048;

/// True when `html` holds a script that assembles a file and hands it to the browser.
pub(crate) fn assembles_a_file(html: &[u8]) -> bool {
    let lower = html.to_ascii_lowercase();
    let has = |needle: &[u8]| find(&lower, needle, 0).is_some();
    // A link or object whose target is a whole file inline: the browser saves it without any
    // script.
    if data_uri_file(&lower) {
        return true;
    }
    if !has(b"<script") && !has(b"javascript:") && !has(b" on") {
        return false;
    }
    if has(b"mssaveoropenblob") || has(b"mssaveblob") {
        return true;
    }
    let payload = long_base64(html) || long_number_array(html);
    let saves = has(b"createobjecturl") && (has(b"download=") || has(b".download") || has(b"download\""));
    let builds = has(b"new blob") || has(b"atob(") || has(b"uint8array") || has(b"data:application/");
    (saves && (builds || payload)) || (payload && (has(b"atob(") || has(b"new blob")))
}

/// Shortest base64 payload of a `data:application/...` link taken for a file (a small program
/// is a few hundred bytes).
const DATA_URI_RUN: usize = 256;

/// A link (`href`) to a `data:application/...;base64,` URI carrying a file.
fn data_uri_file(lower: &[u8]) -> bool {
    let mut from = 0;
    while let Some(at) = find(lower, b"data:application/", from) {
        from = at + 1;
        let before = &lower[at.saturating_sub(8)..at];
        if find(before, b"href=", 0).is_none() {
            continue;
        }
        let window = &lower[at..lower.len().min(at + 128)];
        if let Some(b64) = find(window, b";base64,", 0) {
            let payload = &lower[at + b64 + 8..];
            let run =
                payload.iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')).count();
            if run >= DATA_URI_RUN {
                return true;
            }
        }
    }
    false
}

/// A run of at least [`LONG_RUN`] base64 characters.
fn long_base64(bytes: &[u8]) -> bool {
    let mut run = 0;
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
            run += 1;
            if run >= LONG_RUN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// A run of at least [`LONG_RUN`] characters of numbers, commas and spaces (a byte array).
fn long_number_array(bytes: &[u8]) -> bool {
    let mut run = 0;
    let mut commas = 0;
    for &b in bytes {
        if b.is_ascii_digit() || b == b',' || b == b' ' || b == b'x' {
            run += 1;
            commas += usize::from(b == b',');
            if run >= LONG_RUN && commas * 6 >= run {
                return true;
            }
        } else {
            run = 0;
            commas = 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_download_is_smuggling_a_page_is_not() {
        let payload = "QUFB".repeat(1000);
        let smuggler = format!(
            "<html><body><script>var b = atob('{payload}'); var blob = new Blob([b], {{type: 'application/zip'}}); \
             var a = document.createElement('a'); a.href = URL.createObjectURL(blob); a.download = 'invoice.zip'; \
             a.click();</script></body></html>"
        );
        assert!(assembles_a_file(smuggler.as_bytes()));
        assert!(assembles_a_file(b"<script>window.navigator.msSaveOrOpenBlob(blob, 'a.iso')</script>"));
        let bytes = (0..1200).map(|i| (i % 256).to_string()).collect::<Vec<_>>().join(",");
        let array = format!(
            "<script>var d = new Uint8Array([{bytes}]); var u = URL.createObjectURL(new Blob([d])); \
                             link.download = 'x.exe';</script>"
        );
        assert!(assembles_a_file(array.as_bytes()));
        assert!(!assembles_a_file(b"<html><body><p>Invoice attached.</p><script>track()</script></body></html>"));
        let link = format!("<a href=\"data:application/octet-stream;base64,{payload}\">invoice</a>");
        assert!(assembles_a_file(link.as_bytes()), "a data URI link needs no script");
        let image = format!("<html><img src=\"data:image/png;base64,{payload}\"></html>");
        assert!(!assembles_a_file(image.as_bytes()), "an inline image is no download");
    }
}
