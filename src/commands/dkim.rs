//! `sekisho dkim keygen|check|rotate`: DKIM keys for the `[[dkim]]` domains, the TXT records
//! to publish, and whether the published records match the keys.
//!
//! Exit codes: 0 the key was written / every record matches / the new selector may sign;
//! 1 a record is missing or differs, a key is missing or unreadable, or DNS failed;
//! 2 a usage or configuration error.

use std::path::PathBuf;

use clap::Subcommand;
use sekisho_auth::dkim_key::{DkimAlgorithm, RecordMatch, compare_record, generate, read_key, write_key};
use sekisho_config::{Config, DkimConfig, default_dkim_key_path, dns_name_ok};
use sekisho_dns::Dns as _;

use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum DkimCommand {
    /// Make a key for DOMAIN and SELECTOR (mode 0600; an existing file is never overwritten)
    /// and print the TXT record to publish.
    Keygen {
        /// The signing domain (d=).
        domain: String,
        /// The selector (s=), e.g. "rsa2026".
        selector: String,
        /// rsa-sha256 (RSA 2048) or ed25519-sha256.
        #[arg(long, default_value = "rsa-sha256")]
        algorithm: String,
        /// Where to write the key (default: the [[dkim]] table's `keys` entry, else
        /// <store.path>/dkim/DOMAIN/SELECTOR.key).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Look up the record of each selector of DOMAIN's [[dkim]] table and say whether it
    /// matches the key.
    Check {
        /// The signing domain of a [[dkim]] table.
        domain: String,
        /// Only this selector (default: every selector of the table).
        #[arg(long)]
        selector: Option<String>,
    },
    /// Switch DOMAIN to a new selector: checks that its key exists and its record is
    /// published and matches, then prints the steps.
    Rotate {
        /// The signing domain of a [[dkim]] table.
        domain: String,
        /// The new selector (made with `sekisho dkim keygen DOMAIN NEW`).
        new: String,
    },
}

pub(crate) async fn run(command: DkimCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    match command {
        DkimCommand::Keygen { domain, selector, algorithm, out } => keygen(config, &domain, &selector, &algorithm, out),
        DkimCommand::Check { domain, selector } => {
            let table = table(config, source, &domain)?;
            let selectors: Vec<String> = match selector {
                Some(s) => vec![s],
                None => table.selectors.clone(),
            };
            let mut all = true;
            for s in &selectors {
                let (ok, line) = check_one(config, table, s).await?;
                outln!("{line}");
                all &= ok;
            }
            if all { Ok(()) } else { Err(Failure::Failed(format!("the DKIM records of {domain} do not all match"))) }
        }
        DkimCommand::Rotate { domain, new } => rotate(config, source, &domain, &new).await,
    }
}

/// The `[[dkim]]` table of `domain`, or a usage error naming the configuration.
fn table<'c>(config: &'c Config, source: &ConfigSource, domain: &str) -> Result<&'c DkimConfig, Failure> {
    config.dkim.iter().find(|d| d.domain.eq_ignore_ascii_case(domain)).ok_or_else(|| {
        Failure::Usage(format!("{source} has no [[dkim]] table for {domain}; add one with domain = \"{domain}\""))
    })
}

fn key_path(config: &Config, domain: &str, selector: &str) -> PathBuf {
    match config.dkim.iter().find(|d| d.domain.eq_ignore_ascii_case(domain)) {
        Some(table) => table.key_path(&config.store.path, selector),
        None => default_dkim_key_path(&config.store.path, domain, selector),
    }
}

fn keygen(config: &Config, domain: &str, selector: &str, algorithm: &str, out: Option<PathBuf>) -> Result<(), Failure> {
    let usage = Failure::Usage;
    let algorithm = DkimAlgorithm::parse(algorithm)
        .ok_or_else(|| usage(format!("--algorithm {algorithm}: use rsa-sha256 or ed25519-sha256")))?;
    if !dns_name_ok(domain) {
        return Err(usage(format!("`{domain}` is not a domain name")));
    }
    if !dns_name_ok(selector) {
        return Err(usage(format!("`{selector}` is not a selector (letters, digits, `-`, `_`, dots)")));
    }
    let path = out.unwrap_or_else(|| key_path(config, domain, selector));
    let new = generate(algorithm).map_err(|e| Failure::Failed(e.to_string()))?;
    write_key(&path, &new.pem).map_err(|e| Failure::Failed(e.to_string()))?;
    outln!("{}: new {algorithm} key for d={domain} s={selector} (mode 0600)", path.display());
    outln!("Publish this TXT record, then run `sekisho dkim check {domain}`:");
    outln!("{}", zone_line(&record_name(domain, selector), &new.key.record()));
    Ok(())
}

