//! Approval in the sender console. An approver signs in as a sender does (the submission
//! account's password, or a sign-in link mailed to the address) and finds on `/sent` the
//! messages waiting for them ("For your approval"); `/sent/approvals/{id}` shows the message —
//! sender, recipients, Subject, text, attachments — and a form to approve or reject it with a
//! comment (`QueueControl::decide_approval`: one decision, recorded, acted on and audited). The
//! sender sees "awaiting approval by ..." on `/sent`, then the outcome on the message's row.

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sekisho_inspect::mime::{MessageLimits, attachments, words};
use sekisho_store::{Approval, ApprovalError, Approver, ConsoleSession, Verdict, Who};

use crate::Portal;
use crate::lang::Texts;
use crate::listener::Peer;
use crate::page::{notice, now, render, unavailable};
use crate::session::Client;

/// Most bytes of the message's text the approval page shows.
const TEXT_SHOWN: usize = 64 << 10;

/// The words of approval in the console, in the page's language.
pub(crate) struct ApprovalTexts {
    pub to_decide: &'static str,
    pub awaiting: &'static str,
    pub awaiting_by: &'static str,
    pub heading: &'static str,
    pub sender: &'static str,
    pub rule: &'static str,
    pub deadline: &'static str,
    pub on_timeout_reject: &'static str,
    pub on_timeout_release: &'static str,
    pub text: &'static str,
    pub comment: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,
    pub approved: &'static str,
    pub rejected: &'static str,
    pub not_awaiting: &'static str,
    pub not_approver: &'static str,
    pub comment_needed: &'static str,
    pub outcome_approved: &'static str,
    pub outcome_rejected: &'static str,
}

const APPROVAL_EN: ApprovalTexts = ApprovalTexts {
    to_decide: "For your approval",
    awaiting: "Awaiting approval",
    awaiting_by: "Awaiting approval by",
    heading: "Approve or reject this message",
    sender: "Sender",
    rule: "Rule",
    deadline: "Decide by",
    on_timeout_reject: "then it is rejected",
    on_timeout_release: "then it is sent",
    text: "Text",
    comment: "Comment (required to reject: the sender is told why)",
    approve: "Approve and send",
    reject: "Reject",
    approved: "Approved: this message is being sent now.",
    rejected: "Rejected: this message will never be delivered. The sender sees your comment.",
    not_awaiting: "This message no longer awaits approval: it was decided already, or its sender cancelled it.",
    not_approver: "You are not an approver of this message.",
    comment_needed: "A rejection needs a comment: the sender is told why.",
    outcome_approved: "Approved by",
    outcome_rejected: "Rejected by",
};

const APPROVAL_JA: ApprovalTexts = ApprovalTexts {
    to_decide: "承認待ち(あなたの承認が必要です)",
    awaiting: "承認待ち",
    awaiting_by: "承認者",
    heading: "このメールを承認または却下してください",
    sender: "差出人",
    rule: "ルール",
    deadline: "期限",
    on_timeout_reject: "期限を過ぎると却下されます",
    on_timeout_release: "期限を過ぎると送信されます",
    text: "本文",
    comment: "コメント(却下する場合は必須。差出人に伝えられます)",
    approve: "承認して送信",
    reject: "却下",
    approved: "承認しました。このメールは今から送信されます。",
    rejected: "却下しました。このメールは配送されません。コメントは差出人に表示されます。",
    not_awaiting: "このメールはもう承認待ちではありません(判断済みか、差出人が取り消しました)。",
    not_approver: "あなたはこのメールの承認者ではありません。",
    comment_needed: "却下するにはコメントが必要です(差出人に理由が伝えられます)。",
    outcome_approved: "承認:",
    outcome_rejected: "却下:",
};

/// The approval texts for the page's language.
pub(crate) fn approval_texts(t: &Texts) -> &'static ApprovalTexts {
    if t.lang == "ja" { &APPROVAL_JA } else { &APPROVAL_EN }
}

