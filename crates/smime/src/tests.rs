//! Interoperability with OpenSSL: signed here and verified there, signed there and verified
//! here, and each reason a signature fails.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::openssl_pki::Pki;
use crate::{Failure, Kind, Limits, Signer, Trust, read_pkcs12, sign_message, verify_message};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

const MESSAGE: &str = "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: quarterly figures\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe figures are attached.\r\n";

fn signer(pki: &Pki, name: &str) -> Signer {
    Signer::from_pem(&pki.read(&format!("{name}.chain.pem")), &pki.read(&format!("{name}.key"))).expect("signer")
}

fn trust(pki: &Pki) -> Trust {
    Trust::from_pem(&pki.read("root.pem")).expect("roots")
}

fn verify(pki: &Pki, message: &[u8]) -> crate::Verification {
    verify_message(message, &trust(pki), now(), &Limits::default()).expect("a signed message")
}

#[test]
fn a_message_sekisho_signs_verifies_with_openssl_smime_and_cms_and_here() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let signed = sign_message(&signer(&pki, "alice"), MESSAGE.as_bytes(), now()).expect("signed");
    let text = String::from_utf8_lossy(&signed);
    assert!(
        text.contains("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;"),
        "{text}"
    );
    assert!(text.starts_with("From: Alice <alice@example.com>\r\n"), "{text}");
    let (ok, err) = pki.openssl_verify(&signed);
    assert!(ok, "openssl smime -verify: {err}");
    let (ok, err) = pki.openssl_cms_verify(&signed);
    assert!(ok, "openssl cms -verify: {err}");
    let v = verify(&pki, &signed);
    assert_eq!(v.kind, Kind::Detached);
    assert_eq!(v.result.expect("valid").signer, "alice@example.com");
}

#[test]
fn an_8bit_multipart_is_re_encoded_before_signing_and_still_verifies() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let message = "From: alice@example.com\r\nTo: bob@example.net\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n請求書を送ります。\r\n--outer\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--outer--\r\n";
    let signed = sign_message(&signer(&pki, "alice"), message.as_bytes(), now()).expect("signed");
    assert!(signed.is_ascii(), "the signed message is 7-bit");
    let (ok, err) = pki.openssl_verify(&signed);
    assert!(ok, "openssl smime -verify: {err}");
    assert!(verify(&pki, &signed).result.is_ok());
}

#[test]
fn openssl_signed_mail_verifies_here_detached_and_opaque_with_the_chain() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    for (extra, kind) in
        [(vec!["-certfile", "inter.pem"], Kind::Detached), (vec!["-nodetach", "-certfile", "inter.pem"], Kind::Opaque)]
    {
        let content = "Content-Type: text/plain\r\n\r\nhello\r\n";
        let signed = pki.openssl_sign("alice", content.as_bytes(), &extra);
        let mut message = b"From: alice@example.com\r\nTo: bob@example.net\r\nSubject: s\r\n".to_vec();
        message.extend(&signed);
        let v = verify(&pki, &message);
        assert_eq!(v.kind, kind);
        assert_eq!(
            v.result,
            Ok(crate::Valid {
                signer: "alice@example.com".into(),
                subject: "CN=alice".into(),
                issuer: "CN=Test Intermediate".into()
            }),
            "{extra:?}"
        );
    }
}

#[test]
fn streamed_ber_and_key_identifier_signers_as_outlook_and_openssl_cms_write_them_verify() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let content = "Content-Type: text/plain\r\n\r\nhello\r\n";
    for (cms, extra) in [
        (false, vec!["-nodetach", "-stream", "-certfile", "inter.pem"]),
        (false, vec!["-stream", "-certfile", "inter.pem"]),
        (true, vec!["-keyid", "-certfile", "inter.pem"]),
        (true, vec!["-keyid", "-nodetach", "-stream", "-certfile", "inter.pem"]),
    ] {
        let signed = if cms {
            let mut args = vec!["cms", "-sign", "-signer", "alice.pem", "-inkey", "alice.key", "-md", "sha256"];
            args.extend_from_slice(&extra);
            let (ok, out, err) = crate::openssl_pki::openssl_with(pki.dir(), &args, content.as_bytes());
            assert!(ok, "{err}");
            out
        } else {
            pki.openssl_sign("alice", content.as_bytes(), &extra)
        };
        let mut message = b"From: alice@example.com\r\n".to_vec();
        message.extend(&signed);
        let v = verify(&pki, &message);
        assert!(v.result.is_ok(), "{cms} {extra:?}: {:?}", v.result);
    }
}

#[test]
fn without_certificates_in_the_message_the_signer_is_not_found() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    for extra in [vec!["-nocerts"], vec!["-nocerts", "-nodetach"]] {
        let mut message = b"From: alice@example.com\r\n".to_vec();
        message.extend(pki.openssl_sign("alice", b"Content-Type: text/plain\r\n\r\nhi\r\n", &extra));
        assert_eq!(verify(&pki, &message).result, Err(Failure::NoSignerCertificate), "{extra:?}");
    }
}

