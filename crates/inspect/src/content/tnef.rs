//! TNEF (`winmail.dat`, `application/ms-tnef`): the attribute stream Outlook wraps a message's
//! attachments in ([MS-OXTNEF] 2.1.3). Each attachment's title and data become a child.

use crate::encrypted::Format;
use crate::encrypted::bytes::{le16, le32};
use crate::encrypted::walker::{Walker, child};

const LEVEL_ATTACHMENT: u8 = 2;
/// attAttachRenddata: starts a new attachment.
const ATT_RENDDATA: u32 = 0x0006_9002;
/// attAttachTitle: the attachment's (short) file name.
const ATT_TITLE: u32 = 0x0001_8010;
/// attAttachData: the attachment's bytes.
const ATT_DATA: u32 = 0x0006_800F;

/// One attachment found in the stream.
#[derive(Debug, Default)]
struct Attachment<'a> {
    title: Option<String>,
    data: Option<&'a [u8]>,
}

/// The attachments of a TNEF stream, or why it could not be read (what was read stands).
fn attachments(bytes: &[u8]) -> (Vec<Attachment<'_>>, Option<String>) {
    let mut out: Vec<Attachment<'_>> = Vec::new();
    // Signature (4) and legacy key (2).
    let mut pos = 6;
    // Writers may leave a line break or padding after the last attribute.
    while pos + 9 <= bytes.len() {
        let (Some(&level), Some(id), Some(len)) = (bytes.get(pos), le32(bytes, pos + 1), le32(bytes, pos + 5)) else {
            return (out, Some(format!("truncated attribute at byte {pos}")));
        };
        let start = pos + 9;
        let Some(end) = start.checked_add(len as usize).filter(|&e| e + 2 <= bytes.len()) else {
            return (out, Some(format!("attribute at byte {pos} extends past the end")));
        };
        let data = &bytes[start..end];
        if level == LEVEL_ATTACHMENT {
            match id {
                ATT_RENDDATA => out.push(Attachment::default()),
                ATT_TITLE => {
                    if let Some(a) = out.last_mut() {
                        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                        a.title = Some(String::from_utf8_lossy(&data[..end]).into_owned());
                    }
                }
                ATT_DATA => {
                    if let Some(a) = out.last_mut() {
                        a.data = Some(data);
                    }
                }
                _ => {}
            }
        }
        // The checksum follows each attribute's data.
        let _checksum = le16(bytes, end);
        pos = end + 2;
    }
    (out, None)
}

/// Opens the TNEF stream `bytes` found at `path`.
pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    let (found, error) = attachments(bytes);
    if let Err(reason) = w.count_entries(found.len()) {
        return w.obstacle(path, reason);
    }
    for (i, attachment) in found.into_iter().enumerate() {
        let Some(data) = attachment.data else { continue };
        let name = attachment.title.filter(|t| !t.is_empty()).unwrap_or_else(|| format!("attachment-{}", i + 1));
        w.inspect(&child(path, name), data);
    }
    if let Some(e) = error {
        w.corrupt(path, Format::Tnef, e);
    }
}

/// A TNEF stream holding `files` (name, bytes), as Outlook writes them: for tests.
#[cfg(test)]
pub(crate) fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
    fn attribute(out: &mut Vec<u8>, level: u8, id: u32, data: &[u8]) {
        out.push(level);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        let sum = data.iter().fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
        out.extend_from_slice(&sum.to_le_bytes());
    }
    let mut out = b"\x78\x9F\x3E\x22\x01\x00".to_vec();
    attribute(&mut out, 1, 0x0008_9006, &[1, 0, 0, 0]);
    for (name, data) in files {
        attribute(&mut out, 2, ATT_RENDDATA, &[0; 14]);
        let mut title = name.as_bytes().to_vec();
        title.push(0);
        attribute(&mut out, 2, ATT_TITLE, &title);
        attribute(&mut out, 2, ATT_DATA, data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_are_read_in_order() {
        let stream = build(&[("a.txt", b"hello"), ("b.zip", b"PK\x05\x06")]);
        let (found, error) = attachments(&stream);
        assert_eq!(error, None);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].title.as_deref(), Some("a.txt"));
        assert_eq!(found[1].data, Some(&b"PK\x05\x06"[..]));
        let (_, error) = attachments(&stream[..stream.len() - 3]);
        assert!(error.is_some());
        let padded = [&stream[..], b"\n"].concat();
        let (found, error) = attachments(&padded);
        assert_eq!((found.len(), error), (2, None), "a trailing line break");
    }
}