/// One message awaiting approval as `/sent` lists it.
pub(crate) struct ApprovalRow {
    pub id: String,
    pub sender: String,
    pub recipients: String,
    pub approvers: String,
    pub rule: String,
    pub deadline: String,
}

fn row(zone: &sekisho_config::TimeZone, a: Approval) -> ApprovalRow {
    ApprovalRow {
        deadline: zone.format(a.deadline, "%Y-%m-%d %H:%M"),
        recipients: a.recipients.join(", "),
        approvers: a.approvers.join(", "),
        id: a.message_id,
        sender: a.sender,
        rule: a.rule,
    }
}

/// True when `address` may decide `a`.
fn is_approver(a: &Approval, address: &str) -> bool {
    a.approvers.iter().any(|x| x.eq_ignore_ascii_case(address))
}

/// For `/sent`: the signed-in sender's messages awaiting approval, and the messages awaiting
/// the signed-in person's approval.
pub(crate) async fn approvals_of(
    portal: &Portal,
    session: &ConsoleSession,
) -> Result<(Vec<ApprovalRow>, Vec<ApprovalRow>), Response> {
    let store = &portal.inner.stores.messages;
    let zone = &portal.inner.config.time_zone;
    let (mine, to_decide) = match tokio::try_join!(
        store.awaiting_approval(Some(&session.sender)),
        store.awaiting_approval_of(&session.sender)
    ) {
        Ok(v) => v,
        Err(e) => return Err(unavailable(e)),
    };
    let to_decide = to_decide.into_iter().map(|a| row(zone, a)).collect();
    Ok((mine.into_iter().map(|a| row(zone, a)).collect(), to_decide))
}

/// The outcome line of a decided approval, for the sender's list: pure.
pub(crate) fn outcome(t: &Texts, zone: &sekisho_config::TimeZone, a: &Approval) -> Option<String> {
    let a_t = approval_texts(t);
    let d = a.decision.as_ref()?;
    let what = if d.approved { a_t.outcome_approved } else { a_t.outcome_rejected };
    let by = d.by.strip_prefix("approver:").unwrap_or(&d.by);
    let when = zone.format(d.at, "%Y-%m-%d %H:%M");
    Some(if d.comment.is_empty() {
        format!("{what} {by} ({when})")
    } else {
        format!("{what} {by} ({when}): {}", d.comment)
    })
}

#[derive(Template)]
#[template(path = "approval.html")]
struct ApprovalPage {
    t: &'static Texts,
    a: &'static ApprovalTexts,
    m: ApprovalRow,
    on_timeout: &'static str,
    subject: String,
    text: String,
    /// (name, type, size)
    files: Vec<(String, String, String)>,
    csrf: String,
}

/// The session of an approval request and the pending approval it names, if the session's
/// address may decide it.
async fn pending_for(portal: &Portal, headers: &HeaderMap, id: &str) -> Result<(ConsoleSession, Approval), Response> {
    let t = portal.texts(headers);
    let a_t = approval_texts(t);
    let session = match portal.console(headers).await {
        Err(e) => return Err(unavailable(e)),
        Ok(None) => return Err(portal.sign_in_page(t, StatusCode::OK, None)),
        Ok(Some((s, _))) => s,
    };
    match portal.inner.stores.messages.approval(id).await {
        Ok(Some(a)) if !is_approver(&a, &session.sender) => {
            tracing::warn!(queue_id = %id, user = %session.sender.escape_debug(), "approval page refused: not an approver");
            Err(notice(StatusCode::FORBIDDEN, t, a_t.not_approver))
        }
        Ok(Some(a)) if a.decision.is_some() => Err(notice(StatusCode::CONFLICT, t, a_t.not_awaiting)),
        Ok(Some(a)) => Ok((session, a)),
        Ok(None) => Err(notice(StatusCode::NOT_FOUND, t, t.not_found)),
        Err(e) => Err(unavailable(e)),
    }
}

