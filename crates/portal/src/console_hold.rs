//! Held messages in the sender console: the messages a mis-send rule holds before their first
//! attempt, listed on `/sent` with the time left, "send now" and "cancel" (CSRF forms posted
//! to `/sent/m/{id}/hold`). A cancel and the delivery reaching the message race fairly: exactly
//! one wins (`QueueControl::cancel`), and the page says which.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sekisho_store::{ByLink, Command, ConsoleSession, HeldMessage};

use crate::Portal;
use crate::lang::Texts;
use crate::page::{notice, now, unavailable};

/// The words of the held-messages part of the console, in the page's language.
pub(crate) struct HoldTexts {
    pub title: &'static str,
    pub due: &'static str,
    pub minutes_left: &'static str,
    pub rule: &'static str,
    pub send_now: &'static str,
    pub cancel: &'static str,
    pub cancelled: &'static str,
    pub sent_now: &'static str,
    pub too_late: &'static str,
    pub already: &'static str,
    pub not_held: &'static str,
    pub link_intro: &'static str,
    pub link_button: &'static str,
    pub link_used: &'static str,
    pub link_unknown: &'static str,
}

const HOLD_EN: HoldTexts = HoldTexts {
    title: "Held before sending",
    due: "Leaves at",
    minutes_left: "min left",
    rule: "Rule",
    send_now: "Send now",
    cancel: "Cancel",
    cancelled: "Cancelled: this message will never be delivered.",
    sent_now: "Released: this message is being sent now.",
    too_late: "Too late to cancel: delivery of this message has begun.",
    already: "This message was cancelled already: it will never be delivered.",
    not_held: "This message is no longer held: it has left, or was cancelled.",
    link_intro: "Cancel this held message? It will never be delivered.",
    link_button: "Cancel the message",
    link_used: "This cancel link was used already.",
    link_unknown: "This cancel link does not work: it is unknown, or the message has left already.",
};

const HOLD_JA: HoldTexts = HoldTexts {
    title: "送信保留中",
    due: "送信予定",
    minutes_left: "分後",
    rule: "ルール",
    send_now: "今すぐ送信",
    cancel: "送信取消",
    cancelled: "取り消しました。このメールは配送されません。",
    sent_now: "保留を解除しました。このメールは今から送信されます。",
    too_late: "取り消せませんでした。このメールの配送はすでに始まっています。",
    already: "このメールはすでに取り消されています。配送されません。",
    not_held: "このメールはもう保留されていません(送信済みか、取り消し済みです)。",
    link_intro: "保留中のこのメールを取り消しますか?取り消したメールは配送されません。",
    link_button: "送信を取り消す",
    link_used: "この取消リンクはすでに使われています。",
    link_unknown: "この取消リンクは使えません(不明なリンクか、メールがすでに送信されました)。",
};

/// The held-messages texts for the page's language.
pub(crate) fn hold_texts(t: &Texts) -> &'static HoldTexts {
    if t.lang == "ja" { &HOLD_JA } else { &HOLD_EN }
}

/// One held message as the console lists it.
pub(crate) struct HeldRow {
    pub id: String,
    pub due: String,
    pub minutes_left: i64,
    pub recipients: String,
    pub rules: String,
}

/// The rows for `rows` at `now`: pure.
pub(crate) fn held_rows(zone: &sekisho_config::TimeZone, rows: Vec<HeldMessage>, now: i64) -> Vec<HeldRow> {
    rows.into_iter()
        .map(|h| HeldRow {
            due: zone.format(h.due_at, "%Y-%m-%d %H:%M:%S"),
            minutes_left: (h.due_at - now + 59) / 60,
            recipients: h.recipients.join(", "),
            rules: h.rules.join(", "),
            id: h.id,
        })
        .collect()
}

/// The messages of the signed-in sender a rule holds now.
pub(crate) async fn held_of(portal: &Portal, session: &ConsoleSession) -> Result<Vec<HeldRow>, Response> {
    let at = now();
    match portal.inner.stores.messages.held(at, Some(&session.sender)).await {
        Ok(rows) => Ok(held_rows(&portal.inner.config.time_zone, rows, at)),
        Err(e) => Err(unavailable(e)),
    }
}

