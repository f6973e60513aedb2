//! The recursion: sniff a file, hand it to its format's inspector, keep the shared limits
//! (depth, entries, bytes decompressed) and collect what every level reports.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::limits::Limits;
use super::report::{Finding, Kind, Note, Obstacle, Reason, Report};
use super::sniff::{Format, candidates};
use super::{office, pdf, rar, sevenz, zip};

const CHUNK: usize = 64 * 1024;

/// State shared by every level of one inspection.
pub(crate) struct Walker<'l> {
    pub(crate) limits: &'l Limits,
    entries: usize,
    decompressed: u64,
    pub(crate) report: Report,
}

impl<'l> Walker<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Walker {
            limits,
            entries: 0,
            decompressed: 0,
            report: Report { format: Format::Other, findings: vec![], obstacles: vec![], notes: vec![] },
        }
    }

    /// Inspects `bytes`, found at `path` (the attachment's name first), as every format it may
    /// be; returns the first, refined (a ZIP may turn out to be OOXML).
    pub(crate) fn inspect(&mut self, path: &[String], bytes: &[u8]) -> Format {
        let formats = candidates(bytes);
        let Some(&first) = formats.first() else {
            return Format::Other;
        };
        let depth = path.len().saturating_sub(1);
        if depth > self.limits.max_depth as usize {
            self.obstacle(path, Reason::TooDeep { max_depth: self.limits.max_depth });
            return first;
        }
        let mut refined = first;
        for (i, format) in formats.into_iter().enumerate() {
            let found = match format {
                Format::Zip | Format::Ooxml | Format::OpenDocument => zip::inspect(self, path, bytes),
                Format::SevenZip => {
                    sevenz::inspect(self, path, bytes);
                    format
                }
                Format::Rar4 | Format::Rar5 => {
                    rar::inspect(self, path, bytes, format);
                    format
                }
                Format::Cfb => {
                    office::inspect(self, path, bytes);
                    format
                }
                Format::Pdf => {
                    pdf::inspect(self, path, bytes);
                    format
                }
                Format::Other => format,
            };
            if i == 0 {
                refined = found;
            }
        }
        refined
    }

    pub(crate) fn finding(&mut self, path: &[String], kind: Kind) {
        let finding = Finding { path: path.to_vec(), kind };
        if !self.report.findings.contains(&finding) {
            self.report.findings.push(finding);
        }
    }

    pub(crate) fn obstacle(&mut self, path: &[String], reason: Reason) {
        self.report.obstacles.push(Obstacle { path: path.to_vec(), reason });
    }

    pub(crate) fn corrupt(&mut self, path: &[String], format: Format, detail: impl ToString) {
        self.obstacle(path, Reason::Corrupt { format, detail: detail.to_string() });
    }

    pub(crate) fn note(&mut self, path: &[String], text: impl Into<String>) {
        self.report.notes.push(Note { path: path.to_vec(), text: text.into() });
    }

    /// Counts `n` more archive entries against [`Limits::max_entries`].
    pub(crate) fn count_entries(&mut self, n: usize) -> Result<(), Reason> {
        let total = self.entries.saturating_add(n);
        if total > self.limits.max_entries {
            return Err(Reason::TooManyEntries { max: self.limits.max_entries });
        }
        self.entries = total;
        Ok(())
    }

    /// Entries that may still be counted.
    pub(crate) fn entries_left(&self) -> usize {
        self.limits.max_entries.saturating_sub(self.entries)
    }

    /// Bytes that may still be decompressed.
    pub(crate) fn budget_left(&self) -> u64 {
        self.limits.max_total_uncompressed.saturating_sub(self.decompressed)
    }

    /// Checks a declared size before any work is spent on it.
    pub(crate) fn check_declared(&self, declared: u64) -> Result<(), Reason> {
        if declared > self.limits.max_entry_size {
            return Err(Reason::EntryTooLarge { max: self.limits.max_entry_size });
        }
        if declared > self.budget_left() {
            return Err(Reason::TotalTooLarge { max: self.limits.max_total_uncompressed });
        }
        Ok(())
    }

    /// Reads one entry's decompressed bytes, never more than the per-entry limit or what is
    /// left of the total, whatever the entry declares.
    pub(crate) fn read_entry(
        &mut self,
        reader: &mut dyn Read,
        declared: u64,
        format: Format,
    ) -> Result<Vec<u8>, Reason> {
        self.check_declared(declared)?;
        let per_entry = self.limits.max_entry_size;
        let cap = per_entry.min(self.budget_left());
        let mut out = Vec::with_capacity(declared.min(cap).min(1 << 20) as usize);
        let mut chunk = vec![0; CHUNK];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.decompressed += out.len() as u64;
                    return Err(Reason::Corrupt { format, detail: e.to_string() });
                }
            };
            if (out.len() + n) as u64 > cap {
                self.decompressed += cap;
                return Err(if cap == per_entry {
                    Reason::EntryTooLarge { max: per_entry }
                } else {
                    Reason::TotalTooLarge { max: self.limits.max_total_uncompressed }
                });
            }
            out.extend_from_slice(&chunk[..n]);
        }
        self.decompressed += out.len() as u64;
        Ok(out)
    }
}

/// A third-party parser panicked on the input, with what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parser panicked: {0}")]
pub(crate) struct Panicked(String);

/// Runs a third-party parser so that a panic on hostile input becomes an error, not a crash.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Panicked(text)
    })
}

/// The path of an entry: the container's path and the entry's name.
pub(crate) fn child(path: &[String], name: impl Into<String>) -> Vec<String> {
    let mut out = path.to_vec();
    out.push(name.into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_entry_stops_at_the_limits() {
        let limits = Limits { max_entry_size: 10, max_total_uncompressed: 15, ..Limits::default() };
        let mut w = Walker::new(&limits);
        assert_eq!(w.read_entry(&mut &[1u8; 8][..], 8, Format::Zip).map(|v| v.len()), Ok(8));
        // The declared size lies: the bytes themselves are counted.
        assert_eq!(w.read_entry(&mut &[1u8; 100][..], 1, Format::Zip), Err(Reason::TotalTooLarge { max: 15 }));
        assert_eq!(w.budget_left(), 0);
        let mut w = Walker::new(&limits);
        assert_eq!(w.read_entry(&mut &[1u8; 11][..], 0, Format::Zip), Err(Reason::EntryTooLarge { max: 10 }));
        assert_eq!(w.check_declared(11), Err(Reason::EntryTooLarge { max: 10 }));
    }

    #[test]
    fn counts_entries() {
        let limits = Limits { max_entries: 3, ..Limits::default() };
        let mut w = Walker::new(&limits);
        assert_eq!(w.count_entries(3), Ok(()));
        assert_eq!(w.count_entries(1), Err(Reason::TooManyEntries { max: 3 }));
        assert_eq!(w.entries_left(), 0);
    }

    #[test]
    fn guard_turns_a_panic_into_an_error() {
        assert_eq!(guard(|| 1), Ok(1));
        let err = guard(|| -> u8 { panic!("boom") }).unwrap_err();
        assert_eq!(err.to_string(), "parser panicked: boom");
    }
}
