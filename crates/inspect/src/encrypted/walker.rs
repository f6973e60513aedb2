//! The recursion, written once: sniff a file, hand it to its format's opener, keep the shared
//! limits (depth, entries, bytes decompressed, ratio), collect what every level reports, and
//! build the tree of [`Node`]s that [`crate::content`] hands out. The encrypted-file
//! [`Report`] and the content tree are two views of this one walk.

use std::borrow::Cow;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::limits::Limits;
use super::report::{Finding, Kind, Note, Obstacle, Reason, Report};
use super::sniff::{Format, candidates};
use super::{office, pdf, rar, sevenz, zip};
use crate::content::{self, Node, State};

/// State shared by every level of one inspection.
pub(crate) struct Walker<'l> {
    pub(crate) limits: &'l Limits,
    entries: usize,
    decompressed: u64,
    /// Bytes that may be decompressed in all, and whether the ratio set that bound.
    budget: (u64, bool),
    pub(crate) report: Report,
    /// Build the full tree: types, hazards and every node's bytes. Without it the tree has
    /// only names, sizes and states (what the encrypted-file report needs).
    full: bool,
    /// The nodes being opened, outermost first.
    stack: Vec<Node>,
    /// The attachment's node, once opened.
    pub(crate) root: Option<Node>,
}

impl<'l> Walker<'l> {
    /// A walk of an attachment of `input` bytes; `full` builds the whole content tree.
    pub(crate) fn new(limits: &'l Limits, input: u64, full: bool) -> Self {
        Walker {
            limits,
            entries: 0,
            decompressed: 0,
            budget: limits.budget(input),
            report: Report { format: Format::Other, findings: vec![], obstacles: vec![], notes: vec![] },
            full,
            stack: Vec::new(),
            root: None,
        }
    }

    /// Opens `bytes`, found at `path` (the attachment's name first), as every format it may
    /// be; returns the first, refined (a ZIP may turn out to be OOXML). Its node joins the tree.
    pub(crate) fn inspect(&mut self, path: &[String], bytes: &[u8]) -> Format {
        self.open(path, Cow::Borrowed(bytes), None)
    }

    /// [`Walker::inspect`] for bytes the walk owns (decompressed): the node keeps them.
    pub(crate) fn inspect_owned(&mut self, path: &[String], bytes: Vec<u8>) -> Format {
        self.open(path, Cow::Owned(bytes), None)
    }

    /// [`Walker::inspect_owned`] for bytes whose format is known from elsewhere (a part
    /// declared `message/rfc822` is a message, whatever its header looks like).
    pub(crate) fn inspect_owned_as(&mut self, path: &[String], bytes: Vec<u8>, format: Format) -> Format {
        self.open(path, Cow::Owned(bytes), Some(format))
    }

