//! `GET /d/message.eml`: the recipient's copy of the whole message as the sender sent it, every
//! attachment in it, so their mail archive and search hold what they received
//! (`[portal] original_download`, checked at each request: turned off, no kept message is
//! served). Outbound link messages only (an inbound message's files are classified one by
//! one on their page). It goes through the same checks as a file (a verified session, the link
//! not locked, not purged) and, as it holds every file, needs a download left of each and
//! counts one of each besides its own. When the mis-send rules hid recipients from each
//! other (`bcc_external`), or the message's record is gone, every recipient's copy has To and
//! Cc naming only them: never more than anyone was shown.

use std::io::{Read, Write};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::Portal;
use crate::download::{attachment_headers, streamed};
use crate::listener::Peer;
use crate::page::{notice, unavailable};
use crate::session::Client;

/// The longest header block read to hide the other recipients.
const HEADER_LIMIT: usize = 1 << 20;

/// `GET /d/message.eml`.
pub async fn message(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    if !portal.inner.config.portal.original_download {
        let t = portal.texts(&headers);
        return notice(StatusCode::NOT_FOUND, t, t.not_found);
    }
    let (c, files) = match portal.downloadable(&headers).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let t = portal.texts(&headers);
    let id = c.link.message_id.clone();
    let stores = &portal.inner.stores;
    let (inbound, kept, detail) =
        match tokio::try_join!(portal.inbound(&id), stores.links.link_message(&id), stores.messages.message(&id)) {
            Ok(v) => v,
            Err(e) => return unavailable(e),
        };
    let Some(original) = kept.and_then(|k| k.original).filter(|_| inbound.is_none()) else {
        return notice(StatusCode::NOT_FOUND, t, t.not_found);
    };
    let every: Vec<&sekisho_store::LinkFile> = files.iter().chain([&original]).collect();
    if let Err(refusal) = portal.left(&headers, &c, &every).await {
        return refusal;
    }
    let counted: Vec<sekisho_store::LinkFile> = every.into_iter().cloned().collect();
    let undisclosed = detail.is_none_or(|d| d.info.rules.as_ref().is_some_and(|r| r.bcc_external.is_some()));
    let recipient = c.link.recipient.clone();
    let client = Client::new(peer, &headers);
    let (p, file) = (portal.clone(), original.clone());
    let body = streamed(
        move |out| {
            let mut reader = p.open(&file)?;
            if undisclosed {
                copy_undisclosed(&mut reader, out, &recipient)
            } else {
                std::io::copy(&mut reader, out).map(drop)
            }
        },
        move || async move { portal.counted(&c, &counted, &client, "the whole message (.eml)".into()).await },
    );
    let mut response = body.into_response();
    // Bytes to save, never to render, as every download.
    attachment_headers(&mut response, "application/octet-stream", sekisho_links::ORIGINAL_NAME, None);
    response
}

/// Copies the message from `reader` to `out` with its To and Cc naming only `recipient`.
fn copy_undisclosed(reader: &mut impl Read, out: &mut impl Write, recipient: &str) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut piece = [0u8; 8192];
    let end = loop {
        if let Some(end) = sekisho_rewrite::inbound::header_end(&head) {
            break end;
        }
        if head.len() > HEADER_LIMIT {
            return Err(std::io::Error::other("the message's header is longer than 1 MiB"));
        }
        let n = reader.read(&mut piece)?;
        if n == 0 {
            break head.len();
        }
        head.extend_from_slice(&piece[..n]);
    };
    out.write_all(&sekisho_rewrite::undisclosed::only_recipient(&head[..end], recipient))?;
    out.write_all(&head[end..])?;
    std::io::copy(reader, out).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undisclosed_copy_names_only_its_recipient_and_keeps_the_body_whole() {
        let body = "x".repeat(20_000);
        let message = format!(
            "From: alice@example.jp\r\nTo: bob@partner.example,\r\n carol@other.example\r\nCc: dave@example.jp\r\n\
             Subject: quote\r\n\r\n{body}\r\n"
        );
        let mut out = Vec::new();
        copy_undisclosed(&mut message.as_bytes(), &mut out, "bob@partner.example").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("From: alice@example.jp\r\nTo: <bob@partner.example>\r\nSubject: quote\r\n\r\n"),
            "{text}"
        );
        assert!(!text.contains("carol") && !text.contains("dave"), "{text}");
        assert!(text.ends_with(&format!("\r\n\r\n{body}\r\n")));
    }
}