/// "Send now" or "cancel".
#[derive(serde::Deserialize)]
pub struct HoldAction {
    csrf: String,
    action: String,
}

/// `POST /sent/m/{id}/hold`: send a held message now, or cancel it.
pub async fn hold_action(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HoldAction>,
) -> Response {
    let (session, detail) = match crate::console::owned(&portal, &headers, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = portal.texts(&headers);
    let h = hold_texts(t);
    if !portal.form_allowed(&headers, &session.csrf, &form.csrf) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    let control = portal.inner.queue.control();
    let at = now();
    match form.action.as_str() {
        "cancel" => match control.cancel(&id, &format!("console:{}", session.sender), at).await {
            Ok(true) => {
                tracing::info!(queue_id = %id, sender = %session.sender.escape_debug(), "held message cancelled in the console");
                notice(StatusCode::OK, t, h.cancelled)
            }
            Ok(false) if detail.cancelled.is_some() => notice(StatusCode::CONFLICT, t, h.already),
            Ok(false) => notice(StatusCode::CONFLICT, t, h.too_late),
            Err(e) => unavailable(e),
        },
        "send_now" => {
            let held = match portal.inner.stores.messages.held(at, Some(&session.sender)).await {
                Ok(rows) => rows.iter().any(|r| r.id == id),
                Err(e) => return unavailable(e),
            };
            if !held {
                return notice(StatusCode::CONFLICT, t, h.not_held);
            }
            match control.apply(Some(&id), Command::Retry, at).await {
                Ok(_) => {
                    portal.inner.queue.wake();
                    notice(StatusCode::OK, t, h.sent_now)
                }
                Err(e) => unavailable(e),
            }
        }
        _ => notice(StatusCode::BAD_REQUEST, t, t.bad_form),
    }
}

/// A cancel link's token: what `random_token` makes.
fn plausible_token(token: &str) -> bool {
    token.len() <= 64 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /sent/cancel/{token}`: a mailed cancel link shows a button; only its POST cancels, so
/// a mail scanner fetching the link cancels nothing.
pub async fn cancel_link_page(State(portal): State<Portal>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let t = portal.texts(&headers);
    let h = hold_texts(t);
    if !plausible_token(&token) {
        return notice(StatusCode::NOT_FOUND, t, h.link_unknown);
    }
    portal.confirm_page(t, h.link_intro, format!("/sent/cancel/{token}"), h.link_button)
}

/// `POST /sent/cancel/{token}`: the button of a mailed cancel link. Exactly one of the cancel
/// and the delivery reaching the message wins, and the page says which.
pub async fn cancel_by_link(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<crate::recipient::ConfirmForm>,
) -> Response {
    let t = portal.texts(&headers);
    let h = hold_texts(t);
    if !portal.confirm_allowed(&headers, form.csrf()) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    if !plausible_token(&token) {
        return notice(StatusCode::NOT_FOUND, t, h.link_unknown);
    }
    match portal.inner.queue.control().cancel_by_link(&token, portal.inner.queue.now()).await {
        Ok(ByLink::Cancelled(id)) => {
            tracing::info!(queue_id = %id, "held message cancelled by a mailed link");
            notice(StatusCode::OK, t, h.cancelled)
        }
        Ok(ByLink::TooLate(_)) => notice(StatusCode::CONFLICT, t, h.too_late),
        Ok(ByLink::Used) => notice(StatusCode::GONE, t, h.link_used),
        Ok(ByLink::Unknown) => notice(StatusCode::NOT_FOUND, t, h.link_unknown),
        Err(e) => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_rounds_up_to_whole_minutes() {
        let zone = sekisho_config::TimeZone::named("Asia/Tokyo").unwrap();
        let h = |due| HeldMessage {
            id: "M1".into(),
            sender: "a@example.jp".into(),
            received_at: 0,
            due_at: due,
            recipients: vec!["b@x.example".into(), "c@y.example".into()],
            rules: vec!["hold-outside".into()],
        };
        let rows = held_rows(&zone, vec![h(1000 + 300), h(1000 + 1)], 1000);
        assert_eq!((rows[0].minutes_left, rows[1].minutes_left), (5, 1));
        assert_eq!(rows[0].recipients, "b@x.example, c@y.example");
        assert_eq!(rows[0].due, "1970-01-01 09:21:40");
    }
}
