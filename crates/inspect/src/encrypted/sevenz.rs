//! 7z: encrypted headers are seen in the signature and encoded headers (parsed here); the
//! rest (content encrypted per folder, entry names, decompression of plain archives for the
//! entries inside) comes from `sevenz-rust2`, within the limits.

use std::io::Cursor;

use sevenz_rust2::{Archive, ArchiveReader, Password};

use super::report::{Kind, Reason};
use super::sevenz_header::{self, AES_CODER, NextHeader};
use super::sniff::Format;
use super::walker::{Walker, child, guard};

pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    match sevenz_header::next_header(bytes) {
        Ok(NextHeader::Empty) => return,
        Ok(header) if header.encrypted() => {
            return w.finding(path, Kind::SevenZip { headers_encrypted: true });
        }
        Ok(_) => {}
        Err(e) => return w.corrupt(path, Format::SevenZip, e),
    }
    let memory_kb = usize::try_from(w.limits.max_decoder_memory / 1024).unwrap_or(usize::MAX);
    let archive =
        match guard(|| Archive::read_with_memory_limit(&mut Cursor::new(bytes), &Password::empty(), memory_kb)) {
            Ok(Ok(archive)) => archive,
            Ok(Err(sevenz_rust2::Error::PasswordRequired)) => {
                return w.finding(path, Kind::SevenZip { headers_encrypted: true });
            }
            Ok(Err(e)) => return w.corrupt(path, Format::SevenZip, e),
            Err(panic) => return w.corrupt(path, Format::SevenZip, panic),
        };
    if let Err(reason) = w.count_entries(archive.files.len()) {
        return w.obstacle(path, reason);
    }
    let mut encrypted = false;
    for (index, file) in archive.files.iter().enumerate() {
        if archive.is_file_encrypted(index) {
            let entry_path = child(path, file.name());
            w.finding(&entry_path, Kind::SevenZip { headers_encrypted: false });
            w.sized(&entry_path, file.size());
            encrypted = true;
        }
    }
    if archive.blocks.iter().any(|b| b.coders.iter().any(|c| c.encoder_method_id() == AES_CODER)) {
        if !encrypted {
            w.finding(path, Kind::SevenZip { headers_encrypted: false });
        }
        // Content behind a password: nothing more can be read.
        return;
    }
    decompress(w, path, bytes, archive);
}

/// Decompresses every entry (solid blocks decode in order) and inspects each one.
fn decompress(w: &mut Walker<'_>, path: &[String], bytes: &[u8], archive: Archive) {
    // Checked up front: in a solid block, skipping an entry would still decode it.
    let mut total = 0u64;
    for file in archive.files.iter().filter(|f| f.has_stream()) {
        if let Err(reason) = w.check_declared(file.size()) {
            return w.obstacle(&child(path, file.name()), reason);
        }
        total = total.saturating_add(file.size());
    }
    if total > w.budget_left() {
        return w.obstacle(path, Reason::TotalTooLarge { max: w.limits.max_total_uncompressed });
    }
    let result = guard(|| {
        let mut reader = ArchiveReader::from_archive(archive, Cursor::new(bytes), Password::empty());
        reader.set_thread_count(1);
        reader.for_each_entries(|entry, data| {
            if !entry.has_stream() || entry.is_directory() {
                return Ok(true);
            }
            let entry_path = child(path, entry.name());
            match w.read_entry(data, entry.size(), Format::SevenZip) {
                Ok(content) => {
                    w.inspect_owned(&entry_path, content);
                    Ok(true)
                }
                Err(reason) => {
                    w.obstacle(&entry_path, reason);
                    Ok(false)
                }
            }
        })
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => w.corrupt(path, Format::SevenZip, e),
        Err(panic) => w.corrupt(path, Format::SevenZip, panic),
    }
}
