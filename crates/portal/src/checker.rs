//! The TLS checker for people and programs: `GET /check?domain=` (a page with the per-MX table
//! and the one-sentence verdict) and `GET /api/v1/check?domain=` (the same report as JSON),
//! measured by the delivery code. Each check connects to the domain's mail servers, so a client
//! gets `[portal] check_rate_limit` of them a minute.

use std::net::SocketAddr;

use askama::Template;
use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sekisho_policy::CheckerAccess;
use sekisho_transport::check::DomainReport;

use crate::Portal;
use crate::lang::Texts;
use crate::listener::Peer;
use crate::page::render;

/// Longest a check may take before the client gets an answer.
const CHECK_TIME: std::time::Duration = std::time::Duration::from_secs(90);

/// One row of the page's table: one address of one MX host.
pub struct HostRow {
    pub host: String,
    pub address: String,
    pub starttls: String,
    pub tls: String,
    pub certificate: String,
    pub assurance: String,
}

/// The checker page.
#[derive(Template)]
#[template(path = "check.html")]
pub struct CheckPage {
    pub t: &'static Texts,
    pub domain: String,
    pub error: Option<String>,
    pub verdict: Option<String>,
    pub assurance: String,
    pub rows: Vec<HostRow>,
    pub mta_sts: String,
    pub tls_rpt: String,
}

/// `?domain=`
#[derive(serde::Deserialize)]
pub struct DomainQuery {
    #[serde(default)]
    domain: String,
}

/// A host name of letters, digits and hyphens in dot-separated labels (an IDN in its ASCII
/// form), at most 253 characters, with at least two labels.
pub fn valid_domain(domain: &str) -> bool {
    let d = domain.trim_end_matches('.');
    d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn rows(report: &DomainReport) -> Vec<HostRow> {
    let mut rows = Vec::new();
    for mx in &report.mx {
        for a in &mx.addresses {
            let (starttls, tls, certificate, assurance) = match (&a.evidence, &a.error) {
                (Some(e), _) => (
                    if e.starttls_offered { "offered" } else { "not offered" }.to_string(),
                    match (&e.version, &e.cipher) {
                        (Some(v), Some(c)) => format!("{v} {c}"),
                        (Some(v), None) => v.clone(),
                        _ => "-".into(),
                    },
                    match &e.certificate {
                        Some(c) => {
                            let valid =
                                if e.pkix_valid { "valid" } else { e.failure.as_deref().unwrap_or("not valid") };
                            format!("{} (issuer {}, until {}): {valid}", c.subject, c.issuer, c.not_after)
                        }
                        None => "-".into(),
                    },
                    e.assurance.as_str().to_string(),
                ),
                (None, Some(err)) => ("-".into(), "-".into(), err.clone(), "unreachable".into()),
                (None, None) => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            rows.push(HostRow {
                host: mx.host.clone(),
                address: format!("{}:{}", a.ip, a.port),
                starttls,
                tls,
                certificate,
                assurance,
            });
        }
    }
    rows
}

impl Portal {
    /// The report for `domain`, or the status and sentence that refuse to make one.
    async fn checked(
        &self,
        peer: SocketAddr,
        headers: &HeaderMap,
        t: &'static Texts,
        domain: &str,
    ) -> Result<DomainReport, (StatusCode, String)> {
        self.may_check(headers, t).await?;
        let domain = domain.trim().to_ascii_lowercase();
        if !valid_domain(&domain) {
            return Err((StatusCode::BAD_REQUEST, t.check_bad_domain.to_string()));
        }
        if !self.inner.check_limiter.allow(peer.ip()) {
            return Err((StatusCode::TOO_MANY_REQUESTS, t.check_too_often.to_string()));
        }
        match tokio::time::timeout(CHECK_TIME, self.inner.checker.check(&domain)).await {
            Ok(report) => Ok(report),
            Err(_) => Err((StatusCode::GATEWAY_TIMEOUT, format!("the check of {domain} took too long"))),
        }
    }
}

impl Portal {
    /// Whether `[portal] checker` lets this request check: 404 when it is off, 403 without a
    /// console session when it is `signed-in`.
    async fn may_check(&self, headers: &HeaderMap, t: &'static Texts) -> Result<(), (StatusCode, String)> {
        match self.inner.config.portal.checker {
            CheckerAccess::Public => Ok(()),
            CheckerAccess::Off => Err((StatusCode::NOT_FOUND, "this portal offers no TLS checker".into())),
            CheckerAccess::SignedIn => match self.console(headers).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err((StatusCode::FORBIDDEN, t.check_sign_in.to_string())),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the console session");
                    Err((StatusCode::SERVICE_UNAVAILABLE, "the portal cannot read its store; try again later".into()))
                }
            },
        }
    }
}

/// `GET /check?domain=`
pub async fn page(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(q): Query<DomainQuery>,
) -> Response {
    let t = portal.texts(&headers);
    let mut page = CheckPage {
        t,
        domain: q.domain.chars().take(253).collect(),
        error: None,
        verdict: None,
        assurance: String::new(),
        rows: Vec::new(),
        mta_sts: String::new(),
        tls_rpt: String::new(),
    };
    if q.domain.is_empty() {
        return match portal.may_check(&headers, t).await {
            Ok(()) => render(StatusCode::OK, &page),
            Err((status, sentence)) => {
                page.error = Some(sentence);
                render(status, &page)
            }
        };
    }
    match portal.checked(peer, &headers, t, &q.domain).await {
        Ok(report) => {
            page.verdict = Some(report.verdict.clone());
            page.assurance = report.assurance.as_str().to_string();
            page.rows = rows(&report);
            page.mta_sts = report.mta_sts_record.clone().unwrap_or_else(|| "-".into());
            page.tls_rpt = report.tls_rpt_record.clone().unwrap_or_else(|| "-".into());
            page.error = report.error.clone();
            render(StatusCode::OK, &page)
        }
        Err((status, sentence)) => {
            page.error = Some(sentence);
            render(status, &page)
        }
    }
}

/// `GET /api/v1/check?domain=`
pub async fn api(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(q): Query<DomainQuery>,
) -> Response {
    match portal.checked(peer, &headers, &crate::lang::EN, &q.domain).await {
        Ok(report) => Json(report).into_response(),
        Err((status, sentence)) => (status, Json(serde_json::json!({ "error": sentence }))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_names_are_checked() {
        for ok in ["example.jp", "mail-1.example.co.jp", "xn--eckwd4c7c.xn--zckzah", "example.jp."] {
            assert!(valid_domain(ok), "{ok}");
        }
        for bad in ["", "localhost", "a..b", "-a.jp", "a-.jp", "ex ample.jp", "<svg>.jp", "a.jp/x", &"a.".repeat(130)] {
            assert!(!valid_domain(bad), "{bad}");
        }
    }
}
