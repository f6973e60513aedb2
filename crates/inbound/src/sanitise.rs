//! Sanitised copies (`[inbound] sanitise_macros`): each top-level Office document with a VBA
//! project that classification found Danger gets a copy without it
//! ([`sekisho_inspect::sanitise::remove_macros`]), and the copy is opened, scanned and
//! classified again like any file of the message. Only a copy that this second inspection finds
//! Safe, with no macro hazard left, stands in for its original; otherwise the original's class
//! stands, and its reason says why there is no copy.

use std::sync::Arc;

use sekisho_inspect::content::{Hazard, Node, open_owned};
use sekisho_inspect::encrypted::Limits;
use sekisho_inspect::sanitise::{SanitiseError, SanitiseLimits, remove_macros};
use sekisho_policy::inbound::{ClassifiedFile, DangerKind, FileClass, SanitisedCopy};
use tokio::time::Instant;

use crate::antivirus::Antivirus;
use crate::{classify, scan_all};

/// Stack of the thread that makes and opens a copy (the walk recurses, as on the inspection
/// threads).
const STACK: usize = 64 << 20;

/// The bytes of the top-level files a copy may be made of (a macro hazard of their own, or an
/// Office Open XML document with a part that has one), taken before the scan takes the bytes
/// away.
#[derive(Debug, Default)]
pub struct Originals(Vec<(usize, String, Vec<u8>)>);

/// The [`Originals`] of `files` when `enabled` (`[inbound] sanitise_macros`), else none.
pub fn sanitise_originals(files: &[Node], enabled: bool) -> Originals {
    if !enabled {
        return Originals::default();
    }
    let macros = |n: &Node| n.hazards.iter().any(|h| matches!(h, Hazard::Macros(_)));
    // An OOXML document whose VBA project has another name shows it on the part, not itself.
    let ooxml = |n: &Node| {
        ["Word document", "Excel workbook", "PowerPoint presentation"].iter().any(|k| n.file_type.starts_with(k))
    };
    Originals(
        files
            .iter()
            .enumerate()
            .filter(|(_, n)| macros(n) || (ooxml(n) && n.children.iter().any(macros)))
            .filter_map(|(i, n)| n.content.clone().map(|bytes| (i, n.name.clone(), bytes)))
            .collect(),
    )
}

/// Makes and inspects a copy of every Danger file among `files` (classified) that `originals`
/// holds, by `deadline`; the copies made, and each original's reason extended when no copy
/// could be made or the copy is not Safe.
pub async fn sanitise_copies(
    files: &mut [ClassifiedFile],
    originals: Originals,
    antivirus: Arc<dyn Antivirus>,
    deadline: Instant,
    danger: &[DangerKind],
) -> Vec<SanitisedCopy> {
    let mut copies = Vec::new();
    for (i, name, bytes) in originals.0 {
        let Some(file) = files.get_mut(i).filter(|f| f.class == FileClass::Danger) else { continue };
        let made = tokio::time::timeout_at(deadline, copy_of(name, bytes)).await;
        let (copy, done) = match made {
            Ok(Ok(Ok((copy, done)))) => (copy, done),
            Ok(Ok(Err(e))) => {
                file.reason.push_str(&format!("; no sanitised copy: {e}"));
                continue;
            }
            Ok(Err(why)) => {
                file.reason.push_str(&format!("; no sanitised copy: {why}"));
                continue;
            }
            Err(_) => {
                file.reason.push_str("; no sanitised copy: not made within [inbound] time_budget");
                continue;
            }
        };
        let mut nodes = [copy];
        let macros_left = nodes[0].walk().iter().any(|n| n.hazards.iter().any(|h| matches!(h, Hazard::Macros(_))));
        let scans = scan_all(&mut nodes, antivirus.clone(), deadline).await;
        let mut classified = classify(&nodes, &scans, danger).remove(0);
        if macros_left && classified.class != FileClass::Danger {
            classified.class = FileClass::Danger;
            classified.reason = format!("macros remain in the copy; {}", classified.reason);
        }
        classified.reason = format!("{done}; {}", classified.reason);
        if classified.class == FileClass::Safe {
            file.reason.push_str(&format!("; delivered as a sanitised copy, \"{}\"", classified.name));
        } else {
            file.reason.push_str(&format!("; its sanitised copy is {}, not delivered", classified.class));
        }
        copies.push(SanitisedCopy { original: i, done: done.to_string(), copy: classified });
    }
    copies
}