#[test]
fn an_intermediate_missing_from_the_message_leaves_the_chain_untrusted() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let mut message = b"From: alice@example.com\r\n".to_vec();
    message.extend(pki.openssl_sign("alice", b"Content-Type: text/plain\r\n\r\nhi\r\n", &[]));
    assert_eq!(verify(&pki, &message).result, Err(Failure::UntrustedRoot { issuer: "CN=Test Intermediate".into() }));
}

#[test]
fn a_body_changed_after_signing_fails_as_tampered() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let signed = sign_message(&signer(&pki, "alice"), MESSAGE.as_bytes(), now()).expect("signed");
    let tampered = String::from_utf8(signed).unwrap().replace("figures are attached", "figures are elsewhere");
    let v = verify(&pki, tampered.as_bytes());
    assert_eq!(v.result, Err(Failure::Tampered));
    assert_eq!(Failure::Tampered.to_string(), "the message was changed after it was signed (the digest differs)");
    let (ok, _) = pki.openssl_verify(tampered.as_bytes());
    assert!(!ok, "openssl agrees");
}

#[test]
fn an_expired_certificate_fails_with_its_date() {
    let pki = Pki::new();
    pki.user("old", "old@example.com", -1);
    let mut message = b"From: old@example.com\r\n".to_vec();
    message.extend(pki.openssl_sign("old", b"Content-Type: text/plain\r\n\r\nhi\r\n", &["-certfile", "inter.pem"]));
    match verify(&pki, &message).result {
        Err(Failure::Expired { subject, .. }) => assert_eq!(subject, "CN=old"),
        other => panic!("expected expired, got {other:?}"),
    }
}

#[test]
fn a_signer_who_is_not_the_from_address_fails() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let mut message = b"From: Boss <ceo@example.com>\r\n".to_vec();
    message.extend(pki.openssl_sign("alice", b"Content-Type: text/plain\r\n\r\nhi\r\n", &["-certfile", "inter.pem"]));
    let result = verify(&pki, &message).result;
    assert_eq!(
        result,
        Err(Failure::FromMismatch { from: "ceo@example.com".into(), signer: vec!["alice@example.com".into()] })
    );
    assert_eq!(
        result.unwrap_err().to_string(),
        "the signer's address (alice@example.com) is not the From address (ceo@example.com)"
    );
}

#[test]
fn a_chain_to_another_root_is_untrusted() {
    let pki = Pki::new();
    let other = Pki::new();
    other.user("mallory", "alice@example.com", 30);
    let mut message = b"From: alice@example.com\r\n".to_vec();
    message.extend(other.openssl_sign(
        "mallory",
        b"Content-Type: text/plain\r\n\r\nhi\r\n",
        &["-certfile", "inter.pem"],
    ));
    assert!(matches!(verify(&pki, &message).result, Err(Failure::UntrustedRoot { .. })));
}

#[test]
fn a_pkcs12_file_from_openssl_gives_a_signer_openssl_accepts() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let p12 = std::fs::read(pki.pkcs12("alice", "s3cret")).unwrap();
    assert!(matches!(read_pkcs12(&p12, "wrong"), Err(crate::SmimeError::WrongPassword)));
    let identity = read_pkcs12(&p12, "s3cret").expect("pkcs12");
    assert_eq!(identity.chain.len(), 2, "the user's certificate and the intermediate");
    let signer = identity.signer().expect("signer");
    assert_eq!(signer.emails(), vec!["alice@example.com".to_string()]);
    let signed = sign_message(&signer, MESSAGE.as_bytes(), now()).expect("signed");
    let (ok, err) = pki.openssl_verify(&signed);
    assert!(ok, "{err}");
    let again = Signer::from_pem(identity.chain_pem().unwrap().as_bytes(), identity.key_pem().unwrap().as_bytes());
    assert!(again.is_ok());
}

#[test]
fn legacy_pkcs12_files_as_windows_and_openssl_legacy_write_them_import() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    // OpenSSL's -legacy: RC2-40 for the certificates, 3DES for the key, a SHA-1 MAC; Windows'
    // "TripleDES-SHA1": 3DES for both.
    for (name, extra) in [
        ("legacy.p12", vec!["-legacy"]),
        ("tdes.p12", vec!["-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"]),
    ] {
        let mut args = vec![
            "pkcs12",
            "-export",
            "-inkey",
            "alice.key",
            "-in",
            "alice.pem",
            "-certfile",
            "inter.pem",
            "-passout",
            "pass:pw",
            "-out",
            name,
        ];
        args.extend_from_slice(&extra);
        let (ok, _, err) = crate::openssl_pki::openssl_with(pki.dir(), &args, b"");
        assert!(ok, "{name}: {err}");
        let p12 = std::fs::read(pki.path(name)).unwrap();
        assert!(matches!(read_pkcs12(&p12, "wrong"), Err(crate::SmimeError::WrongPassword)), "{name}");
        let identity = read_pkcs12(&p12, "pw").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(identity.chain.len(), 2, "{name}");
        assert_eq!(identity.signer().unwrap().emails(), vec!["alice@example.com".to_string()], "{name}");
    }
}

