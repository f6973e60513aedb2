//! `sekisho check DOMAIN... [--file F] [--json|--csv]`: what delivery would do with mail to
//! each domain — its route, the TLS each host offers, measured with the delivery code, and
//! whether attachments would travel inline. Exit 1 when a domain's would not.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use sekisho_config::Config;
use sekisho_deliver::check::{CheckService, DomainReport, MxReport, Outcome};

use super::print_json;
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Args)]
pub(crate) struct CheckArgs {
    /// Domains to check.
    domains: Vec<String>,
    /// A file with one domain per line (blank lines and # comments ignored).
    #[arg(long)]
    file: Option<PathBuf>,
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    #[arg(long)]
    csv: bool,
    /// Answer from the TLS evidence of recent delivery sessions (the probe cache) where there
    /// is some, connecting only to hosts without it.
    #[arg(long)]
    cached: bool,
    /// Domains checked at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
}

pub(crate) async fn run(args: CheckArgs, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let mut domains = args.domains.clone();
    if let Some(file) = &args.file {
        let text = std::fs::read_to_string(file).map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
        domains
            .extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
    }
    if domains.is_empty() {
        return Err(Failure::Usage("name at least one domain, or --file".into()));
    }
    let cache = if args.cached {
        Some(super::open_store(config, source, super::DataDir::MustExist).await?.0.tls)
    } else {
        None
    };
    let shared = Arc::new(CheckService::new(config, cache).map_err(|e| Failure::Usage(e.to_string()))?);
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, domain) in domains.iter().enumerate() {
        let (shared, slots, domain) = (shared.clone(), slots.clone(), domain.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire().await.expect("semaphore open");
            (i, shared.check(&domain).await)
        });
    }
    let total = domains.len();
    let progress = total > 1 && std::io::stderr().is_terminal();
    let mut reports: Vec<Option<DomainReport>> = vec![None; total];
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, report) = joined.map_err(|e| Failure::Failed(e.to_string()))?;
        reports[i] = Some(report);
        done += 1;
        if progress {
            eprint!("\rchecked {done}/{total}");
        }
    }
    if progress {
        eprintln!();
    }
    let reports: Vec<DomainReport> = reports.into_iter().flatten().collect();
    if args.json {
        print_json(&reports)?;
    } else if args.csv {
        print_csv(&reports);
    } else {
        for r in &reports {
            print_text(r);
        }
    }
    let not_inline = reports.iter().filter(|r| r.outcome != Outcome::Inline).count();
    if not_inline > 0 {
        return Err(Failure::Failed(format!(
            "{not_inline} of {} domain(s) would not get attachments inline",
            reports.len()
        )));
    }
    Ok(())
}

fn print_text(r: &DomainReport) {
    outln!("{}: {} ({})", r.domain, r.outcome.as_str(), r.assurance.as_str());
    outln!("  {}", r.verdict);
    for w in &r.warnings {
        outln!("  WARNING: {w}");
    }
    if let Some(route) = &r.route {
        outln!("  route: {route}");
        print_hosts(&r.hop, true);
    }
    print_hosts(&r.mx, false);
    if let Some(t) = &r.mta_sts_record {
        outln!("  MTA-STS record: {t}");
    }
    let sts = &r.mta_sts;
    if let (Some(id), Some(mode)) = (&sts.policy_id, sts.mode) {
        outln!("  MTA-STS policy {id}: mode {}, mx {}", mode.as_str(), sts.mx.join(" "));
    }
    if let (Some(f), Some(d)) = (&sts.failure, &sts.detail) {
        outln!("  MTA-STS: {f}: {d}");
    }
    if let Some(t) = &r.tls_rpt_record {
        outln!("  TLS-RPT record: {t}");
    }
}

/// The hosts of the route (`route`) or the domain's MX hosts, one line per address.
fn print_hosts(hosts: &[MxReport], route: bool) {
    for m in hosts {
        let pref = match m.preference {
            Some(p) => format!("MX {p}"),
            None if route => "host".to_string(),
            None => "implicit".to_string(),
        };
        if let Some(b) = &m.blocked {
            outln!("  {pref} {}: NOT USED: {b}", m.host);
        }
        for a in &m.addresses {
            match (&a.evidence, &a.error) {
                (Some(e), _) => {
                    let tls = match (&e.version, &e.cipher) {
                        (Some(v), Some(c)) => format!("{v} {c}"),
                        _ => if e.starttls_offered { "STARTTLS failed" } else { "no STARTTLS" }.to_string(),
                    };
                    let why = e.failure.as_deref().map(|f| format!(" ({f})")).unwrap_or_default();
                    let sts = match m.mta_sts_match {
                        Some(true) => ", named by the MTA-STS policy",
                        Some(false) => ", NOT named by the MTA-STS policy",
                        None => "",
                    };
                    let age = a.cached_at.map_or(String::new(), |at| {
                        let minutes = (chrono::Utc::now().timestamp() - at).max(0) / 60;
                        format!(" (a delivery session {minutes} min ago)")
                    });
                    outln!("  {pref} {} [{}]:{} {tls}: {}{why}{sts}{age}", m.host, a.ip, a.port, e.assurance.as_str());
                    if let Some(c) = &e.certificate {
                        outln!(
                            "      certificate {} issued by {}, names {}, expires {}, SPKI SHA-256 {}",
                            c.subject,
                            c.issuer,
                            c.san.join(" "),
                            c.not_after,
                            c.spki_sha256
                        );
                    }
                }
                (None, Some(err)) => outln!("  {pref} {} [{}]:{} unreachable: {err}", m.host, a.ip, a.port),
                (None, None) => {}
            }
        }
    }
}

fn print_csv(reports: &[DomainReport]) {
    outln!(
        "domain,outcome,domain_assurance,role,host,preference,ip,port,starttls,version,cipher,assurance,failure,error,\
         blocked,verdict"
    );
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for r in reports {
        let head = format!("{},{},{}", q(&r.domain), r.outcome.as_str(), r.assurance.as_str());
        if r.mx.is_empty() && r.hop.is_empty() {
            outln!("{head},,,,,,,,,,,,{},,{}", q(r.error.as_deref().unwrap_or("")), q(&r.verdict));
        }
        let hosts = r.hop.iter().map(|m| ("route", m)).chain(r.mx.iter().map(|m| ("mx", m)));
        for (role, m) in hosts {
            let blocked = q(m.blocked.as_deref().unwrap_or(""));
            let pref = m.preference.map_or(String::new(), |p| p.to_string());
            if m.addresses.is_empty() {
                outln!("{head},{role},{},{pref},,,,,,none,,,{blocked},{}", q(&m.host), q(&r.verdict));
            }
            for a in &m.addresses {
                let e = a.evidence.as_ref();
                outln!(
                    "{head},{role},{},{pref},{},{},{},{},{},{},{},{},{blocked},{}",
                    q(&m.host),
                    a.ip,
                    a.port,
                    e.is_some_and(|e| e.starttls_offered),
                    e.and_then(|e| e.version.clone()).unwrap_or_default(),
                    e.and_then(|e| e.cipher.clone()).unwrap_or_default(),
                    e.map_or("none", |e| e.assurance.as_str()),
                    e.and_then(|e| e.failure.clone()).unwrap_or_default(),
                    q(a.error.as_deref().unwrap_or("")),
                    q(&r.verdict)
                );
            }
        }
    }
}
