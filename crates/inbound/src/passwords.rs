//! "The password is in the mail": an Emotet-style message carries an encrypted archive and its
//! password in the text, so that no gateway can look inside. Before classifying, the message's
//! encrypted ZIP and 7z archives are tried with the password candidates of its own text; one
//! that opens is inspected like any other archive, and the finding is recorded (a strong sign
//! of attack mail). Pure: the caller runs it on an inspection thread.

use sekisho_inspect::content::{Contents, Node, State, open_owned};
use sekisho_inspect::encrypted::{Format, Limits, sniff};
use sekisho_inspect::unlock::{TryLimits, UnlockError, password_candidates, try_candidates};

/// Archives tried in one message: each try costs a key derivation (up to ~120 ms for a 7z),
/// so a message of many encrypted archives cannot hold an inspection thread for long.
pub const MAX_ARCHIVES: usize = 4;

/// Opens the encrypted ZIP and 7z archives of `contents` that a password in its text opens;
/// true when one did.
pub fn open_with_message_passwords(contents: &mut Contents, limits: &Limits) -> bool {
    // Only an encrypted file is tried: a message without one is not searched for passwords
    // (the search reads all its text, the most of what opening a plain message costs).
    if !contents.files.iter().any(|f| matches!(f.state, State::Encrypted { .. })) {
        return false;
    }
    let candidates = password_candidates(&contents.text);
    if candidates.is_empty() {
        return false;
    }
    let mut tries = Tries { candidates, left: MAX_ARCHIVES, limits };
    let mut opened = false;
    for file in &mut contents.files {
        opened |= tries.visit(file);
    }
    opened
}

struct Tries<'l> {
    candidates: Vec<String>,
    left: usize,
    limits: &'l Limits,
}

impl Tries<'_> {
    /// Tries `node` and what it holds; true when something in it was opened.
    fn visit(&mut self, node: &mut Node) -> bool {
        if !matches!(node.state, State::Encrypted { .. }) {
            return false;
        }
        if self.left > 0
            && let Some(bytes) = &node.content
            && matches!(sniff(bytes), Format::Zip | Format::SevenZip)
        {
            self.left -= 1;
            match try_candidates(&node.name, bytes, &self.candidates, self.limits, &TryLimits::default()) {
                Ok(Some(found)) => {
                    node.children = found
                        .entries
                        .into_iter()
                        .map(|entry| open_owned(&entry.path.join("/"), entry.bytes, self.limits))
                        .collect();
                    node.state = State::Open;
                    for child in &mut node.children {
                        self.visit(child);
                    }
                    settle(node);
                    return true;
                }
                // Two candidates open it to different files: a decoy; it stays unopened.
                Err(e @ UnlockError::Ambiguous { .. }) => {
                    if let State::Encrypted { what } = &node.state {
                        node.state = State::Encrypted { what: format!("{what}; {e}") };
                    }
                }
                // No candidate opens it, or no password can (unsupported, a limit): as it was.
                Ok(None) | Err(_) => {}
            }
        }
        let mut opened = false;
        for child in &mut node.children {
            opened |= self.visit(child);
        }
        if opened {
            settle(node);
        }
        opened
    }
}

/// A container whose entries are no longer encrypted is open; one with an encrypted entry left
/// stays encrypted.
fn settle(node: &mut Node) {
    let encrypted = node.children.iter().find_map(|c| match &c.state {
        State::Encrypted { what } => Some(what.clone()),
        _ => None,
    });
    node.state = match encrypted {
        Some(what) => State::Encrypted { what },
        None if matches!(node.state, State::Encrypted { .. }) && !node.children.is_empty() => State::Open,
        None => node.state.clone(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_inspect::content::open_message;
    use sekisho_inspect::mime::MessageLimits;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../inspect/tests/fixtures/unlock/");

    fn mail(body: &str, archive: &str) -> Vec<u8> {
        use base64::Engine as _;
        let bytes = std::fs::read(format!("{FIXTURES}{archive}")).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        format!(
            "From: a@b\r\nSubject: 請求書\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b\r\n\
             Content-Type: application/zip; name=\"{archive}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    fn opened(body: &str, archive: &str) -> (bool, Contents) {
        let limits = MessageLimits::default();
        let mut contents = open_message(&mail(body, archive), &limits).unwrap();
        (open_with_message_passwords(&mut contents, &limits.archive), contents)
    }

    #[test]
    fn the_password_in_the_mail_opens_its_archive_and_every_entry_is_inspected() {
        for archive in ["zipcrypto.zip", "aes256.zip", "headers.7z"] {
            let (found, contents) =
                opened("請求書を送付します。\r\nパスワード：Kx7#pQ2v\r\nよろしくお願いします。", archive);
            assert!(found, "{archive}");
            let file = &contents.files[0];
            assert_eq!(file.state, State::Open, "{archive}");
            let names: Vec<&str> = file.children.iter().map(|c| c.name.as_str()).collect();
            assert!(names.contains(&"invoice.txt") && names.contains(&"data.bin"), "{archive}: {names:?}");
            let invoice = file.children.iter().find(|c| c.name == "invoice.txt").unwrap();
            assert_eq!(invoice.content.as_deref().map(<[u8]>::len), Some(48), "the bytes are there to scan");
        }
    }

    #[test]
    fn without_the_password_in_the_mail_the_archive_stays_encrypted() {
        let (found, contents) = opened("Please find the invoice attached. Password: follows by phone", "zipcrypto.zip");
        assert!(!found);
        assert!(matches!(contents.files[0].state, State::Encrypted { .. }));
    }

    #[test]
    fn a_mixed_archive_is_open_once_its_encrypted_entry_is() {
        let (found, contents) = opened("PW: Kx7#pQ2v", "mixed.zip");
        assert!(found);
        assert_eq!(contents.files[0].state, State::Open);
        assert_eq!(contents.files[0].children.len(), 2);
    }

    #[test]
    fn a_message_without_an_encrypted_file_is_left_as_it_was_whatever_its_text_says() {
        let body = "パスワード：Kx7#pQ2v";
        let limits = MessageLimits::default();
        let plain = format!("From: a@b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");
        let mut contents = open_message(plain.as_bytes(), &limits).unwrap();
        assert!(!open_with_message_passwords(&mut contents, &limits.archive));
        assert!(contents.files.is_empty());
    }
}
