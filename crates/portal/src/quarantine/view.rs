//! What the quarantine pages and the digest show of a held message. Pure: the message's
//! record and the From and Subject read from its header block in, lines of text out.

use sekisho_policy::inbound::{FileClass, InspectionRecord};
use sekisho_policy::text::visible;
use sekisho_store::{MessageDetail, RecipientState};

/// The header fields read from a held message's spooled body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The first address of the header From ("Name <address>"), "" when there is none.
    pub from: String,
    pub subject: String,
}

impl Header {
    /// From the first bytes of the body (the header block; see `sekisho_links::MAX_HEADER`).
    pub fn read(raw: &[u8]) -> Header {
        Header { from: sekisho_links::header_from(raw), subject: sekisho_links::header_subject(raw) }
    }
}

/// One file of the inspection tree, as a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// 0 for a file of the message, 1 for an entry of it, ...
    pub depth: usize,
    pub name: String,
    pub file_type: String,
    pub size: String,
    pub class: FileClass,
    pub reason: String,
}

/// Every file of the record, depth first.
pub fn file_rows(record: &InspectionRecord) -> Vec<FileRow> {
    record
        .files
        .iter()
        .flat_map(|f| f.walk())
        .map(|(path, f)| FileRow {
            depth: path.len() - 1,
            name: visible(&f.name).into_owned(),
            file_type: visible(&f.file_type).into_owned(),
            size: sekisho_rewrite::human_size(f.size),
            class: f.class,
            reason: visible(&f.reason).into_owned(),
        })
        .collect()
}

/// Why the message was held, in one line: each file that is not Safe with its class and
/// reason ("invoice.zip > eicar.com: danger — Eicar-Test-Signature"), else the decision.
pub fn why(record: &InspectionRecord) -> String {
    let mut parts: Vec<String> = Vec::new();
    for file in &record.files {
        for (path, f) in file.walk() {
            // A container's class is its worst child's: name the files themselves.
            if f.class != FileClass::Safe && (f.children.is_empty() || f.children.iter().all(|c| c.class < f.class)) {
                parts.push(format!("{}: {} — {}", visible(&path.join(" > ")), f.class, visible(&f.reason)));
            }
        }
    }
    if parts.is_empty() {
        return visible(&record.rule).into_owned();
    }
    let total = parts.len();
    if total > 5 {
        parts.truncate(5);
        parts.push(format!("(+{} more)", total - 5));
    }
    parts.join("; ")
}

/// Why an inbound message is held, in one line: the inspection's files (or decision) when it
/// quarantined the message, what DMARC did when a DMARC failure quarantined it, and the DNS
/// blocklists' score when it reached `[reputation] quarantine_score`.
pub fn why_held(info: &sekisho_store::MessageInfo) -> String {
    let inspected = info.inspection.as_ref().filter(|r| r.action == sekisho_policy::inbound::Outcome::Quarantined);
    let dmarc = info
        .sender_record
        .as_ref()
        .and_then(|s| s.authentication.as_ref())
        .map(|a| a.dmarc_action.as_str())
        .filter(|a| a.starts_with("quarantine"));
    let listed = info
        .sender_record
        .as_ref()
        .and_then(|s| s.reputation.as_ref())
        .map(|r| r.action.as_str())
        .filter(|a| a.starts_with("quarantine"));
    let parts: Vec<String> = inspected
        .map(why)
        .into_iter()
        .chain(dmarc.map(|d| format!("DMARC {}", visible(d))))
        .chain(listed.map(|l| format!("DNS blocklists {}", visible(l))))
        .collect();
    parts.join("; ")
}

/// The recipients still held, in envelope order.
pub fn held_recipients(d: &MessageDetail) -> Vec<String> {
    d.recipients.iter().filter(|r| r.state == RecipientState::Held).map(|r| r.address.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_policy::inbound::{ClassifiedFile, Outcome};

    fn file(name: &str, class: FileClass, reason: &str, children: Vec<ClassifiedFile>) -> ClassifiedFile {
        ClassifiedFile {
            name: name.into(),
            size: 68,
            file_type: "ZIP archive".into(),
            class,
            reason: reason.into(),
            sha256: None,
            children,
        }
    }

    #[test]
    fn why_names_the_files_that_held_the_message_not_their_containers() {
        let eicar = file("eicar.com", FileClass::Danger, "Eicar-Test-Signature", vec![]);
        let zip = file("invoice.zip", FileClass::Danger, "contains danger", vec![eicar]);
        let safe = file("notes.txt", FileClass::Safe, "scanned: nothing found", vec![]);
        let record = InspectionRecord {
            action: Outcome::Quarantined,
            rule: "danger file → quarantine (inbound.danger)".into(),
            files: vec![safe, zip],
            antivirus: "clamd".into(),
            password_in_message: false,
            sanitised: Vec::new(),
            html_to_text: false,
        };
        assert_eq!(why(&record), "invoice.zip > eicar.com: danger — Eicar-Test-Signature");
        let rows = file_rows(&record);
        assert_eq!(
            rows.iter().map(|r| (r.depth, r.name.as_str())).collect::<Vec<_>>(),
            [(0, "notes.txt"), (0, "invoice.zip"), (1, "eicar.com")]
        );
        let empty = InspectionRecord { files: vec![], ..record };
        assert_eq!(why(&empty), "danger file → quarantine (inbound.danger)");
        let header = Header::read(b"From: Bank <a@bank.example>\r\nSubject: Hi\r\n\r\nbody");
        assert_eq!((header.from.as_str(), header.subject.as_str()), ("Bank <a@bank.example>", "Hi"));
    }

    #[test]
    fn a_dmarc_quarantine_says_why_beside_the_inspection() {
        use sekisho_policy::sender::{AuthenticationRecord, SenderRecord};
        let mut info = sekisho_store::MessageInfo {
            id: "Q1".into(),
            received_at: 0,
            sender: "ceo@bank.example".into(),
            size: 1,
            ret: None,
            envid: None,
            smtputf8: false,
            body_8bit: false,
            client_ip: "192.0.2.1".into(),
            helo: "x".into(),
            listener: "mx".into(),
            auth_user: None,
            tls: None,
            origin: sekisho_store::Origin::Mx,
            findings: None,
            required_tls: None,
            sender_tls: None,
            inspection: None,
            rules: None,
            sender_record: None,
        };
        assert_eq!(why_held(&info), "");
        let dmarc = |action: &str| SenderRecord {
            authentication: Some(AuthenticationRecord { dmarc_action: action.into(), ..Default::default() }),
            findings: vec![],
            reputation: None,
        };
        info.sender_record = Some(dmarc("quarantine: the sender's domain bank.example publishes DMARC p=reject"));
        assert_eq!(why_held(&info), "DMARC quarantine: the sender's domain bank.example publishes DMARC p=reject");
        info.sender_record = Some(dmarc("deliver: the client is a trusted forwarder"));
        assert_eq!(why_held(&info), "", "only a quarantine is a reason to hold");
        let listed = sekisho_policy::sender::ReputationRecord {
            score: 3,
            action: "quarantine: score 3 reaches [reputation] quarantine_score 3 (dbl.example)".into(),
            ..Default::default()
        };
        info.sender_record = Some(SenderRecord { reputation: Some(listed), ..dmarc("") });
        assert_eq!(
            why_held(&info),
            "DNS blocklists quarantine: score 3 reaches [reputation] quarantine_score 3 (dbl.example)"
        );
    }
}
