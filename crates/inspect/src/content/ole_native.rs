//! OLE Package objects: the `\x01Ole10Native` stream an Office document embeds a file in
//! (a dropped .exe, .js or .lnk shows as an icon in the document). Its layout: total size (4),
//! flags (2), label (NUL-terminated), source path (NUL-terminated), two reserved words, the
//! temporary path (length-prefixed), the data size (4) and the file's bytes.

use crate::encrypted::bytes::{le16, le32};

/// The embedded file of stream `name` with `data`, when it is an Ole10Native stream: its label
/// (the file name shown) and bytes.
pub(crate) fn unwrap<'a>(name: &str, data: &'a [u8]) -> Option<(String, &'a [u8])> {
    if !name.ends_with("Ole10Native") {
        return None;
    }
    let _total = le32(data, 0)?;
    let _flags = le16(data, 4)?;
    let mut pos = 6;
    let label = cstr(data, &mut pos)?;
    let _source = cstr(data, &mut pos)?;
    pos += 4;
    let temp_len = le32(data, pos)? as usize;
    pos = pos.checked_add(4 + temp_len)?;
    let size = le32(data, pos)? as usize;
    let file = data.get(pos + 4..pos.checked_add(4 + size)?)?;
    let label = if label.is_empty() { "embedded object".to_string() } else { label };
    Some((label, file))
}

fn cstr(data: &[u8], pos: &mut usize) -> Option<String> {
    let rest = data.get(*pos..)?;
    let end = rest.iter().take(4096).position(|&b| b == 0)?;
    *pos += end + 1;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// An Ole10Native stream holding `file` labelled `label`: for tests.
#[cfg(test)]
pub(crate) fn build(label: &str, file: &[u8]) -> Vec<u8> {
    let mut body = vec![2, 0];
    body.extend_from_slice(label.as_bytes());
    body.push(0);
    body.extend_from_slice(format!("C:\\Users\\x\\{label}").as_bytes());
    body.push(0);
    body.extend_from_slice(&[0, 0, 3, 0]);
    let temp = format!("C:\\Temp\\{label}\0");
    body.extend_from_slice(&(temp.len() as u32).to_le_bytes());
    body.extend_from_slice(temp.as_bytes());
    body.extend_from_slice(&(file.len() as u32).to_le_bytes());
    body.extend_from_slice(file);
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_file_is_unwrapped() {
        let stream = build("run.js", b"WScript.Echo(1)");
        assert_eq!(unwrap("ObjectPool/_1/\u{1}Ole10Native", &stream), Some(("run.js".into(), &b"WScript.Echo(1)"[..])));
        assert_eq!(unwrap("WordDocument", &stream), None);
        assert_eq!(unwrap("\u{1}Ole10Native", &stream[..20]), None);
    }
}
