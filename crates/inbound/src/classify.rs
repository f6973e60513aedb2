//! The class of every file, from what the content showed and what the antivirus said. Pure.
//!
//! A file's own class: a signature found, or content the policy counts as Danger → Danger;
//! encrypted → Unsupported (not scanned); could not be opened, or not scanned → Error; scanned
//! and nothing found (or a container whose every entry was judged) → Safe. A container's
//! class is the worst of its own and its entries'.

use sekisho_inspect::content::{Hazard, Node, State};
use sekisho_policy::inbound::{ClassifiedFile, DangerKind, FileClass};

use crate::antivirus::Scan;
use crate::scan::{Position, Scans, scanned};

/// Classifies `files` (as opened, after [`crate::scan_all`]) with their scans, counting the
/// content in `danger` as Danger.
pub fn classify(files: &[Node], scans: &Scans, danger: &[DangerKind]) -> Vec<ClassifiedFile> {
    files.iter().enumerate().map(|(i, n)| file(n, vec![i], scans, danger)).collect()
}

fn file(node: &Node, position: Position, scans: &Scans, danger: &[DangerKind]) -> ClassifiedFile {
    let children: Vec<ClassifiedFile> = node
        .children
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut p = position.clone();
            p.push(i);
            file(c, p, scans, danger)
        })
        .collect();
    let (mut class, mut reason) = own(node, scans.verdicts.get(&position), danger);
    if let Some(worst) = children.iter().filter(|c| c.class > class).max_by_key(|c| c.class) {
        reason = format!("holds {} \"{}\": {}", article(worst.class), worst.name, worst.reason);
        class = worst.class;
    }
    ClassifiedFile {
        name: node.name.clone(),
        size: node.size,
        file_type: node.file_type.clone(),
        class,
        reason,
        sha256: scans.sha256.get(&position).cloned(),
        children,
    }
}

fn article(class: FileClass) -> &'static str {
    match class {
        FileClass::Safe => "a safe file",
        FileClass::Unsupported => "an unsupported file",
        FileClass::Error => "a file that could not be inspected",
        FileClass::Danger => "a dangerous file",
    }
}

/// The node's own class and reason, before its entries are counted.
fn own(node: &Node, scan: Option<&Scan>, danger: &[DangerKind]) -> (FileClass, String) {
    if let Some(Scan::Found(signature)) = scan {
        return (FileClass::Danger, format!("virus found: {signature}"));
    }
    let forbidden: Vec<String> = node.hazards.iter().filter(|h| danger.contains(&kind(h))).map(describe).collect();
    if !forbidden.is_empty() {
        return (FileClass::Danger, forbidden.join("; "));
    }
    let allowed: Vec<String> = node.hazards.iter().map(describe).collect();
    let also = if allowed.is_empty() { String::new() } else { format!(" ({}, allowed by policy)", allowed.join("; ")) };
    match (&node.state, scan) {
        (State::Encrypted { what }, _) => (FileClass::Unsupported, format!("encrypted ({what}): not scanned{also}")),
        (State::Unreadable { why }, Some(Scan::Clean)) => (
            FileClass::Error,
            format!("could not be opened ({why}); the antivirus found nothing in it as a whole{also}"),
        ),
        (State::Unreadable { why }, _) => (FileClass::Error, format!("could not be opened: {why}{also}")),
        (State::Open, Some(Scan::Clean)) => (FileClass::Safe, format!("scanned: nothing found{also}")),
        (State::Open, Some(Scan::Failed(why))) => (FileClass::Error, format!("not scanned: {why}{also}")),
        (State::Open, _) if !node.children.is_empty() => {
            (FileClass::Safe, format!("opened: every entry was inspected{also}"))
        }
        (State::Open, _) if scanned(node) => (FileClass::Error, format!("not scanned{also}")),
        (State::Open, _) => (FileClass::Error, format!("its bytes could not be read: not scanned{also}")),
    }
}

/// Which `[inbound] danger_content` keyword covers a hazard.
pub fn kind(h: &Hazard) -> DangerKind {
    match h {
        Hazard::Executable(_) => DangerKind::Executable,
        Hazard::Script(_) => DangerKind::Script,
        Hazard::Shortcut => DangerKind::Shortcut,
        Hazard::DiskImage(_) => DangerKind::DiskImage,
        Hazard::Macros(_) => DangerKind::Macros,
        Hazard::ActiveContent(_) => DangerKind::ActiveContent,
        Hazard::HtmlSmuggling => DangerKind::HtmlSmuggling,
        Hazard::NameMismatch { .. } => DangerKind::NameMismatch,
    }
}

