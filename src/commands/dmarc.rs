//! `sekisho dmarc preview DOMAIN [--date D]` and `sekisho dmarc send --now [--date D]`: the
//! DMARC aggregate report (RFC 7489 §7.2) a domain gets for a UTC day about the mail that
//! claimed to come from it, shown or sent now. `serve` sends yesterday's reports daily after
//! `[dmarc] send_at` when `[dmarc] reports`.

use std::sync::Arc;

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_deliver::dmarc_reports::{DmarcReports, ReportError};

use super::tlsrpt::{day, print_outcomes};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum DmarcCommand {
    /// Print the report (XML) a domain would get for a day, from the mail counted so far.
    Preview {
        /// The policy domain (the header From's domain).
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

pub(crate) async fn run(command: DmarcCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, control) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let dns = sekisho_dns::Resolver::new(&config.dns).map_err(|e| Failure::Failed(e.to_string()))?;
    let reports = DmarcReports::new(config.clone(), stores, control, Arc::new(dns), Arc::new(|| {}));
    let failed = |e: ReportError| Failure::Failed(e.to_string());
    match command {
        DmarcCommand::Preview { domain, date } => {
            let day = day(date, 0)?;
            match reports.preview(&domain, &day).await.map_err(failed)? {
                Some(xml) => {
                    outln!("{xml}");
                    Ok(())
                }
                None => Err(Failure::Failed(format!(
                    "no mail claiming {domain} whose DMARC record asks for reports was counted on {day} (UTC)"
                ))),
            }
        }
        DmarcCommand::Send { now: false, .. } => Err(Failure::Usage(
            "`sekisho dmarc send --now` sends the reports now; `serve` sends them daily after [dmarc] send_at".into(),
        )),
        DmarcCommand::Send { now: true, date, json } => {
            let d = &config.dmarc;
            if d.organization(&config.reports).trim().is_empty() || d.contact_address(&config.reports).is_empty() {
                return Err(Failure::Usage(
                    "set [dmarc] org_name and contact (or [reports] organization and contact) first: every report names them"
                        .into(),
                ));
            }
            let day = day(date, -86_400)?;
            let outcomes = reports.send_day(&day, chrono::Utc::now().timestamp()).await.map_err(failed)?;
            print_outcomes(&day, &outcomes, json, "no mail asking for DMARC reports was counted")
        }
    }
}