#[test]
fn malformed_and_truncated_signatures_are_findings_not_panics() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let signed = sign_message(&signer(&pki, "alice"), MESSAGE.as_bytes(), now()).expect("signed");
    let text = String::from_utf8(signed).unwrap();
    let sig_start = text.find("Signature\r\n\r\n").unwrap() + 13;
    for cut in [0usize, 10, 100, 700, 1500] {
        let mut broken = text[..sig_start + cut.min(text.len() - sig_start)].to_string();
        broken.push_str("\r\n--x--\r\n");
        let v = verify(&pki, broken.as_bytes());
        assert!(v.result.is_err(), "cut at {cut}");
    }
    let garbage = "From: a@example.com\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIB////\r\n";
    assert!(matches!(verify(&pki, garbage.as_bytes()).result, Err(Failure::Malformed(_))));
    let big = Limits { max_signature: 100, ..Limits::default() };
    let v = verify_message(text.as_bytes(), &trust(&pki), now(), &big).unwrap();
    assert_eq!(v.result, Err(Failure::TooLarge));
    assert!(verify_message(MESSAGE.as_bytes(), &trust(&pki), now(), &Limits::default()).is_none());
}

/// A validly signed message with its top-level header fields `extra` added and its body
/// changed by `edit`; what verification says of it.
fn reshaped(extra: &str, edit: impl Fn(String) -> String) -> Result<crate::Valid, Failure> {
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let signed = String::from_utf8(sign_message(&signer(&pki, "alice"), MESSAGE.as_bytes(), now()).unwrap()).unwrap();
    assert!(verify(&pki, signed.as_bytes()).result.is_ok(), "the message as signed verifies");
    let (head, body) = signed.split_once("\r\n\r\n").unwrap();
    verify(&pki, format!("{head}\r\n{extra}\r\n{}", edit(body.to_string())).as_bytes()).result
}

#[test]
fn a_second_content_type_that_would_show_other_parts_is_never_valid() {
    // The first Content-Type is the signed structure; readers taking the last one show the
    // parts of boundary M instead, which the signature does not cover.
    let r = reshaped("Content-Type: multipart/mixed; boundary=M", |body| {
        format!("{body}--M\r\nContent-Type: text/plain\r\n\r\nNew bank account: 12345\r\n--M--\r\n")
    });
    assert_eq!(r, Err(Failure::Malformed("the message has 2 Content-Type fields".into())));
}

#[test]
fn a_part_added_after_the_signature_or_an_unclosed_body_is_never_valid() {
    let boundary = |body: &str| body.lines().find(|l| l.starts_with("--")).unwrap().to_string();
    let added = reshaped("", |body| {
        let b = boundary(&body);
        body.replace(&format!("{b}--"), &format!("{b}\r\nContent-Type: application/pdf\r\n\r\nforged\r\n{b}--"))
    });
    assert_eq!(added, Err(Failure::Malformed("multipart/signed with 3 parts, not 2".into())));
    let unclosed = reshaped("", |body| {
        let b = boundary(&body);
        body.replace(&format!("{b}--\r\n"), &format!("{b}\r\nContent-Type: application/pdf\r\n\r\nforged\r\n"))
    });
    assert!(matches!(unclosed, Err(Failure::Malformed(_))), "{unclosed:?}");
}

#[test]
fn a_from_with_a_second_mailbox_or_field_is_never_bound_to_the_signer() {
    let r = reshaped("", |b| b);
    assert!(r.is_ok(), "unchanged: {r:?}");
    let pki = Pki::new();
    pki.user("alice", "alice@example.com", 30);
    let signed = String::from_utf8(sign_message(&signer(&pki, "alice"), MESSAGE.as_bytes(), now()).unwrap()).unwrap();
    let two = signed.replacen("From: Alice <alice@example.com>", "From: mallory@evil.example, alice@example.com", 1);
    assert_eq!(
        verify(&pki, two.as_bytes()).result,
        Err(Failure::Malformed("the From field names more than one mailbox".into()))
    );
    let twice =
        signed.replacen("From: Alice <alice@example.com>", "From: mallory@evil.example\r\nFrom: alice@example.com", 1);
    assert_eq!(verify(&pki, twice.as_bytes()).result, Err(Failure::Malformed("the message has 2 From fields".into())));
}