/// A hazard in words.
pub fn describe(h: &Hazard) -> String {
    match h {
        Hazard::Executable(format) => format!("executable ({format})"),
        Hazard::Script(ext) => format!("script (.{ext})"),
        Hazard::Shortcut => "shortcut".into(),
        Hazard::DiskImage(ext) => format!("disk image (.{ext})"),
        Hazard::Macros(place) => format!("Office document with macros ({place})"),
        Hazard::ActiveContent(format) => format!("{format}, which runs embedded content"),
        Hazard::HtmlSmuggling => "HTML that assembles a file in the browser (HTML smuggling)".into(),
        Hazard::NameMismatch { claimed, actual } => format!("{actual} named as .{claimed}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, state: State, hazards: Vec<Hazard>, children: Vec<Node>) -> Node {
        Node { name: name.into(), size: 1, file_type: "x".into(), hazards, state, children, content: None }
    }

    fn scans(list: &[(&[usize], Scan)]) -> Scans {
        Scans { verdicts: list.iter().map(|(p, s)| (p.to_vec(), s.clone())).collect(), sha256: Default::default() }
    }

    #[test]
    fn each_class_with_its_reason() {
        let files = vec![
            node("clean.pdf", State::Open, vec![], vec![]),
            node("eicar.com", State::Open, vec![], vec![]),
            node("secret.zip", State::Encrypted { what: "ZipCrypto entries".into() }, vec![], vec![]),
            node("bomb.zip", State::Unreadable { why: "more than 10000 entries".into() }, vec![], vec![]),
            node("late.docx", State::Open, vec![], vec![]),
            node(
                "invoice.pdf",
                State::Open,
                vec![Hazard::NameMismatch { claimed: "pdf".into(), actual: "PE executable".into() }],
                vec![],
            ),
        ];
        let s = scans(&[
            (&[0], Scan::Clean),
            (&[1], Scan::Found("Eicar-Test-Signature".into())),
            (&[4], Scan::Failed("clamd is unavailable".into())),
            (&[5], Scan::Clean),
        ]);
        let out = classify(&files, &s, &DangerKind::defaults());
        let got: Vec<(FileClass, &str)> = out.iter().map(|f| (f.class, f.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                (FileClass::Safe, "scanned: nothing found"),
                (FileClass::Danger, "virus found: Eicar-Test-Signature"),
                (FileClass::Unsupported, "encrypted (ZipCrypto entries): not scanned"),
                (FileClass::Error, "could not be opened: more than 10000 entries"),
                (FileClass::Error, "not scanned: clamd is unavailable"),
                (FileClass::Danger, "PE executable named as .pdf"),
            ]
        );
    }

    #[test]
    fn a_container_takes_its_worst_entry_and_says_which() {
        let inner = node("x.exe", State::Open, vec![], vec![]);
        let zip = node("a.zip", State::Open, vec![], vec![node("readme.txt", State::Open, vec![], vec![]), inner]);
        let s = scans(&[(&[0, 0], Scan::Clean), (&[0, 1], Scan::Found("Win.Test".into()))]);
        let out = classify(&[zip], &s, &[]);
        assert_eq!(out[0].class, FileClass::Danger);
        assert_eq!(out[0].reason, "holds a dangerous file \"x.exe\": virus found: Win.Test");
        assert_eq!(out[0].children[0].class, FileClass::Safe);
    }

    #[test]
    fn content_outside_the_danger_list_is_named_but_allowed() {
        let doc = node("m.xlsm", State::Open, vec![Hazard::Macros("vbaProject.bin".into())], vec![]);
        let s = scans(&[(&[0], Scan::Clean)]);
        let strict = classify(std::slice::from_ref(&doc), &s, &DangerKind::defaults());
        assert_eq!(strict[0].class, FileClass::Danger);
        assert_eq!(strict[0].reason, "Office document with macros (vbaProject.bin)");
        let lax = classify(&[doc], &s, &[DangerKind::Executable]);
        assert_eq!(lax[0].class, FileClass::Safe);
        assert!(lax[0].reason.contains("allowed by policy"), "{}", lax[0].reason);
    }

    #[test]
    fn an_unscanned_leaf_is_never_safe() {
        let mut leaf = node("a.txt", State::Open, vec![], vec![]);
        leaf.content = Some(b"x".to_vec());
        let out = classify(&[leaf], &Scans::default(), &[]);
        assert_eq!(out[0].class, FileClass::Error);
    }
}
