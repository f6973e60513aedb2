//! Files embedded in a PDF: streams of `/Type /EmbeddedFile` (the attachments a reader lists,
//! reached from `/EmbeddedFiles` or a file attachment annotation), named by the file
//! specification (`/UF`, else `/F`) whose `/EF` dictionary points at them, decoded (none or
//! `/FlateDecode`) and opened in turn. An encrypted PDF's streams are not read (the PDF itself
//! is the finding).

use std::collections::HashMap;

use flate2::read::ZlibDecoder;
use memchr::memmem;

use crate::encrypted::Format;
use crate::encrypted::bytes::find;
use crate::encrypted::walker::{Walker, child, guard};

/// One object of interest: its number, dictionary and stream data.
struct Object<'a> {
    number: u64,
    dict: &'a [u8],
    stream: Option<&'a [u8]>,
}

/// Opens the files embedded in the PDF `bytes` found at `path`.
pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    if memmem::find(bytes, b"/EmbeddedFile").is_none() || crate::encrypted::pdf_is_encrypted(bytes) {
        return;
    }
    let objects = objects(bytes);
    let mut names: HashMap<u64, String> = HashMap::new();
    for object in &objects {
        if let Some(ef) = find(object.dict, b"/EF", 0)
            && let Some(target) = reference_after(&object.dict[ef + 3..], b"/F")
                .or_else(|| reference_after(&object.dict[ef + 3..], b"/UF"))
        {
            let name = string_after(object.dict, b"/UF").or_else(|| string_after(object.dict, b"/F"));
            if let Some(name) = name {
                names.insert(target, name);
            }
        }
    }
    let embedded: Vec<&Object<'_>> =
        objects.iter().filter(|o| o.stream.is_some() && is_embedded_file(o.dict)).collect();
    if let Err(reason) = w.count_entries(embedded.len()) {
        return w.obstacle(path, reason);
    }
    for (i, object) in embedded.into_iter().enumerate() {
        let name = names.get(&object.number).cloned().unwrap_or_else(|| format!("embedded file {}", i + 1));
        let name = name.rsplit(['/', '\\']).next().unwrap_or_default().to_string();
        let entry_path = child(path, name);
        let data = object.stream.unwrap_or_default();
        let filter = name_after(object.dict, b"/Filter");
        match filter.as_deref() {
            None => {
                if let Err(reason) = w.check_declared(data.len() as u64) {
                    w.obstacle(&entry_path, reason);
                    continue;
                }
                w.inspect(&entry_path, data);
            }
            Some("FlateDecode") => {
                let read = guard(|| w.read_entry(&mut ZlibDecoder::new(data), 0, Format::Pdf));
                match read {
                    Ok(Ok(file)) => {
                        w.inspect_owned(&entry_path, file);
                    }
                    Ok(Err(reason)) => {
                        let stop = reason.stops_the_walk();
                        w.obstacle(&entry_path, reason);
                        if stop {
                            return;
                        }
                    }
                    Err(panic) => w.corrupt(&entry_path, Format::Pdf, panic),
                }
            }
            Some(other) => w.corrupt(&entry_path, Format::Pdf, format!("embedded file filter {other} not decoded")),
        }
    }
}

/// `/Type /EmbeddedFile` in a dictionary (not `/EmbeddedFiles`).
fn is_embedded_file(dict: &[u8]) -> bool {
    name_after(dict, b"/Type").as_deref() == Some("EmbeddedFile")
}

/// Every `N G obj << ... >> [stream ... endstream]` in the file, stream data skipped over.
fn objects(bytes: &[u8]) -> Vec<Object<'_>> {
    let mut out = Vec::new();
    let finder = memmem::Finder::new(b"obj");
    let mut pos = 0;
    while let Some(at) = finder.find(&bytes[pos..]).map(|a| pos + a) {
        pos = at + 3;
        if bytes.get(at + 3).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let Some(number) = object_number(&bytes[..at]) else { continue };
        let mut p = at + 3;
        while bytes.get(p).is_some_and(u8::is_ascii_whitespace) {
            p += 1;
        }
        if !bytes[p..].starts_with(b"<<") {
            continue;
        }
        let Some(dict_end) = dict_end(bytes, p) else { continue };
        let dict = &bytes[p..dict_end];
        let mut q = dict_end;
        while bytes.get(q).is_some_and(u8::is_ascii_whitespace) {
            q += 1;
        }
        let mut stream = None;
        if bytes[q..].starts_with(b"stream") {
            let mut start = q + 6;
            if bytes.get(start) == Some(&b'\r') {
                start += 1;
            }
            if bytes.get(start) == Some(&b'\n') {
                start += 1;
            }
            let by_length = int_after(dict, b"/Length")
                .and_then(|l| usize::try_from(l).ok())
                .and_then(|l| start.checked_add(l))
                .filter(|&end| bytes.get(end..).is_some_and(|rest| rest.trim_ascii_start().starts_with(b"endstream")));
            let end = by_length.or_else(|| find(bytes, b"endstream", start)).unwrap_or(bytes.len());
            stream = Some(&bytes[start..end]);
            pos = end;
        } else {
            pos = dict_end;
        }
        out.push(Object { number, dict, stream });
    }
    out
}

