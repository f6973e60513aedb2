//! What the classification page shows and what it lets through, as pure functions: the kept
//! file behind each of the record's files, whether a class may be downloaded (and after which
//! warning), whether the header From differs from the envelope sender, and the rows of the
//! tree of files and archive entries.

use std::collections::BTreeMap;

use sekisho_policy::inbound::{ClassifiedFile, FileClass, InspectionRecord};
use sekisho_policy::sender::SenderRecord;
use sekisho_policy::text::visible;
use sekisho_store::LinkFile;

use super::texts::{InboundTexts, class_label};
use crate::lang::Texts;

/// The kept file behind the record's top-level file `n`, if it was kept: the matching is
/// [`sekisho_links::classified`]'s (name, size and SHA-256), the one that chose what to keep.
pub fn kept_at<'f>(record: &InspectionRecord, files: &'f [LinkFile], n: usize) -> Option<&'f LinkFile> {
    files.iter().find(|f| sekisho_links::classified(record, &f.name, f.size, &f.sha256).is_some_and(|(i, _)| i == n))
}

/// Whether a file may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Yes.
    Send,
    /// Not scanned (Unsupported, Error): only after the recipient accepted the warning.
    Warn,
    /// Danger: never.
    Never,
    /// Not scanned, and `[inbound] unscanned_downloads = false`: never, whatever the warning.
    Refused,
}

/// The gate of a file of `class`; `warned`: the recipient accepted the page's warning;
/// `unscanned`: files that were not scanned may be downloaded after it.
pub fn gate(class: FileClass, warned: bool, unscanned: bool) -> Gate {
    match class {
        FileClass::Safe => Gate::Send,
        FileClass::Danger => Gate::Never,
        FileClass::Unsupported | FileClass::Error if !unscanned => Gate::Refused,
        FileClass::Unsupported | FileClass::Error if warned => Gate::Send,
        FileClass::Unsupported | FileClass::Error => Gate::Warn,
    }
}

/// An Unsupported file the recipient may try a password on: a ZIP or 7z archive by its type
/// or its name.
pub fn unlockable(f: &ClassifiedFile) -> bool {
    let kind = f.file_type.to_ascii_lowercase();
    let name = f.name.to_ascii_lowercase();
    f.class == FileClass::Unsupported
        && (kind.contains("zip")
            || kind.contains("7z")
            || kind.contains("sevenzip")
            || name.ends_with(".zip")
            || name.ends_with(".7z"))
}

/// The address of a From field's value ("Name <a@b>" or "a@b"), lower case.
fn address(from: &str) -> String {
    let inner = match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &from[open + 1..close],
        _ => from,
    };
    inner.trim().to_ascii_lowercase()
}

/// True when the header From's address is not the envelope sender (a missing header From
/// differs too; the null sender differs from any address).
pub fn differs(header_from: &str, envelope: &str) -> bool {
    address(header_from) != envelope.trim().to_ascii_lowercase()
}

/// One line of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 0 for a file of the message, 1 for an entry of it, ...
    pub depth: usize,
    pub name: String,
    pub size: String,
    pub file_type: String,
    /// "safe", "unsupported", "error", "danger".
    pub class: &'static str,
    /// The class in words.
    pub label: &'static str,
    pub reason: String,
    /// Where it downloads from, when it may be downloaded as it is.
    pub download: Option<String>,
    /// The file (its number) may be downloaded after the warning.
    pub warn: Option<usize>,
    /// The archive (its number) can take a password.
    pub unlock: Option<usize>,
    /// Why nothing can be done with it.
    pub note: Option<&'static str>,
}

/// What the tree needs besides the record.
pub struct Tree<'a> {
    pub t: &'static Texts,
    pub i: &'static InboundTexts,
    pub record: &'a InspectionRecord,
    /// The kept files.
    pub files: &'a [LinkFile],
    /// Downloads left of each kept file (by its index); a file missing has none left.
    pub left: &'a BTreeMap<i64, u32>,
    /// Archives opened in this session with a password: the entries, by the archive's number.
    pub unlocked: &'a BTreeMap<usize, Vec<ClassifiedFile>>,
    /// The recipient may act (verified): downloads, warnings and passwords are offered.
    pub actions: bool,
    /// `[inbound] unscanned_downloads`.
    pub unscanned: bool,
}

fn row(t: &'static Texts, f: &ClassifiedFile, depth: usize) -> Row {
    Row {
        depth,
        name: visible(&f.name).into_owned(),
        size: sekisho_rewrite::human_size(f.size),
        file_type: visible(&f.file_type).into_owned(),
        class: f.class.as_str(),
        label: class_label(t, f.class),
        reason: visible(&f.reason).into_owned(),
        download: None,
        warn: None,
        unlock: None,
        note: None,
    }
}

