//! tar (POSIX ustar, GNU, pax): 512-byte headers in front of each member's bytes, read here
//! (no dependency); regular files are opened in turn, long names (GNU `L`, pax `path`) applied.

use crate::encrypted::Format;
use crate::encrypted::walker::{Walker, child};

const BLOCK: usize = 512;

/// True when `bytes` start with a ustar header whose checksum holds.
pub(crate) fn is_tar(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..BLOCK) else { return false };
    (&header[257..262] == b"ustar") && checksum_holds(header)
}

fn checksum_holds(header: &[u8]) -> bool {
    let Some(stored) = octal(&header[148..156]) else { return false };
    let sum: u64 =
        header.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) }).sum();
    sum == stored
}

/// An octal number field (NUL or space terminated), or a GNU base-256 one.
fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut n: u64 = u64::from(field[0] & 0x7F);
        for &b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(n);
    }
    let text: Vec<u8> = field.iter().copied().take_while(|&b| b != 0).filter(|b| *b != b' ').collect();
    if text.is_empty() {
        return Some(0);
    }
    let mut n: u64 = 0;
    for b in text {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        n = n.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The `path` record of a pax extended header.
fn pax_path(data: &[u8]) -> Option<String> {
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        let record = rest.get(space + 1..len)?;
        if let Some(value) = record.strip_prefix(b"path=") {
            return Some(String::from_utf8_lossy(value.strip_suffix(b"\n").unwrap_or(value)).into_owned());
        }
        rest = rest.get(len..)?;
    }
    None
}

/// Opens the tar archive `bytes` found at `path`.
pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    let mut pos = 0;
    let mut long_name: Option<String> = None;
    while let Some(header) = bytes.get(pos..pos + BLOCK) {
        if header.iter().all(|&b| b == 0) {
            return;
        }
        if !checksum_holds(header) {
            return w.corrupt(path, Format::Tar, format!("bad header checksum at byte {pos}"));
        }
        let Some(size) = octal(&header[124..136]) else {
            return w.corrupt(path, Format::Tar, format!("bad size at byte {pos}"));
        };
        let start = pos + BLOCK;
        let Some(end) = usize::try_from(size).ok().and_then(|s| start.checked_add(s)).filter(|&e| e <= bytes.len())
        else {
            return w.corrupt(path, Format::Tar, "a member extends past the end of the archive");
        };
        let data = &bytes[start..end];
        pos = start + (end - start).div_ceil(BLOCK) * BLOCK;
        let kind = header[156];
        match kind {
            b'L' => {
                long_name = Some(text(data));
                continue;
            }
            b'x' => {
                long_name = pax_path(data);
                continue;
            }
            b'g' => continue,
            _ => {}
        }
        let name = long_name.take().unwrap_or_else(|| {
            let prefix = text(&header[345..500]);
            let name = text(&header[..100]);
            if &header[257..263] == b"ustar\0" && !prefix.is_empty() { format!("{prefix}/{name}") } else { name }
        });
        if let Err(reason) = w.count_entries(1) {
            return w.obstacle(path, reason);
        }
        // Regular files only: directories, links and devices carry no bytes to open.
        if !matches!(kind, b'0' | 0 | b'7') {
            continue;
        }
        let entry_path = child(path, name);
        if let Err(reason) = w.check_declared(size) {
            let stop = reason.stops_the_walk();
            w.obstacle(&entry_path, reason);
            if stop {
                return;
            }
            continue;
        }
        w.inspect(&entry_path, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"   17 \0"), Some(0o17));
        assert_eq!(octal(b"\x80\0\0\0\0\0\0\0\0\0\x01\0"), Some(256));
        assert_eq!(octal(b"9"), None);
        assert_eq!(pax_path(b"16 path=a/b.zip\n"), Some("a/b.zip".into()));
    }
}
