//! The vocabulary of inbound protection: the class of each file, what is done with a message,
//! which content counts as Danger, and the record of one inspection as the queue keeps it and
//! `queue show --json` prints it.

use serde::{Deserialize, Serialize};

use crate::keywords;

keywords! {
    /// The class of one file or archive entry, best first (a container takes the worst class
    /// of what it holds).
    FileClass {
        /// Opened all the way, scanned by the antivirus, nothing found.
        Safe = "safe",
        /// Could not be opened, e.g. encrypted: not scanned, downloadable at one's own risk.
        Unsupported = "unsupported",
        /// Inspection failed (antivirus unavailable or too slow, a limit reached): not scanned.
        Error = "error",
        /// A virus, or a file type the policy forbids: never downloadable, not even converted.
        Danger = "danger",
    }
}

keywords! {
    /// What is done with an inbound message, mildest first.
    InboundAction {
        /// Delivered as it is, with the inspection summary in a header field.
        Deliver = "deliver",
        /// Delivered with its files kept on the portal and replaced by a notice.
        Separate = "separate",
        /// Nothing delivered; an administrator releases or deletes it.
        Quarantine = "quarantine",
        /// Refused with 550 before the 250.
        Reject = "reject",
    }
}

keywords! {
    /// Content that policy may count as Danger (`[inbound] danger`).
    DangerKind {
        /// Native executables: PE, ELF, Mach-O.
        Executable = "executable",
        /// Scripts Windows runs on a double click (.js, .vbs, .hta, .ps1, .bat ...).
        Script = "script",
        /// Shortcuts (.lnk, .url).
        Shortcut = "shortcut",
        /// Disk images Windows mounts on a double click (.iso, .img, .vhd).
        DiskImage = "disk-image",
        /// Office documents with macros.
        Macros = "macros",
        /// OneNote, compiled help and other containers that run embedded content.
        ActiveContent = "active-content",
        /// HTML that assembles a file in the browser.
        HtmlSmuggling = "html-smuggling",
        /// A name that claims another type than the bytes are.
        NameMismatch = "name-mismatch",
    }
}

impl DangerKind {
    /// The default `[inbound] danger`: every kind.
    pub fn defaults() -> Vec<DangerKind> {
        DangerKind::ALL.to_vec()
    }
}

/// The record of one message's inbound inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionRecord {
    /// What was done with the message ("delivered", "separated", "quarantined", "rejected").
    pub action: Outcome,
    /// Why that action: the class and the policy that chose it, in words.
    pub rule: String,
    /// Every file, with archive entries as children.
    pub files: Vec<ClassifiedFile>,
    /// Which antivirus scanned the files ("clamd 1.0.7/27000"), or why none did.
    pub antivirus: String,
    /// A password found in the message's own text opened one of its archives.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub password_in_message: bool,
    /// Sanitised copies of the message's files (`[inbound] sanitise_macros`), each inspected
    /// again; a Safe one is delivered in place of its original.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sanitised: Vec<SanitisedCopy>,
    /// Its HTML body parts are delivered as plain text (`[inbound] html_to_text`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub html_to_text: bool,
}

impl InspectionRecord {
    /// The worst class among the message's files; Safe when it carries none.
    pub fn worst(&self) -> FileClass {
        self.files.iter().map(|f| f.class).max().unwrap_or(FileClass::Safe)
    }

    /// The worst class among what the recipient gets: a file with a Safe sanitised copy
    /// counts as that copy.
    pub fn delivered_worst(&self) -> FileClass {
        delivered_worst(&self.files, &self.sanitised)
    }

    /// The Safe sanitised copy delivered in place of top-level file `original`, if any.
    pub fn safe_copy(&self, original: usize) -> Option<&SanitisedCopy> {
        safe_copy(&self.sanitised, original)
    }
}

/// A copy of one of a message's files made harmless (メール無害化), as inspected again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanitisedCopy {
    /// The position of the original among the record's (top-level) files.
    pub original: usize,
    /// What was done to make the copy, in words: "VBA project removed".
    pub done: String,
    /// The copy: its name, size, type, SHA-256, and the class and reason its own inspection
    /// gave. Only a Safe copy is delivered.
    #[serde(flatten)]
    pub copy: ClassifiedFile,
}

/// The Safe copy of top-level file `original` among `sanitised`.
pub fn safe_copy(sanitised: &[SanitisedCopy], original: usize) -> Option<&SanitisedCopy> {
    sanitised.iter().find(|s| s.original == original && s.copy.class == FileClass::Safe)
}

/// The worst class of what the recipient of `files` gets, when the Safe copies among
/// `sanitised` stand in for their originals; Safe when there is no file.
pub fn delivered_worst(files: &[ClassifiedFile], sanitised: &[SanitisedCopy]) -> FileClass {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| if safe_copy(sanitised, i).is_some() { FileClass::Safe } else { f.class })
        .max()
        .unwrap_or(FileClass::Safe)
}

keywords! {
    /// What was done with an inbound message, as the trace says it.
    Outcome {
        /// Delivered as it is.
        Delivered = "delivered",
        /// Delivered with the files on the portal.
        Separated = "separated",
        /// Held for an administrator.
        Quarantined = "quarantined",
        /// Refused before the 250.
        Rejected = "rejected",
    }
}