/// The rows of the tree: each file, then its entries indented (for an archive opened in this
/// session, the entries it opened to, each downloadable when Safe).
pub fn rows(tree: &Tree<'_>) -> Vec<Row> {
    let mut out = Vec::new();
    for (n, file) in tree.record.files.iter().enumerate() {
        let mut top = row(tree.t, file, 0);
        let kept = kept_at(tree.record, tree.files, n).filter(|k| !k.purged);
        let left = kept.and_then(|k| tree.left.get(&k.idx)).copied().unwrap_or(0);
        let opened = tree.unlocked.get(&n);
        match (gate(file.class, false, tree.unscanned), kept) {
            (Gate::Never, _) => top.note = Some(tree.i.never),
            (Gate::Refused, kept) => {
                top.note = Some(tree.i.unscanned_refused);
                top.unlock = (tree.actions && kept.is_some() && unlockable(file) && opened.is_none()).then_some(n);
            }
            (_, None) => top.note = Some(tree.i.not_kept),
            (_, Some(_)) if left == 0 => top.note = Some(tree.t.used_up),
            (Gate::Send, Some(_)) if tree.actions => top.download = Some(format!("/d/files/{n}")),
            (Gate::Warn, Some(_)) if tree.actions => {
                top.warn = Some(n);
                top.unlock = (unlockable(file) && opened.is_none()).then_some(n);
            }
            _ => {}
        }
        if opened.is_some() {
            top.note = Some(tree.i.unlocked);
        }
        out.push(top);
        // A Safe sanitised copy stands under its (never downloadable) original, for download.
        if let Some(copy) = tree.record.safe_copy(n) {
            let mut r = row(tree.t, &copy.copy, 1);
            match kept {
                None => r.note = Some(tree.i.not_kept),
                Some(_) if left == 0 => r.note = Some(tree.t.used_up),
                Some(_) if tree.actions => r.download = Some(format!("/d/files/{n}")),
                Some(_) => {}
            }
            out.push(r);
        }
        match opened {
            Some(entries) => {
                for (k, e) in entries.iter().enumerate() {
                    let mut r = row(tree.t, e, 1);
                    match gate(e.class, false, tree.unscanned) {
                        Gate::Send if tree.actions => r.download = Some(format!("/d/unlocked/{n}/{k}")),
                        Gate::Send => {}
                        Gate::Never => r.note = Some(tree.i.never),
                        Gate::Warn | Gate::Refused => r.note = Some(tree.i.not_kept),
                    }
                    out.push(r);
                    for (path, f) in e.walk().into_iter().skip(1) {
                        let mut r = row(tree.t, f, path.len());
                        r.note = (f.class == FileClass::Danger).then_some(tree.i.never);
                        out.push(r);
                    }
                }
            }
            None => {
                for (path, f) in file.walk().into_iter().skip(1) {
                    let mut r = row(tree.t, f, path.len() - 1);
                    r.note = (f.class == FileClass::Danger).then_some(tree.i.never);
                    out.push(r);
                }
            }
        }
    }
    out
}

/// One finding about the sender as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRow {
    /// Its kind (`look-alike`).
    pub kind: &'static str,
    /// Its sentence in the page's language.
    pub sentence: String,
    /// Its evidence.
    pub detail: String,
}

