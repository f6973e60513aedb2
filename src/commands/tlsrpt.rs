//! `sekisho tlsrpt preview DOMAIN [--date D]` and `sekisho tlsrpt send --now [--date D]`: the
//! SMTP TLS report (RFC 8460) a recipient domain gets for a UTC day, shown or sent now.
//! `serve` sends yesterday's reports daily after `[tlsrpt] send_at` when `[tlsrpt] send`.

use std::sync::Arc;

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_deliver::tls_reports::{Outcome, TlsReports};

use super::print_json;
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum TlsRptCommand {
    /// Print the report (JSON) a domain would get for a day, from the sessions counted so far.
    Preview {
        /// The recipient domain.
        domain: String,
        /// The UTC day, YYYY-MM-DD (default: today, so far).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
    },
    /// Send a day's reports now to every domain that asks for them and did not get them yet.
    Send {
        /// Send now (required: the daily sending is `serve`'s).
        #[arg(long)]
        now: bool,
        /// The UTC day, YYYY-MM-DD (default: yesterday).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// The UTC day `--date` names, or today plus `default_offset` seconds.
pub(super) fn day(given: Option<String>, default_offset: i64) -> Result<String, Failure> {
    match given {
        Some(d) if chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").is_ok() => Ok(d),
        Some(d) => Err(Failure::Usage(format!("--date `{d}` is not a day such as 2026-12-03"))),
        None => Ok(sekisho_deliver::session_counts::utc_day(chrono::Utc::now().timestamp() + default_offset)),
    }
}

pub(crate) async fn run(command: TlsRptCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, control) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let dns = sekisho_dns::Resolver::new(&config.dns).map_err(|e| Failure::Failed(e.to_string()))?;
    let reports = TlsReports::new(config.clone(), stores, control, Arc::new(dns), Arc::new(|| {}))
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let failed = |e: sekisho_deliver::tls_reports::ReportError| Failure::Failed(e.to_string());
    match command {
        TlsRptCommand::Preview { domain, date } => {
            let day = day(date, 0)?;
            match reports.preview(&domain, &day).await.map_err(failed)? {
                Some(json) => {
                    outln!("{json}");
                    Ok(())
                }
                None => Err(Failure::Failed(format!("no session with {domain} was counted on {day} (UTC)"))),
            }
        }
        TlsRptCommand::Send { now: false, .. } => Err(Failure::Usage(
            "`sekisho tlsrpt send --now` sends the reports now; `serve` sends them daily after [tlsrpt] send_at".into(),
        )),
        TlsRptCommand::Send { now: true, date, json } => {
            if config.reports.organization.trim().is_empty() || config.reports.contact.trim().is_empty() {
                return Err(Failure::Usage(
                    "set [reports] organization and contact first: every report names them".into(),
                ));
            }
            let day = day(date, -86_400)?;
            let outcomes = reports.send_day(&day, chrono::Utc::now().timestamp()).await.map_err(failed)?;
            print_outcomes(&day, &outcomes, json, "no session was counted")
        }
    }
}

/// What a `send --now` did, domain by domain (`--json`: one object); `nothing` starts the line
/// printed when there was nothing to report.
pub(super) fn print_outcomes(
    day: &str,
    outcomes: &[(String, Outcome)],
    json: bool,
    nothing: &str,
) -> Result<(), Failure> {
    if json {
        let rows: Vec<serde_json::Value> = outcomes.iter().map(|(d, o)| as_json(d, o)).collect();
        return print_json(&serde_json::json!({ "day": day, "domains": rows }));
    }
    if outcomes.is_empty() {
        outln!("{nothing} on {day} (UTC): no report to send");
    }
    for (domain, outcome) in outcomes {
        match outcome {
            Outcome::Sent(sent) => {
                for s in sent {
                    outln!("{domain}: {} — {}", s.destination, sekisho_policy::text::visible(&s.status));
                }
            }
            Outcome::NotWanted(why) => {
                outln!("{domain}: not sent — {}", sekisho_policy::text::visible(why))
            }
            Outcome::AlreadySent => outln!("{domain}: sent before"),
        }
    }
    Ok(())
}

fn as_json(domain: &str, outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Sent(sent) => serde_json::json!({
            "domain": domain,
            "sent": sent.iter().map(|s| serde_json::json!({
                "destination": s.destination, "report_id": s.report_id, "status": s.status,
            })).collect::<Vec<_>>(),
        }),
        Outcome::NotWanted(why) => serde_json::json!({ "domain": domain, "not_wanted": why }),
        Outcome::AlreadySent => serde_json::json!({ "domain": domain, "already_sent": true }),
    }
}