    fn open(&mut self, path: &[String], bytes: Cow<'_, [u8]>, known: Option<Format>) -> Format {
        let name = path.last().cloned().unwrap_or_default();
        self.stack.push(Node::opened(name, bytes.len() as u64));
        let format = self.dispatch(path, &bytes, known);
        let mut node = self.stack.pop().expect("pushed above");
        if self.full {
            content::describe(&mut node, format, &bytes);
            node.content = Some(bytes.into_owned());
        }
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(node),
            None => self.root = Some(node),
        }
        format
    }

    fn dispatch(&mut self, path: &[String], bytes: &[u8], known: Option<Format>) -> Format {
        let formats = match known {
            Some(format) => vec![format],
            None => candidates(bytes),
        };
        let Some(&first) = formats.first() else {
            // HTML carrying files inline (`data:` URIs) is a container too.
            if content::data_uri::holds_data_uris(bytes) {
                if path.len().saturating_sub(1) > self.limits.max_depth as usize {
                    self.obstacle(path, Reason::TooDeep { max_depth: self.limits.max_depth });
                } else {
                    content::data_uri::inspect(self, path, bytes);
                }
            }
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
                    content::pdf_files::inspect(self, path, bytes);
                    format
                }
                Format::Gzip | Format::Bzip2 | Format::Xz => {
                    content::compressed::inspect(self, path, bytes, format);
                    format
                }
                Format::Tar => {
                    content::tar::inspect(self, path, bytes);
                    format
                }
                Format::Tnef => {
                    content::tnef::inspect(self, path, bytes);
                    format
                }
                Format::BinHex => {
                    content::binhex::inspect(self, path, bytes);
                    format
                }
                Format::Message => {
                    content::message::inspect(self, path, bytes);
                    format
                }
                Format::Other => format,
            };
            if i == 0 {
                refined = found;
            }
        }
        if self.full && matches!(refined, Format::Ooxml | Format::OpenDocument | Format::Cfb) {
            content::keep_embedded(self.stack.last_mut().expect("the node being opened"));
        }
        refined
    }

    /// The node for `path`: the one being opened, or an entry of it that is not opened (made
    /// on first mention, then found again by name).
    fn node_at(&mut self, path: &[String]) -> Option<&mut Node> {
        let depth = self.stack.len();
        if path.len() == depth {
            return self.stack.last_mut();
        }
        if path.len() != depth + 1 {
            return None;
        }
        let name = path.last()?;
        let top = self.stack.last_mut()?;
        let found = top.children.iter().rposition(|c| &c.name == name && c.content.is_none() && c.children.is_empty());
        let index = match found {
            Some(i) => i,
            None => {
                top.children.push(Node::listed(name.clone(), 0));
                top.children.len() - 1
            }
        };
        top.children.get_mut(index)
    }

    /// The container being opened, when `path` names one of its entries.
    fn parent_of(&mut self, path: &[String]) -> Option<&mut Node> {
        if path.len() == self.stack.len() + 1 { self.stack.last_mut() } else { None }
    }

    pub(crate) fn finding(&mut self, path: &[String], kind: Kind) {
        let what = kind.to_string();
        if let Some(node) = self.node_at(path) {
            node.encrypted(&what);
        }
        if let Some(parent) = self.parent_of(path) {
            parent.encrypted(&what);
        }
        let finding = Finding { path: path.to_vec(), kind };
        if !self.report.findings.contains(&finding) {
            self.report.findings.push(finding);
        }
    }

    pub(crate) fn obstacle(&mut self, path: &[String], reason: Reason) {
        let why = reason.to_string();
        if let Some(node) = self.node_at(path) {
            node.unreadable(&why);
        }
        if reason.stops_the_walk()
            && let Some(parent) = self.parent_of(path)
        {
            parent.unreadable(&why);
        }
        self.report.obstacles.push(Obstacle { path: path.to_vec(), reason });
    }

    pub(crate) fn corrupt(&mut self, path: &[String], format: Format, detail: impl ToString) {
        self.obstacle(path, Reason::Corrupt { format, detail: detail.to_string() });
    }

    pub(crate) fn note(&mut self, path: &[String], text: impl Into<String>) {
        self.report.notes.push(Note { path: path.to_vec(), text: text.into() });
    }

    /// An entry listed but not opened, neither encrypted nor an obstacle to the encrypted-file
    /// check (a compressed RAR entry): in the tree only.
    pub(crate) fn listed(&mut self, path: &[String], size: u64, state: State) {
        if let Some(node) = self.node_at(path) {
            node.size = size;
            node.state = state;
        }
    }

    /// The size an archive declares for an entry that is not opened.
    pub(crate) fn sized(&mut self, path: &[String], size: u64) {
        if path.len() == self.stack.len() + 1
            && let Some(node) = self.node_at(path)
        {
            node.size = size;
        }
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
        self.budget.0.saturating_sub(self.decompressed)
    }

    /// Why the total budget is spent: the ratio, or the total.
    fn over_budget(&self) -> Reason {
        if self.budget.1 {
            Reason::RatioTooHigh { max_ratio: self.limits.max_ratio }
        } else {
            Reason::TotalTooLarge { max: self.limits.max_total_uncompressed }
        }
    }

    /// Checks a declared size before any work is spent on it.
    pub(crate) fn check_declared(&self, declared: u64) -> Result<(), Reason> {
        if declared > self.limits.max_entry_size {
            return Err(Reason::EntryTooLarge { max: self.limits.max_entry_size });
        }
        if declared > self.budget_left() {
            return Err(self.over_budget());
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
        let (read, ended) = read_capped(reader, declared, cap);
        self.decompressed += read;
        match ended {
            Ok(out) => Ok(out),
            Err(Capped::Io(e)) => Err(Reason::Corrupt { format, detail: e.to_string() }),
            Err(Capped::Over) if cap == per_entry => Err(Reason::EntryTooLarge { max: per_entry }),
            Err(Capped::Over) => Err(self.over_budget()),
        }
    }
}