impl From<InboundAction> for Outcome {
    fn from(a: InboundAction) -> Outcome {
        match a {
            InboundAction::Deliver => Outcome::Delivered,
            InboundAction::Separate => Outcome::Separated,
            InboundAction::Quarantine => Outcome::Quarantined,
            InboundAction::Reject => Outcome::Rejected,
        }
    }
}

/// One file or archive entry with its class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifiedFile {
    /// The name the message or the archive gives it.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// What its bytes are ("PDF document").
    #[serde(rename = "type")]
    pub file_type: String,
    /// Its class (a container's is the worst of its own and its children's).
    pub class: FileClass,
    /// Why that class, in words ("EICAR-Test-Signature", "Office document with macros",
    /// "scanned: nothing found").
    pub reason: String,
    /// The SHA-256 of its bytes, hex, when they could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// What is inside.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ClassifiedFile>,
}

impl ClassifiedFile {
    /// Every file of the tree, depth first, each with its path (names from the top).
    pub fn walk(&self) -> Vec<(Vec<&str>, &ClassifiedFile)> {
        let mut out = Vec::new();
        let mut stack = vec![(vec![self.name.as_str()], self)];
        while let Some((path, f)) = stack.pop() {
            for c in f.children.iter().rev() {
                let mut p = path.clone();
                p.push(c.name.as_str());
                stack.push((p, c));
            }
            out.push((path, f));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, class: FileClass, children: Vec<ClassifiedFile>) -> ClassifiedFile {
        ClassifiedFile {
            name: name.into(),
            size: 1,
            file_type: "x".into(),
            class,
            reason: String::new(),
            sha256: None,
            children,
        }
    }

    #[test]
    fn classes_order_from_safe_to_danger() {
        assert!(FileClass::Safe < FileClass::Unsupported);
        assert!(FileClass::Unsupported < FileClass::Error);
        assert!(FileClass::Error < FileClass::Danger);
        assert!(InboundAction::Deliver < InboundAction::Reject);
    }

    #[test]
    fn the_record_round_trips_as_the_trace_prints_it() {
        let record = InspectionRecord {
            action: Outcome::Separated,
            rule: "danger → separate".into(),
            files: vec![file("a.zip", FileClass::Danger, vec![file("x.exe", FileClass::Danger, vec![])])],
            antivirus: "clamd".into(),
            password_in_message: false,
            sanitised: Vec::new(),
            html_to_text: false,
        };
        let json = serde_json::to_value(&record).unwrap();
        assert!(json.get("sanitised").is_none() && json.get("html_to_text").is_none(), "{json}");
        assert_eq!(json["action"], "separated");
        assert_eq!(json["files"][0]["children"][0]["class"], "danger");
        assert_eq!(json["files"][0]["type"], "x");
        assert_eq!(serde_json::from_value::<InspectionRecord>(json).unwrap(), record);
        assert_eq!(record.worst(), FileClass::Danger);
    }

    #[test]
    fn a_safe_copy_stands_in_for_its_original_and_is_printed_beside_it() {
        let mut copy = file("a.xlsx", FileClass::Safe, vec![]);
        copy.sha256 = Some("ab".into());
        let record = InspectionRecord {
            action: Outcome::Delivered,
            rule: String::new(),
            files: vec![file("a.xlsm", FileClass::Danger, vec![]), file("b.txt", FileClass::Safe, vec![])],
            antivirus: "clamd".into(),
            password_in_message: false,
            sanitised: vec![SanitisedCopy { original: 0, done: "VBA project removed".into(), copy }],
            html_to_text: true,
        };
        assert_eq!((record.worst(), record.delivered_worst()), (FileClass::Danger, FileClass::Safe));
        assert_eq!(record.safe_copy(0).map(|c| c.copy.name.as_str()), Some("a.xlsx"));
        assert!(record.safe_copy(1).is_none());
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["sanitised"][0]["original"], 0);
        assert_eq!(json["sanitised"][0]["name"], "a.xlsx");
        assert_eq!(json["sanitised"][0]["sha256"], "ab");
        assert_eq!(json["sanitised"][0]["class"], "safe");
        assert_eq!(json["sanitised"][0]["done"], "VBA project removed");
        assert_eq!(json["html_to_text"], true);
        assert_eq!(serde_json::from_value::<InspectionRecord>(json).unwrap(), record);
        let mut unsafe_copy = record.clone();
        unsafe_copy.sanitised[0].copy.class = FileClass::Error;
        assert_eq!(unsafe_copy.delivered_worst(), FileClass::Danger, "only a Safe copy stands in");
    }

    #[test]
    fn walk_gives_each_entry_its_path() {
        let tree =
            file("a.zip", FileClass::Safe, vec![file("b", FileClass::Safe, vec![file("c", FileClass::Safe, vec![])])]);
        let paths: Vec<String> = tree.walk().iter().map(|(p, _)| p.join("/")).collect();
        assert_eq!(paths, ["a.zip", "a.zip/b", "a.zip/b/c"]);
    }
}