/// `GET /sent/approvals/{id}`: the message and the form to approve or reject it.
pub async fn approval_page(State(portal): State<Portal>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (session, a) = match pending_for(&portal, &headers, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = portal.texts(&headers);
    let path = portal.inner.queue.local_body(&id).await;
    if let Err(e) = &path {
        tracing::warn!(queue_id = %id, error = %e, "cannot read the body of a message waiting for approval");
    }
    let (subject, text, files) = tokio::task::spawn_blocking(move || {
        let raw = path.ok().and_then(|p| std::fs::read(p).ok()).unwrap_or_default();
        let limits = MessageLimits::default();
        let w = words(&raw, &limits, TEXT_SHOWN).unwrap_or_default();
        let files = attachments(&raw, &limits, false)
            .map(|m| {
                m.files
                    .iter()
                    .map(|f| {
                        let name = sekisho_policy::text::visible(&f.name).to_string();
                        (name, f.content_type.clone(), sekisho_rewrite::human_size(f.bytes.len() as u64))
                    })
                    .collect()
            })
            .unwrap_or_default();
        (w.subject, w.text, files)
    })
    .await
    .unwrap_or_default();
    let a_t = approval_texts(t);
    let on_timeout = if a.release_on_timeout { a_t.on_timeout_release } else { a_t.on_timeout_reject };
    let page = ApprovalPage {
        t,
        a: a_t,
        m: row(&portal.inner.config.time_zone, a),
        on_timeout,
        subject,
        text,
        files,
        csrf: session.csrf,
    };
    render(StatusCode::OK, &page)
}

/// The approval form.
#[derive(serde::Deserialize)]
pub struct ApprovalForm {
    csrf: String,
    verdict: String,
    #[serde(default)]
    comment: String,
}

/// `POST /sent/approvals/{id}`: approve or reject, with a comment.
pub async fn approval_action(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ApprovalForm>,
) -> Response {
    let (session, _) = match pending_for(&portal, &headers, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = portal.texts(&headers);
    let a_t = approval_texts(t);
    if !portal.form_allowed(&headers, &session.csrf, &form.csrf) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    let verdict = match form.verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        _ => return notice(StatusCode::BAD_REQUEST, t, t.bad_form),
    };
    let client = Client::new(peer, &headers);
    let approver =
        Approver { who: Who::Approver(&session.sender), client: &client.address, user_agent: &client.user_agent };
    let comment: String = form.comment.chars().take(1000).collect();
    match portal.inner.queue.control().decide_approval(&id, verdict, &approver, &comment, now()).await {
        Ok(d) if d.approved => {
            portal.inner.queue.wake();
            notice(StatusCode::OK, t, a_t.approved)
        }
        Ok(_) => notice(StatusCode::OK, t, a_t.rejected),
        Err(ApprovalError::CommentNeeded) => notice(StatusCode::UNPROCESSABLE_ENTITY, t, a_t.comment_needed),
        Err(ApprovalError::NotApprover { .. }) => notice(StatusCode::FORBIDDEN, t, a_t.not_approver),
        Err(ApprovalError::NotAwaiting(_)) => notice(StatusCode::CONFLICT, t, a_t.not_awaiting),
        Err(ApprovalError::Store(e)) => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_sees_who_decided_when_and_why() {
        let zone = sekisho_config::TimeZone::named("Asia/Tokyo").unwrap();
        let mut a = Approval {
            message_id: "M1".into(),
            sender: "alice@example.jp".into(),
            received_at: 0,
            recipients: vec!["bob@customer.example".into()],
            rule: "contract".into(),
            approvers: vec!["boss@example.jp".into()],
            deadline: 3600,
            release_on_timeout: false,
            decision: None,
        };
        let t = crate::lang::texts(sekisho_config::Language::En, &HeaderMap::new());
        assert_eq!(outcome(t, &zone, &a), None);
        a.decision = Some(sekisho_store::Decided {
            approved: false,
            by: "approver:boss@example.jp".into(),
            at: 60,
            comment: "wrong customer".into(),
        });
        assert_eq!(outcome(t, &zone, &a).unwrap(), "Rejected by boss@example.jp (1970-01-01 09:01): wrong customer");
    }
}