/// The findings of `record` for a page in `lang` ("ja" or "en"), most serious first.
pub fn finding_rows(record: Option<&SenderRecord>, lang: &str) -> Vec<FindingRow> {
    let Some(record) = record else { return Vec::new() };
    record
        .findings
        .iter()
        .map(|f| FindingRow {
            kind: f.kind.as_str(),
            sentence: visible(if lang == "ja" { &f.sentence_ja } else { &f.sentence }).into_owned(),
            detail: visible(&f.detail).into_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_policy::inbound::Outcome;

    fn file(name: &str, class: FileClass, sha256: &str, children: Vec<ClassifiedFile>) -> ClassifiedFile {
        ClassifiedFile {
            name: name.into(),
            size: 10,
            file_type: if name.ends_with(".zip") { "Zip".into() } else { "text".into() },
            class,
            reason: format!("because {name}"),
            sha256: Some(sha256.into()),
            children,
        }
    }

    fn kept(idx: i64, name: &str, sha256: &str) -> LinkFile {
        LinkFile {
            idx,
            file_id: String::new(),
            key: String::new(),
            name: name.into(),
            content_type: "application/octet-stream".into(),
            size: 10,
            sha256: sha256.into(),
            purged: false,
        }
    }

    fn record() -> InspectionRecord {
        InspectionRecord {
            action: Outcome::Separated,
            rule: String::new(),
            files: vec![
                file("virus.com", FileClass::Danger, "d", vec![]),
                file("clean.txt", FileClass::Safe, "s", vec![]),
                file("secret.zip", FileClass::Unsupported, "u", vec![]),
                file("a.zip", FileClass::Danger, "z", vec![file("x.exe", FileClass::Danger, "x", vec![])]),
            ],
            antivirus: String::new(),
            password_in_message: false,
            sanitised: Vec::new(),
            html_to_text: false,
        }
    }

    #[test]
    fn only_safe_goes_as_it_is_not_scanned_after_a_warning_danger_never() {
        assert_eq!(gate(FileClass::Safe, false, true), Gate::Send);
        assert_eq!(gate(FileClass::Unsupported, false, true), Gate::Warn);
        assert_eq!(gate(FileClass::Error, false, true), Gate::Warn);
        assert_eq!(gate(FileClass::Error, true, true), Gate::Send);
        assert_eq!(gate(FileClass::Danger, true, true), Gate::Never, "no warning opens a Danger file");
        // unscanned_downloads = false: no warning opens a file that was not scanned.
        assert_eq!(gate(FileClass::Unsupported, true, false), Gate::Refused);
        assert_eq!(gate(FileClass::Error, true, false), Gate::Refused);
        assert_eq!(gate(FileClass::Safe, false, false), Gate::Send);
    }

    #[test]
    fn with_unscanned_downloads_off_the_unscanned_row_offers_its_password_form_only() {
        let r = record();
        let files = [kept(0, "clean.txt", "s"), kept(1, "secret.zip", "u")];
        let left = BTreeMap::from([(0, 3), (1, 3)]);
        let unlocked = BTreeMap::new();
        let tree = Tree {
            t: &crate::lang::EN,
            i: &super::super::texts::EN,
            record: &r,
            files: &files,
            left: &left,
            unlocked: &unlocked,
            actions: true,
            unscanned: false,
        };
        let rows = rows(&tree);
        assert_eq!((rows[2].class, rows[2].warn, rows[2].unlock), ("unsupported", None, Some(2)));
        assert_eq!(rows[2].note, Some(super::super::texts::EN.unscanned_refused));
        assert_eq!(rows[1].download.as_deref(), Some("/d/files/1"), "Safe files as usual");
    }

    #[test]
    fn the_record_position_finds_the_kept_file_whatever_was_left_out() {
        let r = record();
        let files = [kept(0, "clean.txt", "s"), kept(1, "secret.zip", "u")];
        assert_eq!(kept_at(&r, &files, 1).map(|f| f.idx), Some(0));
        assert_eq!(kept_at(&r, &files, 2).map(|f| f.idx), Some(1));
        assert_eq!(kept_at(&r, &files, 0), None, "the Danger file was never kept");
        assert_eq!(kept_at(&r, &files, 9), None);
    }

    #[test]
    fn the_header_from_is_compared_by_address() {
        assert!(!differs("Taro <Taro@Example.JP>", "taro@example.jp"));
        assert!(differs("Bank <support@bank.example>", "x@attacker.example"));
        assert!(differs("", "x@attacker.example"), "no header From");
        assert!(!differs("a@b.example", "a@b.example"));
    }

    #[test]
    fn each_row_offers_what_its_class_allows() {
        let r = record();
        let files = [kept(0, "clean.txt", "s"), kept(1, "secret.zip", "u")];
        let left = BTreeMap::from([(0, 3), (1, 3)]);
        let mut unlocked = BTreeMap::new();
        fn tree<'a>(
            (record, files, left): (&'a InspectionRecord, &'a [LinkFile], &'a BTreeMap<i64, u32>),
            unlocked: &'a BTreeMap<usize, Vec<ClassifiedFile>>,
            actions: bool,
        ) -> Tree<'a> {
            Tree {
                t: &crate::lang::EN,
                i: &super::super::texts::EN,
                record,
                files,
                left,
                unlocked,
                actions,
                unscanned: true,
            }
        }
        let parts = (&r, &files[..], &left);
        let rows = rows(&tree(parts, &unlocked, true));
        let got: Vec<_> = rows.iter().map(|r| (r.depth, r.class, r.download.as_deref(), r.warn, r.unlock)).collect();
        assert_eq!(
            got,
            [
                (0, "danger", None, None, None),
                (0, "safe", Some("/d/files/1"), None, None),
                (0, "unsupported", None, Some(2), Some(2)),
                (0, "danger", None, None, None),
                (1, "danger", None, None, None),
            ]
        );
        assert_eq!(rows[0].note, Some("cannot be downloaded"));
        assert!(rows[2].label.starts_with("Unsupported"));
        unlocked.insert(
            2,
            vec![file("in/ok.txt", FileClass::Safe, "1", vec![]), file("v", FileClass::Danger, "2", vec![])],
        );
        let rows = super::rows(&tree(parts, &unlocked, true));
        let got: Vec<_> =
            rows[2..5].iter().map(|r| (r.depth, r.name.as_str(), r.download.as_deref(), r.unlock)).collect();
        assert_eq!(
            got,
            [(0, "secret.zip", None, None), (1, "in/ok.txt", Some("/d/unlocked/2/0"), None), (1, "v", None, None)]
        );
        let quiet = super::rows(&tree(parts, &unlocked, false));
        assert!(quiet.iter().all(|r| r.download.is_none() && r.warn.is_none() && r.unlock.is_none()), "not verified");
    }
}
