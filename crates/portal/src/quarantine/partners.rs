//! `/sent/partners`, for administrators only: the partner TLS report (`sekisho partners`) —
//! per recipient domain over the last 30 days, how much mail went inline and how much as
//! links, why, since when and whether it improved; `/sent/partners/{domain}` shows the
//! explanation for its postmaster (ja and en) and sends it to `postmaster@{domain}` only when
//! the administrator presses the button (a form with the session's CSRF token).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sekisho_partners::{Lang, Partner};

use super::texts::QuarantineTexts;
use crate::Portal;
use crate::lang::Texts;
use crate::page::{notice, now, render, unavailable};

/// The window the page covers.
const DAYS: i64 = 30;

/// One partner as the table shows it.
pub struct PartnerRow {
    pub domain: String,
    pub attempts: u64,
    pub inline: u64,
    pub links: u64,
    pub held_back: u64,
    pub reasons: String,
    pub since: String,
    pub trend: &'static str,
}

#[derive(Template)]
#[template(path = "partners.html")]
struct PartnersPage {
    t: &'static Texts,
    q: &'static QuarantineTexts,
    who: String,
    rows: Vec<PartnerRow>,
}

#[derive(Template)]
#[template(path = "partner.html")]
struct PartnerPage {
    t: &'static Texts,
    q: &'static QuarantineTexts,
    who: String,
    domain: String,
    postmaster: String,
    en: String,
    ja: String,
    csrf: String,
    sent: Option<String>,
}

/// The form of the "send to the postmaster" button.
#[derive(serde::Deserialize)]
pub struct SendForm {
    csrf: String,
    lang: String,
}

impl Portal {
    /// The partners of the last `DAYS` days whose mail fell short of the policy.
    pub(super) async fn partners(&self) -> Result<Vec<Partner>, sekisho_store::StoreError> {
        let now = now();
        let span = DAYS * 86_400;
        let rows = self.inner.stores.tls.partner_evidence(now - span, now - span / 2).await?;
        Ok(sekisho_partners::partners(&rows, &self.inner.config.local_domains))
    }

    /// The partner `domain` among those listed, or the 404 page.
    async fn partner(&self, t: &'static Texts, domain: &str) -> Result<Partner, Response> {
        match self.partners().await {
            Ok(all) => all
                .into_iter()
                .find(|p| p.domain.eq_ignore_ascii_case(domain))
                .ok_or_else(|| notice(StatusCode::NOT_FOUND, t, t.not_found)),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The table's rows, outsiders' text made visible (escaped again by the template). Pure.
pub fn rows(partners: &[Partner], at: &dyn Fn(i64) -> String) -> Vec<PartnerRow> {
    use sekisho_policy::text::visible;
    partners
        .iter()
        .map(|p| PartnerRow {
            domain: visible(&p.domain).into_owned(),
            attempts: p.attempts,
            inline: p.inline,
            links: p.links,
            held_back: p.held_back,
            reasons: p
                .reasons
                .iter()
                .map(|r| format!("{} ({})", r.reason.words(), r.attempts))
                .collect::<Vec<_>>()
                .join(", "),
            since: at(p.since),
            trend: p.trend.as_str(),
        })
        .collect()
}

/// `GET /sent/partners`.
pub async fn list(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    let (session, t, q) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let partners = match portal.partners().await {
        Ok(p) => p,
        Err(e) => return unavailable(e),
    };
    let zone = &portal.inner.config.time_zone;
    let rows = rows(&partners, &|t| zone.format(t, "%Y-%m-%d"));
    render(StatusCode::OK, &PartnersPage { t, q, who: session.sender, rows })
}

/// `GET /sent/partners/{domain}`: the explanation and the button that sends it.
pub async fn partner(State(portal): State<Portal>, headers: HeaderMap, Path(domain): Path<String>) -> Response {
    let (session, t, q) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let p = match portal.partner(t, &domain).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page(&portal, session, t, q, &p, None)
}

fn page(
    portal: &Portal,
    session: sekisho_store::ConsoleSession,
    t: &'static Texts,
    q: &'static QuarantineTexts,
    p: &Partner,
    sent: Option<String>,
) -> Response {
    let page = PartnerPage {
        t,
        q,
        who: session.sender,
        domain: p.domain.clone(),
        postmaster: format!("postmaster@{}", p.domain),
        en: sekisho_partners::explain_as(p, Lang::En, &portal.inner.config),
        ja: sekisho_partners::explain_as(p, Lang::Ja, &portal.inner.config),
        csrf: session.csrf,
        sent,
    };
    render(StatusCode::OK, &page)
}

/// `POST /sent/partners/{domain}`: mails the explanation (`lang`: "ja" or "en") to the
/// domain's postmaster through the queue, and says so.
pub async fn send(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    Form(form): Form<SendForm>,
) -> Response {
    let (session, t, q) = match portal.admin_form(&headers, &form.csrf).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(lang) = Lang::parse(&form.lang) else { return notice(StatusCode::BAD_REQUEST, t, t.bad_form) };
    let p = match portal.partner(t, &domain).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let to = format!("postmaster@{}", p.domain);
    let subject = match lang {
        Lang::Ja => format!("{} 宛てのメールの TLS について", p.domain),
        Lang::En => format!("TLS for mail to {}", p.domain),
    };
    let hostname = &portal.inner.config.hostname;
    let mail = crate::mails::plain_mail(
        hostname,
        &to,
        &subject,
        &sekisho_partners::explain_as(&p, lang, &portal.inner.config),
    );
    let id = sekisho_store::QueueId::generate();
    if let Err(e) = portal.inner.queue.inject(&id, hostname, &to, &mail).await {
        return unavailable(e);
    }
    portal.inner.queue.wake();
    tracing::info!(domain = %p.domain, to = %to, queue_id = %id, by = %session.sender, "partner TLS explanation sent");
    let sent = format!("{} {to} ({id})", q.partner_sent);
    page(&portal, session, t, q, &p, Some(sent))
}