/// The object number in `N G ` just before an `obj` keyword.
fn object_number(before: &[u8]) -> Option<u64> {
    let t = before.trim_ascii_end();
    let generation_start = t.iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |p| p + 1);
    if generation_start == t.len() {
        return None;
    }
    let t2 = t[..generation_start].trim_ascii_end();
    let number_start = t2.iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |p| p + 1);
    std::str::from_utf8(&t2[number_start..]).ok()?.parse().ok()
}

/// The end (after `>>`) of the dictionary opening at `start`, strings stepped over.
fn dict_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => i = string_end(bytes, i)?,
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 2;
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The position after the literal string opening at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Where the value of key `key` starts in `dict` (the key followed by a delimiter).
fn value_of<'a>(dict: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(at) = find(dict, key, from) {
        let after = at + key.len();
        from = after;
        if dict.get(after).is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'#') {
            continue;
        }
        return Some(dict[after..].trim_ascii_start());
    }
    None
}

fn name_after(dict: &[u8], key: &[u8]) -> Option<String> {
    let value = value_of(dict, key)?;
    let value = value.strip_prefix(b"[").map(<[u8]>::trim_ascii_start).unwrap_or(value);
    let name = value.strip_prefix(b"/")?;
    let end = name.iter().position(|&b| !b.is_ascii_alphanumeric()).unwrap_or(name.len());
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}

fn int_after(dict: &[u8], key: &[u8]) -> Option<u64> {
    let value = value_of(dict, key)?;
    let end = value.iter().position(|b| !b.is_ascii_digit()).unwrap_or(value.len());
    let rest = value[end..].trim_ascii_start();
    // `N G R` is a reference, not the number.
    if rest.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&value[..end]).ok()?.parse().ok()
}

fn reference_after(dict: &[u8], key: &[u8]) -> Option<u64> {
    let value = value_of(dict, key)?;
    let end = value.iter().position(|b| !b.is_ascii_digit()).unwrap_or(value.len());
    std::str::from_utf8(&value[..end]).ok()?.parse().ok()
}

/// A literal string value, escapes decoded (UTF-16BE with a BOM decoded too).
fn string_after(dict: &[u8], key: &[u8]) -> Option<String> {
    let value = value_of(dict, key)?;
    if value.first() != Some(&b'(') {
        return None;
    }
    let end = string_end(value, 0)?;
    let mut out = Vec::new();
    let mut i = 1;
    while i < end - 1 {
        let b = value[i];
        if b == b'\\' {
            i += 1;
            let e = *value.get(i)?;
            out.push(match e {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'0'..=b'7' => {
                    let digits: Vec<u8> =
                        value[i..].iter().take(3).take_while(|d| (b'0'..=b'7').contains(d)).copied().collect();
                    i += digits.len() - 1;
                    digits.iter().fold(0u8, |n, d| n.wrapping_mul(8).wrapping_add(d - b'0'))
                }
                other => other,
            });
        } else {
            out.push(b);
        }
        i += 1;
    }
    if out.starts_with(b"\xFE\xFF") {
        let units: Vec<u16> = out[2..].chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        return Some(String::from_utf16_lossy(&units));
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// A PDF with `files` (name, bytes) embedded, Flate-compressed, as a PDF writer does: for tests.
#[cfg(test)]
pub(crate) fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut out = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Names << /EmbeddedFiles 2 0 R >> >>\nendobj\n".to_vec();
    let mut names = String::new();
    for (i, (name, data)) in files.iter().enumerate() {
        let (spec, stream) = (10 + 2 * i, 11 + 2 * i);
        names.push_str(&format!("({name}) {spec} 0 R "));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        let packed = z.finish().unwrap();
        out.extend_from_slice(
            format!("{spec} 0 obj\n<< /Type /Filespec /F ({name}) /UF ({name}) /EF << /F {stream} 0 R >> >>\nendobj\n")
                .as_bytes(),
        );
        out.extend_from_slice(
            format!(
                "{stream} 0 obj\n<< /Type /EmbeddedFile /Filter /FlateDecode /Length {} /Params << /Size {} >> >>\nstream\n",
                packed.len(),
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&packed);
        out.extend_from_slice(b"\nendstream\nendobj\n");
    }
    out.extend_from_slice(
        format!("2 0 obj\n<< /Names [{names}] >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n").as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_names_and_values() {
        let pdf = build(&[("a b.txt", b"hello")]);
        let objects = objects(&pdf);
        assert_eq!(objects.iter().map(|o| o.number).collect::<Vec<_>>(), [1, 10, 11, 2]);
        assert!(is_embedded_file(objects[2].dict));
        assert!(!is_embedded_file(objects[0].dict));
        assert_eq!(string_after(objects[1].dict, b"/UF"), Some("a b.txt".into()));
        assert_eq!(reference_after(&objects[1].dict[4..], b"/F"), None, "the /F string, not /EF's");
        assert_eq!(string_after(b"<< /F (a\\(1\\).pdf) >>", b"/F"), Some("a(1).pdf".into()));
        assert_eq!(int_after(b"<< /Length 12 0 R >>", b"/Length"), None);
        assert_eq!(int_after(b"<< /Length 12 >>", b"/Length"), Some(12));
    }
}