/// The copy of `bytes` (named `name`) opened as a file of its own, and what was done; on a
/// thread of its own, since both are work for the CPU.
async fn copy_of(name: String, bytes: Vec<u8>) -> Result<Result<(Node, &'static str), SanitiseError>, String> {
    let thread = std::thread::Builder::new().name("sanitise".into()).stack_size(STACK).spawn(move || {
        let copy = remove_macros(&name, &bytes, &SanitiseLimits::default())?;
        Ok((open_owned(&copy.name, copy.bytes, &Limits::default()), copy.done))
    });
    let thread = thread.map_err(|e| format!("cannot start a thread: {e}"))?;
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the sanitising thread failed".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::antivirus::Scan;
    use sekisho_inspect::content::open_file;
    use std::future::Future;
    use std::io::Write;
    use std::pin::Pin;

    struct Clean;
    impl Antivirus for Clean {
        fn name(&self) -> String {
            "clean".into()
        }
        fn scan(&self, _: Arc<Vec<u8>>) -> Pin<Box<dyn Future<Output = Scan> + Send + '_>> {
            Box::pin(async { Scan::Clean })
        }
    }

    fn docm(vba: &[u8]) -> Vec<u8> {
        docm_with(br#"<Types><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>"#, vba)
    }

    fn docm_with(types: &[u8], vba: &[u8]) -> Vec<u8> {
        let rels = br#"<Relationships><Relationship Id="r1" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>"#;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in [
            ("[Content_Types].xml", types),
            ("word/document.xml", b"<w:document/>"),
            ("word/_rels/document.xml.rels", rels),
            ("word/vbaProject.bin", vba),
        ] {
            w.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    async fn run(bytes: Vec<u8>) -> (Vec<ClassifiedFile>, Vec<SanitisedCopy>) {
        run_named("a.docm", bytes).await
    }

    async fn run_named(name: &str, bytes: Vec<u8>) -> (Vec<ClassifiedFile>, Vec<SanitisedCopy>) {
        let mut nodes = vec![open_file(name, &bytes, &Limits::default())];
        let originals = sanitise_originals(&nodes, true);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let scans = scan_all(&mut nodes, Arc::new(Clean), deadline).await;
        let mut files = classify(&nodes, &scans, &DangerKind::defaults());
        let copies = sanitise_copies(&mut files, originals, Arc::new(Clean), deadline, &DangerKind::defaults()).await;
        (files, copies)
    }

    #[tokio::test]
    async fn a_document_with_macros_gets_a_safe_copy_and_keeps_its_own_class() {
        let (files, copies) = run(docm(b"vba")).await;
        assert_eq!(files[0].class, FileClass::Danger);
        assert!(files[0].reason.ends_with("; delivered as a sanitised copy, \"a.docx\""), "{}", files[0].reason);
        let copy = &copies[0];
        assert_eq!((copy.original, copy.done.as_str()), (0, "VBA project removed"));
        assert_eq!((copy.copy.name.as_str(), copy.copy.class), ("a.docx", FileClass::Safe));
        assert_eq!(copy.copy.reason, "VBA project removed; scanned: nothing found");
        assert_eq!(copy.copy.sha256.as_ref().map(String::len), Some(64));
        assert!(sanitise_originals(&[open_file("a.docm", &docm(b"x"), &Limits::default())], false).0.is_empty());
    }

    #[tokio::test]
    async fn a_vba_project_under_another_name_is_removed_too() {
        let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
        cf.create_storage_all("/VBA").unwrap();
        cf.create_stream("/PROJECT").unwrap().write_all(b"ID=\"{}\"").unwrap();
        cf.create_stream("/VBA/dir").unwrap().write_all(b"\x01").unwrap();
        cf.flush().unwrap();
        let vba = cf.into_inner().into_inner();
        let types = br#"<Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
        let rels = br#"<Relationships><Relationship Id="r1" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="logo.bin"/></Relationships>"#;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in [
            ("[Content_Types].xml", &types[..]),
            ("word/document.xml", b"<w:document/>"),
            ("word/_rels/document.xml.rels", rels),
            ("word/logo.bin", &vba),
        ] {
            w.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        let (files, copies) = run_named("a.docx", w.finish().unwrap().into_inner()).await;
        assert_eq!(files[0].class, FileClass::Danger, "{:?}", files[0]);
        assert_eq!((copies[0].copy.name.as_str(), copies[0].copy.class), ("a.docx", FileClass::Safe), "{copies:?}");
    }

    #[tokio::test]
    async fn a_damaged_document_keeps_its_class_and_says_why() {
        let (files, copies) = run(docm_with(b"<Types><Override PartName=\"/word", b"vba")).await;
        assert!(copies.is_empty());
        assert_eq!(files[0].class, FileClass::Danger);
        assert!(
            files[0]
                .reason
                .ends_with("; no sanitised copy: the document is damaged: [Content_Types].xml is not well-formed"),
            "{}",
            files[0].reason
        );
    }

    #[tokio::test]
    async fn a_legacy_document_with_macros_keeps_danger_and_says_why() {
        let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
        cf.create_storage_all("/Macros/VBA").unwrap();
        cf.create_stream("/WordDocument").unwrap().write_all(&[0u8; 64]).unwrap();
        cf.create_stream("/Macros/VBA/dir").unwrap().write_all(b"\x01").unwrap();
        cf.flush().unwrap();
        let (files, copies) = run_named("old.doc", cf.into_inner().into_inner()).await;
        assert!(copies.is_empty());
        assert_eq!(files[0].class, FileClass::Danger);
        assert_eq!(
            files[0].reason,
            "Office document with macros (VBA storage); no sanitised copy: legacy Office format (.doc/.xls/.ppt): \
             its macros cannot be removed"
        );
    }
}