/// `SELECTOR._domainkey.DOMAIN`.
fn record_name(domain: &str, selector: &str) -> String {
    format!("{selector}._domainkey.{}", domain.to_ascii_lowercase())
}

/// The record as a zone-file line, its text in strings of at most 255 bytes (RFC 1035
/// §3.3.14): they are joined into one value by every resolver.
fn zone_line(name: &str, value: &str) -> String {
    let strings: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", std::str::from_utf8(c).expect("ASCII record")))
        .collect();
    format!("{name}. IN TXT {}", strings.join(" "))
}

/// Whether the record of `selector` matches its key, and the line that says so.
async fn check_one(config: &Config, table: &DkimConfig, selector: &str) -> Result<(bool, String), Failure> {
    let name = record_name(&table.domain, selector);
    let path = table.key_path(&config.store.path, selector);
    let key = match read_key(&path) {
        Ok(key) => key,
        Err(e) => return Ok((false, format!("{name}: no usable key: {e}"))),
    };
    let dns = sekisho_dns::Resolver::new(&config.dns).map_err(|e| Failure::Failed(e.to_string()))?;
    let records = match dns.txt(&name).await {
        Ok(r) => r,
        Err(e) if e.is_temporary() => return Ok((false, format!("{name}: DNS failed: {e}"))),
        Err(_) => Vec::new(),
    };
    let dkim: Vec<&String> = records.iter().filter(|r| r.contains("p=")).collect();
    let (ok, verdict) = match dkim.as_slice() {
        [] => (false, "not published: publish the record `sekisho dkim keygen` printed".to_string()),
        [one] => match compare_record(one, &key) {
            RecordMatch::Matches => (true, format!("published and matches the key ({})", key.algorithm)),
            RecordMatch::Revoked => (false, "published as revoked (empty p=)".into()),
            RecordMatch::Differs(why) => (false, format!("does not match the key: {why}")),
            RecordMatch::Unreadable(why) => (false, format!("not a DKIM key record: {why}")),
        },
        _ => (false, format!("{} DKIM records are published; a selector takes one", dkim.len())),
    };
    Ok((ok, format!("{name}: {verdict}")))
}

async fn rotate(config: &Config, source: &ConfigSource, domain: &str, new: &str) -> Result<(), Failure> {
    let table = table(config, source, domain)?;
    if !dns_name_ok(new) {
        return Err(Failure::Usage(format!("`{new}` is not a selector (letters, digits, `-`, `_`, dots)")));
    }
    let path = table.key_path(&config.store.path, new);
    outln!("Rotating d={} to s={new}:", table.domain);
    outln!("1. make the key:      sekisho dkim keygen {domain} {new} [--algorithm ...]   ({})", path.display());
    outln!("2. publish its TXT record and wait for the zone's TTL");
    outln!("3. this check:        sekisho dkim rotate {domain} {new}");
    let (ok, line) = check_one(config, table, new).await?;
    outln!("   {line}");
    if !ok {
        return Err(Failure::Failed(format!("s={new} is not ready to sign for {domain}: finish steps 1-2 first")));
    }
    let old: Vec<&String> = table.selectors.iter().filter(|s| *s != new).collect();
    outln!("4. in the [[dkim]] table of {domain} ({source}), replace the old selector by {new} in `selectors`");
    outln!("   (now: {:?}), and restart sekisho: from then on s={new} signs", table.selectors);
    outln!("5. keep the old record published for 7 days (queued mail and retries carry its signatures),");
    for s in old {
        outln!(
            "   then publish `{}. IN TXT \"v=DKIM1; p=\"` (revoked) and delete its key file",
            record_name(domain, s)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_record_is_cut_into_strings_of_255_bytes() {
        let value = "v=DKIM1; k=rsa; p=".to_string() + &"A".repeat(400);
        let line = zone_line("s._domainkey.example.jp", &value);
        let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert_eq!(strings.len(), 2);
        assert_eq!(strings[0].len(), 255);
        assert_eq!(strings.concat(), value);
        assert!(line.starts_with("s._domainkey.example.jp. IN TXT \"v=DKIM1;"));
    }
}
