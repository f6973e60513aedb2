//! The mis-send rules' `banner` on submitted mail: each transaction's data — the message as
//! spooled, its ZIP variant, a link notice — gets the rule's text at the top of its first text
//! and HTML bodies (`sekisho_rewrite::banner::with_banner`), before it is signed and sent. A
//! message whose text is signed, or that has no text body, goes as planned (and the log says
//! why); so does one whose body cannot be walked: the banner never holds mail back.

use std::path::Path;

use sekisho_rewrite::banner::{Banner, Bannered, with_banner};
use sekisho_store::MessageInfo;

use crate::variants::{Batch, Data, Held};

/// `planned` with the banner of `info`'s rules record in every transaction, if it has one.
pub(crate) async fn with_rules_banner<'r>(
    info: &MessageInfo,
    (batches, held): (Vec<Batch<'r>>, Vec<Held<'r>>),
    spooled: &Path,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let Some(rule_banner) = info.rules.as_ref().and_then(|r| r.banner.as_ref()) else { return (batches, held) };
    let banner = Banner::from_text(&rule_banner.text);
    let mut out = Vec::with_capacity(batches.len());
    for mut batch in batches {
        let (data, banner, path, id) = (batch.data, banner.clone(), spooled.to_path_buf(), info.id.clone());
        batch.data = tokio::task::spawn_blocking(move || bannered(data, &banner, &path, &id))
            .await
            .expect("the banner task does not panic");
        out.push(batch);
    }
    (out, held)
}

/// `data` with `banner`, or as it was when the banner cannot go in.
fn bannered(data: Data, banner: &Banner, spooled: &Path, id: &str) -> Data {
    let raw = match &data {
        Data::Made(b) => Ok(b.clone()),
        Data::Spooled => std::fs::read(spooled),
        Data::Headed { head, resume_at } => std::fs::read(spooled).map(|body| {
            let mut out = head.clone();
            out.extend_from_slice(body.get(*resume_at as usize..).unwrap_or_default());
            out
        }),
    };
    let why = match raw.map(|raw| with_banner(&raw, banner)) {
        Ok(Ok(Bannered::Added(out))) => return Data::Made(out),
        Ok(Ok(Bannered::Signed)) => "the message's text is signed".to_string(),
        Ok(Ok(Bannered::NoBody)) => "the message has no text body".to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => format!("cannot read the spooled message: {e}"),
    };
    tracing::info!(queue_id = %id, %why, "no rules banner");
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_data_gets_the_banner_and_a_signed_text_keeps_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let spooled = dir.path().join("m");
        let message = b"From: a@example.jp\r\nSubject: s\r\n\r\nHello.\r\n";
        std::fs::write(&spooled, message).unwrap();
        let banner = Banner::from_text("Sent from the sales team.\nKeep it internal.");
        let text = |d: Data| match d {
            Data::Made(b) => {
                let m = mail_parser::MessageParser::default().parse(&b).unwrap();
                m.body_text(0).unwrap().replace("\r\n", "\n")
            }
            _ => panic!("not made"),
        };
        for data in [
            Data::Spooled,
            Data::Made(message.to_vec()),
            Data::Headed { head: b"X-Added: 1\r\nFrom: a@example.jp\r\nSubject: s\r\n\r\n".to_vec(), resume_at: 34 },
        ] {
            let got = text(bannered(data, &banner, &spooled, "q"));
            assert!(got.starts_with("Sent from the sales team.\nKeep it internal."), "{got}");
            assert!(got.trim_end().ends_with("Hello."), "{got}");
        }
        let signed = b"From: a@example.jp\r\nContent-Type: multipart/signed; boundary=b; protocol=x\r\n\r\n--b\r\n\
                       Content-Type: text/plain\r\n\r\nHello.\r\n--b\r\nContent-Type: x\r\n\r\nsig\r\n--b--\r\n"
            .to_vec();
        match bannered(Data::Made(signed.clone()), &banner, &spooled, "q") {
            Data::Made(b) => assert_eq!(b, signed),
            _ => panic!("changed"),
        }
    }
}
