//! `sekisho partners [--days N] [--json]`: per recipient domain, from the delivery evidence kept
//! with every attempt, how much mail went inline and how much as links, why, since when and
//! whether it improved (`sekisho_partners`). `sekisho partners explain DOMAIN [--lang ja|en]`:
//! the text an administrator can send to that partner's postmaster (never sent by sekisho).

use clap::{Args, Subcommand};
use sekisho_config::Config;
use sekisho_partners::{Lang, Partner};

use super::{format_time, print_json};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Args)]
pub(crate) struct PartnersArgs {
    #[command(subcommand)]
    command: Option<PartnersCommand>,
    /// The last N days of delivery attempts.
    #[arg(long, default_value_t = 30, global = true)]
    days: u32,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PartnersCommand {
    /// The text for DOMAIN's postmaster: what is missing, how to fix it, how to check it.
    Explain {
        domain: String,
        /// "ja" or "en".
        #[arg(long, default_value = "en")]
        lang: String,
    },
}

pub(crate) async fn run(args: PartnersArgs, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, _) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let now = chrono::Utc::now().timestamp();
    let span = i64::from(args.days.max(1)) * 86_400;
    let (since, middle) = (now - span, now - span / 2);
    let rows = stores.tls.partner_evidence(since, middle).await.map_err(|e| Failure::Failed(e.to_string()))?;
    let partners = sekisho_partners::partners(&rows, &config.local_domains);
    match args.command {
        Some(PartnersCommand::Explain { domain, lang }) => explain(config, &partners, &domain, &lang, args.days),
        None if args.json => print_json(&serde_json::json!({ "days": args.days, "partners": partners })),
        None => {
            print(config, &partners, args.days);
            Ok(())
        }
    }
}

fn print(config: &Config, partners: &[Partner], days: u32) {
    if partners.is_empty() {
        outln!("every partner's mail in the last {days} day(s) met the policy (or none was sent)");
        return;
    }
    let at = |t| format_time(&config.time_zone, t);
    for p in partners {
        outln!(
            "{}: {} attempts: {} inline, {} as links, {} without files, {} held back; since {}; {} \
             (first half {}/{} short, second half {}/{})",
            p.domain,
            p.attempts,
            p.inline,
            p.links,
            p.without_files,
            p.held_back,
            at(p.since),
            p.trend.as_str(),
            p.first_half.short,
            p.first_half.attempts,
            p.second_half.short,
            p.second_half.attempts
        );
        for r in &p.reasons {
            outln!(
                "    {} ({}): {} attempts, {} links, {} .. {}",
                r.reason.keyword(),
                r.reason.words(),
                r.attempts,
                r.links,
                at(r.first_at),
                at(r.last_at)
            );
        }
    }
}

fn explain(config: &Config, partners: &[Partner], domain: &str, lang: &str, days: u32) -> Result<(), Failure> {
    let lang = Lang::parse(lang).ok_or_else(|| Failure::Usage(format!("--lang {lang}: give \"ja\" or \"en\"")))?;
    let Some(p) = partners.iter().find(|p| p.domain.eq_ignore_ascii_case(domain)) else {
        return Err(Failure::Failed(format!(
            "no mail to {domain} fell short of the policy in the last {days} day(s): nothing to explain"
        )));
    };
    outln!("{}", sekisho_partners::explain_as(p, lang, config));
    Ok(())
}