/// Why [`read_capped`] stopped before the end.
#[derive(Debug)]
pub(crate) enum Capped {
    /// The reader failed (a damaged stream, a wrong key, a checksum).
    Io(std::io::Error),
    /// More than the cap came.
    Over,
}

/// Reads `reader` to its end, straight into the bytes returned, never keeping more than `cap`
/// bytes whatever `declared` says. Returns the bytes counted against the limits (what was read,
/// or `cap` when it was passed) and the bytes, or why it stopped.
pub(crate) fn read_capped(reader: &mut dyn Read, declared: u64, cap: u64) -> (u64, Result<Vec<u8>, Capped>) {
    let mut out = Vec::with_capacity(declared.min(cap).min(1 << 20) as usize);
    // One byte past the cap tells an entry that ends there from one that goes on.
    let ended = reader.take(cap.saturating_add(1)).read_to_end(&mut out);
    match ended {
        Err(e) => (out.len() as u64, Err(Capped::Io(e))),
        Ok(_) if out.len() as u64 > cap => (cap, Err(Capped::Over)),
        Ok(_) => (out.len() as u64, Ok(out)),
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
    fn an_entry_of_exactly_the_cap_is_read_one_byte_more_is_over() {
        let entry = vec![7u8; 100];
        let (read, ended) = read_capped(&mut entry.as_slice(), 100, 100);
        assert_eq!(read, 100);
        assert_eq!(ended.unwrap(), entry);
        let longer = vec![7u8; 101];
        let (read, ended) = read_capped(&mut longer.as_slice(), 101, 100);
        assert_eq!(read, 100);
        assert!(matches!(ended, Err(Capped::Over)), "{ended:?}");
    }

    #[test]
    fn read_entry_stops_at_the_limits() {
        let limits = Limits { max_entry_size: 10, max_total_uncompressed: 15, ..Limits::default() };
        let mut w = Walker::new(&limits, 0, false);
        assert_eq!(w.read_entry(&mut &[1u8; 8][..], 8, Format::Zip).map(|v| v.len()), Ok(8));
        // The declared size lies: the bytes themselves are counted.
        assert_eq!(w.read_entry(&mut &[1u8; 100][..], 1, Format::Zip), Err(Reason::TotalTooLarge { max: 15 }));
        assert_eq!(w.budget_left(), 0);
        let mut w = Walker::new(&limits, 0, false);
        assert_eq!(w.read_entry(&mut &[1u8; 11][..], 0, Format::Zip), Err(Reason::EntryTooLarge { max: 10 }));
        assert_eq!(w.check_declared(11), Err(Reason::EntryTooLarge { max: 10 }));
    }

    #[test]
    fn counts_entries() {
        let limits = Limits { max_entries: 3, ..Limits::default() };
        let mut w = Walker::new(&limits, 0, false);
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
