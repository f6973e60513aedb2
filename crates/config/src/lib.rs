//! sekisho's configuration: one TOML file that states only what differs from the defaults.
//!
//! Unknown keys and bad values are errors that name the key and the line. Without a file,
//! sekisho runs on the embedded default (`DEFAULT_TOML`).

mod antivirus;
mod attachments;
mod authentication;
mod console;
mod digest_time;
mod dkim;
mod dmarc_reports;
mod duration;
mod error;
mod findings;
mod inbound;
mod ldap;
mod objects;
mod oidc;
mod portal;
mod recipients;
mod reports;
mod reputation;
mod route;
mod rules;
mod senders;
mod size;
mod smime;
mod static_records;
mod time_zone;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

pub use antivirus::AntivirusConfig;
pub use attachments::{AttachmentPolicy, AttachmentRule, domain_matches};
pub use authentication::{ArcSealConfig, AuthenticationConfig, DmarcMode};
pub use console::{ConsoleConfig, ConsoleLdap, SignInMethod};
pub use digest_time::DigestTime;
pub use dkim::{DkimConfig, default_key_path as default_dkim_key_path, dns_name_ok};
pub use dmarc_reports::{DmarcReportsConfig, ReportPeriod};
pub use duration::Duration;
pub use error::{ConfigError, InvalidValue};
pub use findings::{FindingsConfig, UnusualCountry};
pub use inbound::{InboundConfig, InboundRule};
pub use ldap::LdapConfig;
pub use objects::ObjectsConfig;
pub use oidc::{ConsoleOidc, loopback_host, url_host};
pub use portal::{Passphrase, PortalConfig};
pub use recipients::{RecipientRule, RecipientsConfig};
pub use reports::{ReportsConfig, TlsRptConfig};
pub use reputation::{CodePattern, DnsList, DnsLists, ListSyntaxError, ReputationConfig};
pub use route::NextHop;
pub use rules::{
    Actions as RuleActions, ApprovalNeeded, Checked as RuleChecked, DEFAULT_APPROVAL_TIMEOUT, Decision as RuleDecision,
    FileFacts, Match as RuleMatch, OnTimeout, RecipientClass, Rejection as RuleRejection, RequireApproval, Rule,
    RulesConfig, Submission, evaluate as evaluate_rules, fold as fold_keyword,
};
pub use sekisho_antivirus::{ClamdAddress, ClamdSettings};
pub use sekisho_policy::{
    Access, Assurance, CheckerAccess, DowngradeAction, EncryptedPolicy, InlineFormat, InlineMin, Language,
    PasswordDelivery, ProxyHeader, SmartHostAttachments, UninspectablePolicy,
};
pub use senders::SendersConfig;
pub use size::Size;
pub use smime::{SmimeConfig, SmimeSigner, default_smime_paths, pattern_ok as smime_pattern_ok};
pub use static_records::{StaticRecord, decode_hex, normalize_host};
pub use time_zone::TimeZone;

/// The embedded default configuration, also shipped as `sekisho.default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../../sekisho.default.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Name of this gateway in greetings, Received fields and Message-IDs.
    pub hostname: String,
    /// Domains the MX listeners accept mail for.
    pub local_domains: Vec<String>,
    /// The zone times are written in for people (notices, portal, console, commands): an IANA
    /// name; unset, the system's zone.
    pub time_zone: TimeZone,
    /// Where queue, spool and keys live.
    pub store: StoreConfig,
    /// Certificate for STARTTLS.
    pub tls: TlsConfig,
    /// SMTP server limits and policies.
    pub smtp: SmtpConfig,
    /// Logging.
    pub log: LogConfig,
    /// Name resolution.
    pub dns: DnsConfig,
    /// Outbound delivery.
    pub delivery: DeliveryConfig,
    /// Transport map: recipient domain to next hop, e.g. "example.com" = "[10.1.2.3]:25".
    pub routes: BTreeMap<String, String>,
    /// Outbound policy.
    pub outbound: OutboundConfig,
    /// MTA-STS (RFC 8461) policy discovery for outbound mail.
    pub mta_sts: MtaStsConfig,
    /// The daily SMTP TLS reports (RFC 8460) to recipient domains.
    pub tlsrpt: TlsRptConfig,
    /// Who sekisho says it is in the reports it sends.
    pub reports: ReportsConfig,
    /// The daily DMARC aggregate reports (RFC 7489) to the domains mail claimed to come from.
    pub dmarc: DmarcReportsConfig,
    /// How people sign in to the sender console.
    pub console: ConsoleConfig,
    /// Inbound protection: what is done with mail for the local domains, by its files.
    pub inbound: InboundConfig,
    /// Recipient verification at RCPT for the local domains.
    pub recipients: RecipientsConfig,
    /// Which senders submission clients may use.
    pub senders: SendersConfig,
    /// SPF, DKIM, DMARC and ARC for inbound mail.
    pub authentication: AuthenticationConfig,
    /// What inbound mail's recipients are told about its sender.
    pub findings: FindingsConfig,
    /// DNS blocklists: the client's address and the message's domains.
    pub reputation: ReputationConfig,
    /// The directory asked for recipients and account addresses.
    pub ldap: LdapConfig,
    /// The download portal.
    pub portal: PortalConfig,
    /// Inbound antivirus: the clamd every inbound attachment and archive entry is sent to.
    pub antivirus: AntivirusConfig,
    /// Mis-send rules applied to submitted mail.
    pub rules: RulesConfig,
    /// DKIM signing of outbound mail, one table per signing domain.
    pub dkim: Vec<DkimConfig>,
    /// The administrators' listener: metrics and health checks.
    pub admin: AdminConfig,
    /// S/MIME: signing outbound mail (`[[smime.sign]]`) and the roots inbound signatures are
    /// verified against.
    pub smime: SmimeConfig,
    /// Listening sockets.
    #[serde(rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    /// The file and text this configuration was read from, for errors found after loading.
    #[serde(skip)]
    source: Option<std::sync::Arc<(PathBuf, String)>>,
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Data directory.
    pub path: PathBuf,
    /// Below this many free bytes on the spool's file system, MAIL gets 452 4.3.1.
    pub min_free_space: u64,
    /// Most messages committed in one database transaction (group commit).
    pub group_commit_max: usize,
    /// Make each batch of accepted messages durable with one syncfs(2) of the spool's file
    /// system instead of one fsync per message. Faster on a file system of its own.
    pub group_sync: bool,
    /// How long finished messages (with their attempt history), expired links' records and
    /// the portal's audit log are kept; `serve` purges older ones hourly. "0": kept forever.
    pub retention: Duration,
    /// The store key: a file of 32 random bytes, kept outside the data directory, that wraps
    /// every kept file's key. Unset: `$SEKISHO_STORE_KEY`, else the systemd credential
    /// `$CREDENTIALS_DIRECTORY/sekisho-store-key`, else [`StoreConfig::default_key_file`]
    /// (created at first start).
    pub key_file: Option<PathBuf>,
    /// Where the queue's state lives: `sqlite` (in the data directory) or `postgres` (at `url`).
    pub backend: StoreBackend,
    /// The PostgreSQL database, `postgres://user:password@host:port/database`; only with
    /// `backend = "postgres"`.
    pub url: Option<String>,
    /// With `backend = "postgres"`: how long a node's claim on a recipient lasts unless
    /// renewed, by the database's clock. A delivering node renews its claims every third of
    /// it; another node takes over a claim left to lapse (its node died or lost the
    /// database). Unused on SQLite (one node, whose claims last until it restarts).
    pub lease: Duration,
    /// `[store.objects]`: with `backend = "postgres"`, message bodies and sealed files in
    /// S3-compatible object storage instead of the database. Unset: in the database.
    pub objects: Option<ObjectsConfig>,
}

/// A database URL as it may be shown in an error or a log: any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `[store] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// SQLite in the data directory (the embedded default).
    #[default]
    Sqlite,
    /// A PostgreSQL server (`[store] url`).
    Postgres,
}

impl StoreConfig {
    /// Where the store key is kept when no key is configured: beside the data directory,
    /// named after it (`./sekisho-data` → `./sekisho-data.key`). `None` when the data
    /// directory's path has no last component (`/`, `..`).
    pub fn default_key_file(&self) -> Option<PathBuf> {
        let name = self.path.file_name()?;
        let mut key = name.to_os_string();
        key.push(".key");
        Some(self.path.with_file_name(key))
    }
}

/// `[tls]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain; unset: a self-signed certificate under `<store.path>/tls/`.
    pub certificate: Option<PathBuf>,
    /// PEM private key matching `certificate`.
    pub key: Option<PathBuf>,
    /// PEM files of further trusted root certificates for validating next hops (besides the
    /// WebPKI roots).
    pub extra_roots: Vec<PathBuf>,
}

/// What to do with bare CR or LF in message content.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BareLineEndings {
    /// 550 5.6.2.
    Reject,
    /// Convert to CRLF.
    Normalize,
}

/// `[smtp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub max_command_line: usize,
    pub max_text_line: usize,
    pub max_header_size: usize,
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub max_junk_commands: u32,
    pub max_errors: u32,
    pub max_auth_failures: u32,
    pub auth_failure_delay: Duration,
    pub client_auth_failure_limit: u32,
    pub client_auth_failure_window: Duration,
    pub bare_line_endings: BareLineEndings,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub min_data_rate: u64,
    /// Open connections per listener, for listeners that set no `max_connections` of their own.
    pub max_connections: usize,
    /// Open connections per client address on one listener (trusted networks exempt), for
    /// listeners that set no `max_connections_per_client` of their own.
    pub max_connections_per_client: usize,
    /// Time to send a command before MAIL while the listener is under stress (Postfix's
    /// stress-dependent `smtpd_timeout`); `command_timeout` if that is shorter.
    pub stress_command_timeout: Duration,
    /// A listener with more open connections than this percentage of its `max_connections` is
    /// under stress (1 to 100; 100: never).
    pub stress_threshold: u8,
}

/// `[dns]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Name servers as "IP:port"; empty: the system resolver (/etc/resolv.conf).
    pub servers: Vec<SocketAddr>,
    /// Time for one query.
    pub timeout: Duration,
    /// Records that override DNS: name to a list of "TYPE DATA" strings. Static MX and TLSA
    /// records count as DNSSEC-secure: they are the administrator's own assertion.
    #[serde(rename = "static")]
    pub static_records: BTreeMap<String, Vec<String>>,
    /// DNSSEC trust anchors for the lookups DANE (RFC 7672) needs (MX and TLSA): a file of DNSKEY
    /// records in zone-file presentation format, one a line, e.g.
    /// `. 3600 IN DNSKEY 257 3 13 <base64 public key>` (the TTL and class may be left out; `;`
    /// starts a comment). Keys owned by "." anchor the root; keys owned by another name anchor
    /// that zone. DS records are not accepted. Unset: the IANA root keys built into the resolver.
    pub trust_anchor: Option<PathBuf>,
    /// Validate DNSSEC for the DANE lookups (MX and TLSA). Only those lookups validate; the MX,
    /// address and TXT lookups of ordinary delivery never do, signed zone or not. `false` is for
    /// resolvers that strip DNSSEC records: every DANE lookup then counts as insecure, so DANE
    /// never applies (except to `[dns.static]` TLSA records).
    pub dnssec: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            timeout: Duration::from_secs(5),
            static_records: BTreeMap::new(),
            trust_anchor: None,
            dnssec: true,
        }
    }
}

impl DnsConfig {
    /// The static records, parsed (validated at load, so this cannot fail on a loaded config).
    pub fn parsed_static(&self) -> BTreeMap<String, Vec<StaticRecord>> {
        self.static_records
            .iter()
            .map(|(name, list)| {
                (normalize_host(name), list.iter().filter_map(|r| StaticRecord::parse(r).ok()).collect())
            })
            .collect()
    }
}

/// `[delivery]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Port used for every MX (25; tests and demos point it elsewhere).
    pub port: u16,
    /// Name sent in EHLO; unset: `hostname`.
    pub helo_name: Option<String>,
    /// Send all outbound mail through this host ("[host]:port" or "host").
    pub relay_host: Option<String>,
    /// AUTH user for `relay_host` (only over TLS).
    pub relay_user: Option<String>,
    /// AUTH password for `relay_host`.
    pub relay_password: Option<String>,
    /// Where mail accepted on an MX listener goes (the internal mail server).
    pub next_hop: Option<String>,
    /// Outbound SMTP connections in total.
    pub max_connections: usize,
    /// Outbound SMTP connections per destination.
    pub max_connections_per_destination: usize,
    /// Messages sent over one connection before it is closed.
    pub max_messages_per_connection: usize,
    /// How long a delivery waits for a connection slot of a busy destination before its
    /// recipients go back to the queue (so other destinations are not held up).
    pub destination_wait: Duration,
    /// How long an idle connection is kept for the next message to the same destination.
    pub connection_reuse_time: Duration,
    /// Waits between attempts; the last one repeats.
    pub retry_schedule: Vec<Duration>,
    /// Age after which a message still undelivered is bounced.
    pub max_lifetime: Duration,
    /// Age at which the sender is told once that the message is delayed; "0" never.
    pub delay_warning: Duration,
    /// How often the queue is scanned for due recipients.
    pub scan_interval: Duration,
    pub connect_timeout: Duration,
    /// RFC 5321 §4.5.3.2 timeouts.
    pub greeting_timeout: Duration,
    pub mail_timeout: Duration,
    pub rcpt_timeout: Duration,
    pub data_timeout: Duration,
    pub block_timeout: Duration,
    pub done_timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            port: 25,
            helo_name: None,
            relay_host: None,
            relay_user: None,
            relay_password: None,
            next_hop: None,
            max_connections: 50,
            max_connections_per_destination: 10,
            max_messages_per_connection: 100,
            destination_wait: Duration::from_secs(10),
            connection_reuse_time: Duration::from_secs(5),
            retry_schedule: ["5m", "10m", "30m", "1h", "2h", "4h"].iter().filter_map(|d| Duration::parse(d)).collect(),
            max_lifetime: Duration::from_secs(5 * 86_400),
            delay_warning: Duration::from_secs(4 * 3600),
            scan_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(30),
            greeting_timeout: Duration::from_secs(300),
            mail_timeout: Duration::from_secs(300),
            rcpt_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(120),
            block_timeout: Duration::from_secs(180),
            done_timeout: Duration::from_secs(600),
        }
    }
}

/// `[outbound]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Least TLS assurance a delivery session must reach for any destination.
    pub tls_require: Assurance,
    /// Per-destination rules, `[[outbound.tls]]`.
    pub tls: Vec<OutboundTlsRule>,
    /// How recent a TLS session to a domain must be for a plaintext one to look like a
    /// downgrade.
    pub downgrade_window: Duration,
    /// How many TLS sessions to a domain make a plaintext one look like a downgrade.
    pub downgrade_min_sessions: u32,
    /// `"record"`: flag and log a suspected downgrade, deliver; `"defer"`: keep the mail.
    pub downgrade_action: DowngradeAction,
    /// Submitted mail with a password-protected or encrypted attachment (nested ones too):
    /// `"reject"` (550 5.7.1, the sender is told to send it unencrypted), `"link"` (accepted,
    /// and its attachments always go as download links, whatever the TLS) or `"allow"`.
    pub encrypted_attachments: EncryptedPolicy,
    /// Submitted mail with an attachment that cannot be inspected (a zip bomb, nesting too
    /// deep, a corrupt archive): `"reject"` (550 5.7.1) or `"allow"`.
    pub uninspectable_attachments: UninspectablePolicy,
    /// How long the TLS evidence of a delivery session stays in the probe cache, where
    /// `sekisho check --cached` (and planning) read it without connecting; "0" disables it.
    pub probe_cache_ttl: Duration,
    /// Least TLS assurance of the delivery session at which a recipient gets the attachments
    /// inline; below it (or when a downgrade is suspected) the recipient gets a download link.
    /// `"never"`: always a link.
    pub attachments_inline_min: InlineMin,
    /// The same for recipients in `local_domains` (colleagues, routed to the internal server):
    /// by default they get attachments inline whatever the hop's TLS.
    pub internal_inline_min: InlineMin,
    /// Mail through `[delivery] relay_host`: decide from a probe of the recipient domain's own
    /// MX hosts, or always send links.
    pub smart_host_attachments: SmartHostAttachments,
    /// How inline attachments travel: "as-is", or "zip" (one plain ZIP, no password).
    pub inline_format: InlineFormat,
    /// Images referenced by `cid:` from the HTML body stay in the message (they are part of
    /// the text, not attachments).
    pub inline_cid_images: bool,
    /// Per-domain overrides, `[[outbound.attachments]]`.
    pub attachments: Vec<AttachmentRule>,
    /// A file with the download notice's text version, instead of the built-in one.
    pub notice_text_template: Option<PathBuf>,
    /// A file with the download notice's HTML version, instead of the built-in one.
    pub notice_html_template: Option<PathBuf>,
    /// Minutes every submitted message waits before its first delivery attempt (the sender
    /// can still cancel it); 0: off. A rule's `hold` can make it longer.
    pub hold: u32,
    /// Attachments larger than this (a message's files together) go as the link variant
    /// whatever the session's TLS; unset: no size rule.
    pub link_above: Option<Size>,
    /// Mail the sender of each held message a single-use link that cancels it (valid until
    /// it leaves).
    pub hold_cancel_mail: bool,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            tls_require: Assurance::None,
            tls: Vec::new(),
            downgrade_window: Duration::from_secs(30 * 86_400),
            downgrade_min_sessions: 1,
            downgrade_action: DowngradeAction::Record,
            probe_cache_ttl: Duration::from_secs(3600),
            encrypted_attachments: EncryptedPolicy::Reject,
            uninspectable_attachments: UninspectablePolicy::Reject,
            attachments_inline_min: InlineMin::Encrypted,
            internal_inline_min: InlineMin::None,
            smart_host_attachments: SmartHostAttachments::Probe,
            inline_format: InlineFormat::AsIs,
            inline_cid_images: true,
            attachments: Vec::new(),
            notice_text_template: None,
            notice_html_template: None,
            hold: 0,
            link_above: None,
            hold_cancel_mail: false,
        }
    }
}

/// `[mta_sts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MtaStsConfig {
    /// Look up and apply recipient domains' MTA-STS policies.
    pub enabled: bool,
    /// HTTPS port of the policy hosts (443; tests and demos point it elsewhere).
    pub port: u16,
    /// Time for one policy fetch: connection, TLS handshake and response.
    pub timeout: Duration,
    /// After a failed fetch, how long before the same domain's policy is fetched again.
    pub retry_after_failure: Duration,
}

impl Default for MtaStsConfig {
    fn default() -> Self {
        MtaStsConfig {
            enabled: true,
            port: 443,
            timeout: Duration::from_secs(10),
            retry_after_failure: Duration::from_secs(300),
        }
    }
}

/// `[[outbound.tls]] domains = [...], require = "authenticated"`: below that, no delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundTlsRule {
    /// Recipient domains; ".example.com" also matches its subdomains.
    pub domains: Vec<String>,
    /// Least assurance for them.
    pub require: Assurance,
}

impl OutboundConfig {
    /// The assurance required for `domain`: the first matching rule, else `tls_require`.
    pub fn required_for(&self, domain: &str) -> Assurance {
        self.tls.iter().find(|r| domain_matches(&r.domains, domain)).map_or(self.tls_require, |r| r.require)
    }
}

impl Config {
    /// True when `domain` is one of `local_domains`.
    pub fn is_local(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.');
        self.local_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// True when `address` is internal for the mis-send rules: of a local or a partner domain
    /// (`[rules] partner_domains`); `bcc_external` hides the other recipients from the rest.
    pub fn internal_for_rules(&self, address: &str) -> bool {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        self.is_local(domain) || domain_matches(&self.rules.partner_domains, domain)
    }

    /// How attachments travel to `domain`, and how its links open: each key from the first
    /// `[[outbound.attachments]]` rule that matches the domain and sets it, else the general
    /// setting (`internal_inline_min` for local domains, `attachments_inline_min` for others;
    /// `[portal] access`).
    pub fn attachments_for(&self, domain: &str) -> AttachmentPolicy {
        let o = &self.outbound;
        let rules: Vec<&AttachmentRule> = o.attachments.iter().filter(|r| domain_matches(&r.domains, domain)).collect();
        let general_min = if self.is_local(domain) { o.internal_inline_min } else { o.attachments_inline_min };
        AttachmentPolicy {
            inline_min: rules.iter().find_map(|r| r.inline_min).unwrap_or(general_min),
            inline_format: rules.iter().find_map(|r| r.inline_format).unwrap_or(o.inline_format),
            access: rules.iter().find_map(|r| r.access).unwrap_or(self.portal.access),
            link_above: rules.iter().find_map(|r| r.link_above).or(o.link_above).map(|s| s.0),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// `[admin]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served (plain HTTP: keep it on loopback or
    /// a management network). Unset: no administrators' listener.
    pub listen: Option<SocketAddr>,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// tracing filter, e.g. "info" or "sekisho_receive=debug".
    pub level: String,
    /// Write log lines to this file (appended; reopened on SIGHUP, for logrotate) instead of
    /// standard error. Unset: standard error.
    pub file: Option<PathBuf>,
}

/// Listener role.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Users' mail programs: AUTH, relays for authenticated users and trusted networks.
    Submission,
    /// Internet mail for `local_domains`.
    Mx,
}

/// `[[listener]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub address: SocketAddr,
    pub role: Role,
    #[serde(default)]
    pub trusted_networks: Vec<IpNet>,
    /// Allow AUTH without TLS for clients on loopback addresses.
    #[serde(default)]
    pub plaintext_auth_on_loopback: bool,
    /// Open connections on this listener; unset: `[smtp] max_connections`.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Open connections per client address on this listener; unset:
    /// `[smtp] max_connections_per_client`.
    #[serde(default)]
    pub max_connections_per_client: Option<usize>,
    /// Largest message this listener accepts (announced as EHLO SIZE); unset:
    /// `[smtp] max_message_size`.
    #[serde(default)]
    pub max_message_size: Option<Size>,
    /// RFC 8689 REQUIRETLS advertised after STARTTLS and accepted on MAIL FROM; unset: on for
    /// submission listeners, off for MX listeners (see `offers_requiretls`).
    #[serde(default)]
    pub requiretls: Option<bool>,
}

impl ListenerConfig {
    /// Whether this listener advertises REQUIRETLS after STARTTLS. By default only submission
    /// listeners do: mail taken on an MX listener goes on to `[delivery] next_hop`, which then
    /// has to offer REQUIRETLS over authenticated TLS too, or every such message bounces.
    pub fn offers_requiretls(&self) -> bool {
        self.requiretls.unwrap_or(self.role == Role::Submission)
    }

    /// True when `ip` is in this listener's trusted networks.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_networks.iter().any(|n| n.contains(&ip))
    }

    /// This listener's connection caps, in total and per client address, with the `[smtp]`
    /// values as defaults.
    pub fn connection_limits(&self, smtp: &SmtpConfig) -> (usize, usize) {
        (
            self.max_connections.unwrap_or(smtp.max_connections),
            self.max_connections_per_client.unwrap_or(smtp.max_connections_per_client),
        )
    }

    /// The largest message this listener accepts, with `[smtp] max_message_size` as default.
    pub fn max_message_size(&self, smtp: &SmtpConfig) -> u64 {
        self.max_message_size.map_or(smtp.max_message_size, |s| s.0)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: system_hostname(),
            local_domains: Vec::new(),
            time_zone: TimeZone::system(),
            store: StoreConfig::default(),
            tls: TlsConfig::default(),
            smtp: SmtpConfig::default(),
            log: LogConfig::default(),
            dns: DnsConfig::default(),
            delivery: DeliveryConfig::default(),
            routes: BTreeMap::new(),
            outbound: OutboundConfig::default(),
            mta_sts: MtaStsConfig::default(),
            tlsrpt: TlsRptConfig::default(),
            reports: ReportsConfig::default(),
            dmarc: DmarcReportsConfig::default(),
            console: ConsoleConfig::default(),
            inbound: InboundConfig::default(),
            recipients: RecipientsConfig::default(),
            senders: SendersConfig::default(),
            authentication: AuthenticationConfig::default(),
            findings: FindingsConfig::default(),
            reputation: ReputationConfig::default(),
            ldap: LdapConfig::default(),
            portal: PortalConfig::default(),
            antivirus: AntivirusConfig::default(),
            rules: RulesConfig::default(),
            dkim: Vec::new(),
            admin: AdminConfig::default(),
            smime: SmimeConfig::default(),
            listeners: Vec::new(),
            source: None,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: "./sekisho-data".into(),
            min_free_space: 64 << 20,
            group_commit_max: 256,
            group_sync: false,
            retention: Duration::from_secs(90 * 86_400),
            key_file: None,
            backend: StoreBackend::Sqlite,
            url: None,
            lease: Duration::from_secs(5 * 60),
            objects: None,
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            max_command_line: 512,
            max_text_line: 2048,
            max_header_size: 102_400,
            max_message_size: 10 << 20,
            max_recipients: 1000,
            max_junk_commands: 100,
            max_errors: 20,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(1),
            client_auth_failure_limit: 10,
            client_auth_failure_window: Duration::from_secs(600),
            bare_line_endings: BareLineEndings::Normalize,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(300),
            min_data_rate: 500,
            max_connections: 100,
            max_connections_per_client: 20,
            stress_command_timeout: Duration::from_secs(10),
            stress_threshold: 80,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".into(), file: None }
    }
}

fn system_hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

impl Config {
    /// The embedded default.
    pub fn embedded() -> Config {
        Config::parse(DEFAULT_TOML, Path::new("<embedded default>")).expect("embedded default is valid")
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::parse(&text, path)
    }

    /// Parses configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::from_toml(origin, text, &e))?;
        if config.listeners.is_empty() {
            config.listeners = default_listeners();
        }
        config.validate(text, origin)?;
        match config.rules.load_file(origin, text)? {
            Some((path, rules_text)) => {
                config.rules.validate(&|key: &str, m| ConfigError::invalid(&path, &rules_text, key, m), "")?
            }
            None => config.rules.validate(&|key: &str, m| ConfigError::invalid(origin, text, key, m), "rules.")?,
        }
        config.rules.fold_keywords();
        config.source = Some(std::sync::Arc::new((origin.to_path_buf(), text.to_string())));
        Ok(config)
    }

    /// An error about `key` (a dotted path, as in `tls.key`) found after loading, such as a
    /// certificate that does not match its key: it names the file and the key's line.
    pub fn error_at(&self, key: &str, message: String) -> ConfigError {
        match &self.source {
            Some(src) => ConfigError::invalid(&src.0, &src.1, key, message),
            None => ConfigError::invalid(Path::new("<configuration>"), "", key, message),
        }
    }

    fn validate(&self, text: &str, origin: &Path) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| ConfigError::invalid(origin, text, key, message);
        if self.hostname.is_empty() || self.hostname.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("hostname", format!("`{}` is not a host name", self.hostname)));
        }
        if let Some(problem) = self.time_zone.problem() {
            return Err(err("time_zone", problem.to_string()));
        }
        let s = &self.smtp;
        if s.max_command_line < 512 {
            return Err(err("smtp.max_command_line", "must be at least 512 (RFC 5321 §4.5.3.1.4)".into()));
        }
        if s.max_text_line < 1000 {
            return Err(err("smtp.max_text_line", "must be at least 1000 (RFC 5321 §4.5.3.1.6)".into()));
        }
        for (key, zero) in [
            ("smtp.max_message_size", s.max_message_size == 0),
            ("smtp.max_header_size", s.max_header_size == 0),
            ("smtp.max_recipients", s.max_recipients < 100),
            ("smtp.max_errors", s.max_errors == 0),
            ("smtp.max_auth_failures", s.max_auth_failures == 0),
            ("smtp.max_connections", s.max_connections == 0),
            ("smtp.max_connections_per_client", s.max_connections_per_client == 0),
            ("smtp.min_data_rate", s.min_data_rate == 0),
            ("smtp.stress_command_timeout", s.stress_command_timeout.0.is_zero()),
            ("store.group_commit_max", self.store.group_commit_max == 0),
        ] {
            if zero {
                let min = if key == "smtp.max_recipients" { "100 (RFC 5321 §4.5.3.1.8)" } else { "1" };
                return Err(err(key, format!("must be at least {min}")));
            }
        }
        if !(1..=100).contains(&s.stress_threshold) {
            return Err(err("smtp.stress_threshold", "must be a percentage from 1 to 100".into()));
        }
        let retention = self.store.retention.0;
        if !retention.is_zero() && retention < std::time::Duration::from_secs(3600) {
            return Err(err("store.retention", "must be \"0\" (keep forever) or at least \"1h\"".into()));
        }
        if self.store.lease.0 < std::time::Duration::from_secs(10) {
            return Err(err(
                "store.lease",
                "must be at least \"10s\": it is renewed every third of it, and a shorter one hands live \
                 deliveries to other nodes at the database's first pause"
                    .into(),
            ));
        }
        match (self.store.backend, &self.store.url) {
            (StoreBackend::Postgres, None) => {
                return Err(err("store.backend", "\"postgres\" needs [store] url = \"postgres://...\"".into()));
            }
            (StoreBackend::Postgres, Some(url))
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) =>
            {
                return Err(err("store.url", format!("`{}` is not a postgres:// URL", redact_url(url))));
            }
            (StoreBackend::Sqlite, Some(_)) => {
                return Err(err("store.url", "is only used with backend = \"postgres\"".into()));
            }
            _ => {}
        }
        if let Some(objects) = &self.store.objects {
            if self.store.backend != StoreBackend::Postgres {
                return Err(err("store.objects", "is only used with [store] backend = \"postgres\"".into()));
            }
            if let Some((key, message)) = objects.problem() {
                return Err(err(&format!("store.objects.{key}"), message));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, l) in self.listeners.iter().enumerate() {
            if !seen.insert(l.address) {
                return Err(err(
                    &format!("listener.{i}.address"),
                    format!("listener address {} appears twice", l.address),
                ));
            }
            for (key, value) in
                [("max_connections", l.max_connections), ("max_connections_per_client", l.max_connections_per_client)]
            {
                if value == Some(0) {
                    return Err(err(&format!("listener.{i}.{key}"), "must be at least 1".into()));
                }
            }
            if l.max_message_size.is_some_and(|s| s.0 == 0) {
                return Err(err(&format!("listener.{i}.max_message_size"), "must be at least 1".into()));
            }
        }
        match &self.store.key_file {
            Some(key) if key.starts_with(&self.store.path) => {
                return Err(err(
                    "store.key_file",
                    format!(
                        "{} is inside the data directory {}: a copy of the data directory would carry the key \
                         that opens its files; keep the store key elsewhere",
                        key.display(),
                        self.store.path.display()
                    ),
                ));
            }
            None if self.store.default_key_file().is_none() => {
                return Err(err(
                    "store.path",
                    format!(
                        "{} has no name to put the default store key beside it: set [store] key_file",
                        self.store.path.display()
                    ),
                ));
            }
            _ => {}
        }
        if self.tls.certificate.is_some() != self.tls.key.is_some() {
            return Err(err(
                if self.tls.certificate.is_some() { "tls.certificate" } else { "tls.key" },
                "[tls] certificate and key must be given together".into(),
            ));
        }
        for (name, records) in &self.dns.static_records {
            for r in records {
                StaticRecord::parse(r).map_err(|m| err(&format!("dns.static.\"{name}\""), m.0))?;
            }
        }
        if let Some(path) = &self.dns.trust_anchor
            && !path.is_file()
        {
            return Err(err("dns.trust_anchor", format!("{} is not a file", path.display())));
        }
        for (domain, hop) in &self.routes {
            NextHop::parse(hop).map_err(|m| err(&format!("routes.\"{domain}\""), m.0))?;
        }
        for (key, hop) in
            [("delivery.relay_host", &self.delivery.relay_host), ("delivery.next_hop", &self.delivery.next_hop)]
        {
            if let Some(h) = hop {
                NextHop::parse(h).map_err(|m| err(key, m.0))?;
            }
        }
        let d = &self.delivery;
        if d.retry_schedule.is_empty() || d.retry_schedule.iter().any(|x| x.0.is_zero()) {
            return Err(err("delivery.retry_schedule", "needs at least one non-zero wait".into()));
        }
        for (key, zero) in [
            ("delivery.max_connections", d.max_connections == 0),
            ("delivery.max_connections_per_destination", d.max_connections_per_destination == 0),
            ("delivery.max_messages_per_connection", d.max_messages_per_connection == 0),
            ("delivery.port", d.port == 0),
            ("mta_sts.port", self.mta_sts.port == 0),
            ("mta_sts.timeout", self.mta_sts.timeout.0.is_zero()),
        ] {
            if zero {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        if d.relay_user.is_some() != d.relay_password.is_some() {
            return Err(err("delivery.relay_user", "relay_user and relay_password go together".into()));
        }
        for (i, rule) in self.outbound.attachments.iter().enumerate() {
            if rule.domains.is_empty() {
                return Err(err(
                    &format!("outbound.attachments.{i}.domains"),
                    "an [[outbound.attachments]] rule needs at least one domain".into(),
                ));
            }
        }
        for (key, path) in [
            ("outbound.notice_text_template", &self.outbound.notice_text_template),
            ("outbound.notice_html_template", &self.outbound.notice_html_template),
        ] {
            if let Some(path) = path {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err(key, format!("cannot read {} as UTF-8 text: {e}", path.display())))?;
                if !text.contains("{{url}}") {
                    return Err(err(key, format!("{} must contain {{{{url}}}}, the link", path.display())));
                }
            }
        }
        self.validate_portal(&err)?;
        if let Some(admin) = self.admin.listen {
            let taken = (admin == self.portal.address).then_some("[portal] address".to_string()).or_else(|| {
                self.listeners.iter().find(|l| l.address == admin).map(|l| format!("the [[listener]] at {}", l.address))
            });
            if let Some(taken) = taken {
                return Err(err(
                    "admin.listen",
                    format!("{admin} is already {taken}: the administrators' listener needs an address of its own"),
                ));
            }
        }
        let budget = self.inbound.time_budget.0;
        if budget < std::time::Duration::from_secs(1) || budget > std::time::Duration::from_secs(300) {
            return Err(err(
                "inbound.time_budget",
                "must be from \"1s\" to \"5m\" (a client waits at most 10 minutes for the reply to its data)".into(),
            ));
        }
        if !matches!(self.inbound.access, Access::None | Access::Otp) {
            return Err(err(
                "inbound.access",
                format!(
                    "`{}`: only \"none\" or \"otp\" (the sender of inbound mail is an outsider)",
                    self.inbound.access
                ),
            ));
        }
        if self.inbound.subject_tag.chars().any(char::is_control) {
            return Err(err("inbound.subject_tag", "must be one line of text, without control characters".into()));
        }
        if let Some((key, message)) = self.antivirus.problem() {
            return Err(err(key, message));
        }
        for path in &self.tls.extra_roots {
            if !path.exists() {
                return Err(err("tls.extra_roots", format!("{} does not exist", path.display())));
            }
        }
        for d in &self.local_domains {
            if d.is_empty() || d.contains(['@', ' ']) {
                return Err(err("local_domains", format!("`{d}` is not a domain")));
            }
        }
        if let Some((key, message)) = self.recipients.problem(&self.local_domains, self.delivery.next_hop.as_deref()) {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = self.senders.problem() {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = self.authentication.problem() {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = reports::problem(&self.reports, &self.tlsrpt) {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = self.dmarc.problem(&self.reports) {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = self.console.problem(self.ldap.url.as_deref()) {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = self.findings.problem() {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = self.reputation.problem() {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = dkim::problem(&self.dkim) {
            return Err(err(&key, message));
        }
        if let Some((key, message)) = self.smime.problem() {
            return Err(err(&key, message));
        }
        let ldap_used = self.senders.ldap
            || self.recipients.domains.iter().any(|r| r.ldap)
            || self.findings.ldap_names
            || !self.rules.ldap_groups_used().is_empty();
        if let Some((key, message)) = self.ldap.problem(ldap_used) {
            return Err(err(&key, message));
        }
        Ok(())
    }

    fn validate_portal(&self, err: &dyn Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
        let p = &self.portal;
        let url = p.url.trim_end_matches('/');
        let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        if host.is_none_or(|h| h.is_empty() || h.contains(['/', '?', '#', ' ', '"', '<', '>'])) {
            return Err(err("portal.url", format!("`{}` is not an http:// or https:// address without a path", p.url)));
        }
        for (key, zero) in [
            ("portal.link_expiry", p.link_expiry.0.is_zero()),
            ("portal.max_downloads", p.max_downloads == 0),
            ("portal.code_lifetime", p.code_lifetime.0.is_zero()),
            ("portal.max_failures", p.max_failures == 0),
            ("portal.session_lifetime", p.session_lifetime.0.is_zero()),
            ("portal.rate_limit", p.rate_limit == 0),
            ("portal.max_codes_per_hour", p.max_codes_per_hour == 0),
            ("portal.check_rate_limit", p.check_rate_limit == 0),
            ("portal.max_connections", p.max_connections == 0),
            ("portal.idle_timeout", p.idle_timeout.0.is_zero()),
            ("portal.max_connections_per_client", p.max_connections_per_client == 0),
            ("portal.header_timeout", p.header_timeout.0.is_zero()),
            ("portal.request_timeout", p.request_timeout.0.is_zero()),
        ] {
            if zero {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        let token = &p.api_token_sha256;
        if !token.is_empty() && (token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(err(
                "portal.api_token_sha256",
                "must be 64 hexadecimal digits: the SHA-256 of the token".into(),
            ));
        }
        for (i, pass) in p.passphrase.iter().enumerate() {
            if pass.matches.is_empty() || pass.matches.contains(' ') {
                return Err(err(
                    &format!("portal.passphrase.{i}.match"),
                    format!("`{}` is not an address or a domain", pass.matches),
                ));
            }
            if !pass.hash.starts_with("$argon2") {
                return Err(err(
                    &format!("portal.passphrase.{i}.hash"),
                    "must be an argon2 PHC string (sekisho links hash-passphrase)".into(),
                ));
            }
        }
        Ok(())
    }

    /// The certificate and key paths, defaulting to the generated self-signed pair.
    pub fn tls_paths(&self) -> (PathBuf, PathBuf, bool) {
        match (&self.tls.certificate, &self.tls.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone(), false),
            _ => {
                let dir = self.store.path.join("tls");
                (dir.join("self-signed.crt"), dir.join("self-signed.key"), true)
            }
        }
    }
}

fn default_listeners() -> Vec<ListenerConfig> {
    vec![
        ListenerConfig {
            address: "127.0.0.1:2525".parse().expect("literal"),
            role: Role::Submission,
            trusted_networks: vec!["127.0.0.0/8".parse().expect("literal"), "::1/128".parse().expect("literal")],
            plaintext_auth_on_loopback: false,
            max_connections: None,
            max_connections_per_client: None,
            max_message_size: None,
            requiretls: None,
        },
        ListenerConfig {
            address: "127.0.0.1:2526".parse().expect("literal"),
            role: Role::Mx,
            trusted_networks: Vec::new(),
            plaintext_auth_on_loopback: false,
            max_connections: None,
            max_connections_per_client: None,
            max_message_size: None,
            requiretls: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn embedded_default_matches_the_documented_defaults() {
        let c = Config::embedded();
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[0].address.port(), 2525);
        assert_eq!(c.listeners[0].role, Role::Submission);
        assert!(c.listeners[0].trusts("127.0.0.1".parse().unwrap()));
        assert!(!c.listeners[1].trusts("127.0.0.1".parse().unwrap()));
        assert_eq!(c.listeners[1].role, Role::Mx);
        assert_eq!(c.smtp.max_text_line, 2048);
        assert_eq!(c.store.path, PathBuf::from("./sekisho-data"));
        assert_eq!(c.store.retention, Duration::from_secs(90 * 86_400));
    }

    #[test]
    fn requiretls_is_offered_on_submission_listeners_unless_configured() {
        let c = Config::embedded();
        assert!(c.listeners[0].offers_requiretls(), "submission: on by default");
        assert!(!c.listeners[1].offers_requiretls(), "MX: off by default");
        let c = parse(
            "[[listener]]\naddress = \"127.0.0.1:25\"\nrole = \"mx\"\nrequiretls = true\n\
             [[listener]]\naddress = \"127.0.0.1:587\"\nrole = \"submission\"\nrequiretls = false\n",
        )
        .unwrap();
        assert!(c.listeners[0].offers_requiretls() && !c.listeners[1].offers_requiretls());
    }

    #[test]
    fn time_zone_is_an_iana_name_resolved_at_load() {
        let c = parse("time_zone = \"Asia/Tokyo\"\n").unwrap();
        assert_eq!(c.time_zone.name(), "Asia/Tokyo");
        assert_eq!(c.time_zone.offset_at(0), 9 * 3600);
        assert_eq!(parse("").unwrap().time_zone, TimeZone::system(), "default: the system's zone");
        let e = parse("hostname = \"gw\"\ntime_zone = \"Asia/Tokio\"\n").unwrap_err().to_string();
        assert!(e.starts_with("test.toml:2: time_zone: `Asia/Tokio` is not a time zone"), "{e}");
        let e = parse("time_zone = 9\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:1") && e.contains("time_zone"), "{e}");
    }

    #[test]
    fn retention_is_a_duration_of_an_hour_or_more_or_zero() {
        assert_eq!(parse("[store]\nretention = \"30d\"\n").unwrap().store.retention, Duration::from_secs(30 * 86_400));
        assert!(parse("[store]\nretention = \"0\"\n").unwrap().store.retention.0.is_zero(), "0 keeps forever");
        assert_eq!(parse("").unwrap().store.backend, StoreBackend::Sqlite);
        let c =
            parse("[store]\nbackend = \"postgres\"\nurl = \"postgres://sekisho@db.example:5432/sekisho\"\n").unwrap();
        assert_eq!(
            (c.store.backend, c.store.url.as_deref()),
            (StoreBackend::Postgres, Some("postgres://sekisho@db.example:5432/sekisho"))
        );
        let e = parse("[store]\nbackend = \"postgres\"\n").unwrap_err().to_string();
        assert_eq!(e, "test.toml:2: store.backend: \"postgres\" needs [store] url = \"postgres://...\"");
        let e = parse("[store]\nbackend = \"postgres\"\nurl = \"mysql://u:secret@h/d\"\n").unwrap_err().to_string();
        assert_eq!(e, "test.toml:3: store.url: `mysql://u:***@h/d` is not a postgres:// URL");
        let e = parse("[store]\nurl = \"postgres://h/d\"\n").unwrap_err().to_string();
        assert_eq!(e, "test.toml:2: store.url: is only used with backend = \"postgres\"");
        assert!(parse("[store]\nbackend = \"oracle\"\n").unwrap_err().to_string().contains("unknown variant"));
        let e = parse("[store]\npath = \"/x\"\nretention = \"10m\"\n").unwrap_err().to_string();
        assert_eq!(e, "test.toml:3: store.retention: must be \"0\" (keep forever) or at least \"1h\"");
        let e = parse("[store]\nretention = \"ninety days\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2") && e.contains("retention"), "{e}");
    }

    #[test]
    fn object_storage_is_for_postgres_and_its_errors_name_the_key_and_line() {
        let postgres = "[store]\nbackend = \"postgres\"\nurl = \"postgres://sekisho@db.example/sekisho\"\n";
        assert_eq!(parse(postgres).unwrap().store.objects, None, "unset: objects in the database");
        let c = parse(&format!(
            "{postgres}[store.objects]\nurl = \"s3://mail/gw1\"\nendpoint = \"https://minio.example:9000\"\n\
             access_key_id = \"AKIA1\"\nsecret_access_key_file = \"/etc/sekisho/s3.secret\"\n"
        ))
        .unwrap();
        let o = c.store.objects.unwrap();
        assert_eq!(
            (o.bucket_and_prefix(), o.region.as_str(), o.allow_http),
            (Some(("mail", "gw1")), "us-east-1", false)
        );
        assert_eq!(o.secret_access_key_file.as_deref(), Some(Path::new("/etc/sekisho/s3.secret")));

        let e = parse("[store]\npath = \"/x\"\n[store.objects]\nurl = \"s3://mail\"\n").unwrap_err().to_string();
        assert_eq!(e, "test.toml:3: store.objects: is only used with [store] backend = \"postgres\"");
        let e = parse(&format!("{postgres}[store.objects]\nurl = \"mail\"\n")).unwrap_err().to_string();
        assert!(e.starts_with("test.toml:5: store.objects.url: `mail` is not s3://bucket"), "{e}");
        let e =
            parse(&format!("{postgres}[store.objects]\nurl = \"s3://mail\"\nendpoint = \"http://127.0.0.1:9000\"\n"))
                .unwrap_err()
                .to_string();
        assert!(e.starts_with("test.toml:6: store.objects.endpoint: is http://"), "{e}");
        let http = format!(
            "{postgres}[store.objects]\nurl = \"s3://mail\"\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\n"
        );
        assert!(parse(&http).unwrap().store.objects.unwrap().allow_http);
        let e = parse(&format!("{postgres}[store.objects]\nurl = \"s3://mail\"\naccess_key_id = \"AKIA1\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("test.toml:6: store.objects.access_key_id: needs secret_access_key_file"), "{e}");
        let e = parse(&format!("{postgres}[store.objects]\nurl = \"s3://mail\"\nsecret_access_key = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("test.toml:6") && e.contains("unknown key"), "the secret is never inline: {e}");
    }

    #[test]
    fn a_claims_lease_is_a_duration_of_ten_seconds_or_more_five_minutes_by_default() {
        let postgres = "[store]\nbackend = \"postgres\"\nurl = \"postgres://sekisho@db.example/sekisho\"\n";
        assert_eq!(parse(postgres).unwrap().store.lease, Duration::from_secs(300));
        let c = parse(&format!("{postgres}lease = \"90s\"\n")).unwrap();
        assert_eq!(c.store.lease, Duration::from_secs(90));
        assert_eq!(parse(&format!("{postgres}lease = 600\n")).unwrap().store.lease, Duration::from_secs(600));
        let e = parse(&format!("{postgres}lease = \"5s\"\n")).unwrap_err().to_string();
        assert!(e.starts_with("test.toml:4: store.lease: must be at least \"10s\""), "{e}");
        let e = parse("[store]\nlease = \"soon\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2") && e.contains("lease") && e.contains("not a duration"), "{e}");
    }

    #[test]
    fn the_admin_listener_is_off_by_default_and_needs_an_address_of_its_own() {
        assert_eq!(parse("").unwrap().admin.listen, None);
        let c = parse("[admin]\nlisten = \"127.0.0.1:9025\"\n\n[log]\nfile = \"/var/log/sekisho.log\"\n").unwrap();
        assert_eq!(c.admin.listen, Some("127.0.0.1:9025".parse().unwrap()));
        assert_eq!(c.log.file, Some(PathBuf::from("/var/log/sekisho.log")));
        let e = parse("[admin]\nlisten = \"127.0.0.1:2525\"\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "test.toml:2: admin.listen: 127.0.0.1:2525 is already the [[listener]] at 127.0.0.1:2525: the \
             administrators' listener needs an address of its own"
        );
    }

    #[test]
    fn empty_file_is_the_default() {
        let c = parse("").unwrap();
        assert_eq!(c.smtp.max_recipients, 1000);
        assert_eq!(c.listeners.len(), 2);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = parse("hostname = \"gw.example\"\n\n[smtp]\nmax_recipents = 5\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("test.toml:4"), "{msg}");
        assert!(msg.contains("max_recipents"), "{msg}");
    }

    #[test]
    fn bad_value_names_line() {
        let e = parse("[[listener]]\naddress = \"nowhere\"\nrole = \"mx\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2"), "{e}");
        let e = parse("[[listener]]\naddress = \"127.0.0.1:25\"\nrole = \"relay\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:3") && e.contains("relay"), "{e}");
        let e = parse("[smtp]\ncommand_timeout = \"5 fortnights\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_key_and_line() {
        let e = parse("# c\n[smtp]\nmax_command_line = 100\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:3") && e.contains("max_command_line"), "{e}");
        let e = parse("[tls]\ncertificate = \"/x.pem\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2") && e.contains("certificate"), "{e}");
    }

    #[test]
    fn inbound_policy_errors_name_the_key_and_line() {
        let c = parse("[inbound]\ndanger = \"reject\"\ndanger_content = [\"macros\"]\n").unwrap();
        assert_eq!(c.inbound.danger, sekisho_policy::inbound::InboundAction::Reject);
        assert_eq!(c.inbound.danger_content, [sekisho_policy::inbound::DangerKind::Macros]);
        assert_eq!(c.inbound.quarantine_digest.minutes(), None, "no digest unless asked for");
        let c =
            parse("[inbound]\nquarantine_digest = \"07:45\"\n[portal]\nadministrators = [\"postmaster@corp.test\"]\n")
                .unwrap();
        assert_eq!(c.inbound.quarantine_digest.minutes(), Some(465));
        assert_eq!(c.portal.administrators, ["postmaster@corp.test"]);
        for (text, line, key) in [
            ("[inbound]\ndanger = \"drop\"\n", 2, "danger"),
            ("[inbound]\n\ndanger_content = [\"exe\"]\n", 3, "danger_content"),
            ("[inbound]\ntime_budget = \"10m\"\n", 2, "time_budget"),
            ("[inbound]\naccess = \"password\"\n", 2, "access"),
            ("[inbound]\nsubject_tag = \"a\\nBcc: x\"\n", 2, "subject_tag"),
            ("[inbound]\n\nquarantine_digest = \"25:00\"\n", 3, "quarantine_digest"),
            ("[inbound]\nquarantine_digest = true\n", 2, "quarantine_digest"),
            ("[[inbound.domains]]\ndomains = [\"a.test\"]\nsafe = \"x\"\n", 3, "safe"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(&format!("test.toml:{line}")) && e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn dns_routes_and_delivery() {
        let c = parse(
            "[dns]\nservers = [\"127.0.0.53:53\"]\n[dns.static]\n\"example.com\" = [\"MX 10 mx1.example.com\"]\n\
             \"mx1.example.com\" = [\"A 127.0.0.2\"]\n[routes]\n\"partner.example\" = \"[10.1.2.3]:25\"\n\
             [delivery]\nport = 2525\nretry_schedule = [\"1s\", \"2s\"]\n",
        )
        .unwrap();
        assert_eq!(c.dns.servers[0].port(), 53);
        assert_eq!(c.dns.parsed_static()["mx1.example.com"], vec![StaticRecord::A("127.0.0.2".parse().unwrap())]);
        assert_eq!(c.delivery.port, 2525);
        assert_eq!(c.delivery.retry_schedule.len(), 2);
        let e = parse("[dns.static]\n\"example.com\" = [\"MX ten mx\"]\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2") && e.contains("preference"), "{e}");
        let e = parse("[routes]\n\"a.example\" = \"[x\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2"), "{e}");
        let e = parse("[delivery]\nretry_schedule = []\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2") && e.contains("retry_schedule"), "{e}");
    }

    #[test]
    fn attachment_policies() {
        let c = parse("").unwrap();
        assert_eq!(
            (c.outbound.encrypted_attachments, c.outbound.uninspectable_attachments),
            (EncryptedPolicy::Reject, UninspectablePolicy::Reject)
        );
        assert_eq!(
            parse("[outbound]\nencrypted_attachments = \"allow\"\n").unwrap().outbound.encrypted_attachments,
            EncryptedPolicy::Allow
        );
        assert_eq!(
            parse("[outbound]\nencrypted_attachments = \"link\"\n").unwrap().outbound.encrypted_attachments,
            EncryptedPolicy::Link
        );
        let e = parse("[outbound]\nencrypted_attachments = \"maybe\"\n").unwrap_err().to_string();
        assert!(e.contains(":2: outbound.encrypted_attachments: `maybe`") && e.contains("\"link\""), "{e}");
        let e = parse("[outbound]\nuninspectable_attachments = \"maybe\"\n").unwrap_err().to_string();
        assert!(e.contains("uninspectable_attachments") && e.contains("`maybe`"), "{e}");
    }

    #[test]
    fn dns_trust_anchor_and_dnssec() {
        let c = parse("").unwrap();
        assert_eq!(c.dns.trust_anchor, None, "default: the built-in root anchors");
        assert!(c.dns.dnssec, "DNSSEC validation of DANE lookups is on by default");
        let dir = std::env::temp_dir().join(format!("sekisho-config-anchor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let anchor = dir.join("root.key");
        std::fs::write(&anchor, ". IN DNSKEY 257 3 13 AAAA\n").unwrap();
        let c = parse(&format!("[dns]\ntrust_anchor = \"{}\"\ndnssec = false\n", anchor.display())).unwrap();
        assert_eq!(c.dns.trust_anchor.as_deref(), Some(anchor.as_path()));
        assert!(!c.dns.dnssec);
        let e = parse("[dns]\nservers = []\ntrust_anchor = \"/nonexistent/root.key\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:3") && e.contains("trust_anchor"), "{e}");
        let e = parse("[dns]\ndnssec = \"yes\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2"), "{e}");
        let e = parse("[dns]\ntrust_anchors = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:2") && e.contains("trust_anchors"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outbound_tls_rules() {
        let c = parse(
            "[outbound]\ntls_require = \"encrypted\"\n[[outbound.tls]]\ndomains = [\"partner.example\", \".bank.example\"]\n\
             require = \"authenticated\"\n",
        )
        .unwrap();
        assert_eq!(c.outbound.required_for("Partner.Example"), Assurance::Authenticated);
        assert_eq!(c.outbound.required_for("mail.bank.example"), Assurance::Authenticated);
        assert_eq!(c.outbound.required_for("other.example"), Assurance::Encrypted);
        let e = parse("[[outbound.tls]]\ndomains = [\"a\"]\nrequire = \"strong\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml:3") && e.contains("strong"), "{e}");
    }

    #[test]
    fn the_code_mail_floor_is_unset_unless_given() {
        assert_eq!(parse("").unwrap().portal.code_min_assurance, None);
        let c = parse("[portal]\ncode_min_assurance = \"authenticated\"\n").unwrap();
        assert_eq!(c.portal.code_min_assurance, Some(Assurance::Authenticated));
        let e = parse("[portal]\ncode_min_assurance = \"strong\"\n").unwrap_err().to_string();
        assert!(e.contains("strong"), "{e}");
    }

    #[test]
    fn listeners_replace_the_default_list() {
        let c = parse("[[listener]]\naddress = \"127.0.0.1:25\"\nrole = \"mx\"\n").unwrap();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].address.port(), 25);
    }
}

#[cfg(test)]
mod attachment_tests {
    use super::*;

    #[test]
    fn attachment_rules_override_key_by_key() {
        let c = Config::parse(
            "[outbound]\nattachments_inline_min = \"authenticated\"\n\n[[outbound.attachments]]\n\
             domains = [\".partner.jp\"]\ninline_format = \"zip\"\n\n[[outbound.attachments]]\n\
             domains = [\"mail.partner.jp\"]\ninline_min = \"dane\"\naccess = \"passphrase\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let p = c.attachments_for("mail.partner.jp");
        assert_eq!((p.inline_min, p.inline_format, p.access), (InlineMin::Dane, InlineFormat::Zip, Access::Passphrase));
        let p = c.attachments_for("example.com");
        assert_eq!(
            (p.inline_min, p.inline_format, p.access),
            (InlineMin::Authenticated, InlineFormat::AsIs, Access::Otp)
        );
        let d = Config::embedded();
        assert_eq!(d.outbound.attachments_inline_min, InlineMin::Encrypted);
        assert_eq!(d.portal.access, Access::Otp);
        assert_eq!(d.portal.link_expiry.0.as_secs(), 7 * 86_400);
    }

    #[test]
    fn notice_templates_must_exist_and_carry_the_link() {
        let dir = std::env::temp_dir().join(format!("sekisho-notice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.txt");
        std::fs::write(&good, "Download: {{url}}\n").unwrap();
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "no link here\n").unwrap();
        let c = Config::parse(&format!("[outbound]\nnotice_text_template = \"{}\"\n", good.display()), Path::new("t"));
        assert!(c.is_ok());
        let e = Config::parse(&format!("[outbound]\nnotice_html_template = \"{}\"\n", bad.display()), Path::new("t"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: outbound.notice_html_template") && e.contains("{{url}}"), "{e}");
        let e = Config::parse("[outbound]\nnotice_text_template = \"/nonexistent/n.txt\"\n", Path::new("t"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("notice_text_template") && e.contains("cannot read"), "{e}");
    }

    #[test]
    fn a_list_of_tables_written_with_single_brackets_says_how_to_write_it() {
        let e = Config::parse(
            "[outbound.tls]\ndomains = [\"a.example\"]\nrequire = \"authenticated\"\n",
            Path::new("test.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("test.toml:1: outbound.tls:") && e.contains("written [[outbound.tls]]"), "{e}");
    }

    #[test]
    fn the_portal_keeps_to_public_addresses_and_limits_each_client_by_default() {
        let p = Config::embedded().portal;
        assert_eq!((p.checker, p.checker_allow_private), (CheckerAccess::Public, false));
        assert_eq!(
            (p.max_connections_per_client, p.header_timeout.0.as_secs(), p.request_timeout.0.as_secs()),
            (32, 10, 30)
        );
        assert!(p.trusted_proxies.is_empty());
        let c = Config::parse(
            "[portal]\nchecker = \"signed-in\"\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/24\"]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.portal.checker, CheckerAccess::SignedIn);
        assert!(
            c.portal.trusted_proxy("10.0.0.77".parse().unwrap())
                && !c.portal.trusted_proxy("10.0.1.1".parse().unwrap())
        );
    }

    #[test]
    fn bad_portal_and_attachment_keys_are_named_with_their_line() {
        for (text, key, line) in [
            ("[outbound]\nattachments_inline_min = \"tls\"\n", "attachments_inline_min", 2),
            ("[outbound]\ninline_format = \"7z\"\n", "inline_format", 2),
            ("[portal]\n\naccess = \"sms\"\n", "access", 3),
            ("[portal]\nurl = \"ftp://x\"\n", "url", 2),
            ("[portal]\nmax_failures = 0\n", "max_failures", 2),
            ("[[portal.passphrase]]\nmatch = \"a.jp\"\nhash = \"secret\"\n", "hash", 3),
            ("[portal]\nchecker = \"everyone\"\n", "checker", 2),
            ("[portal]\nheader_timeout = \"0s\"\n", "header_timeout", 2),
            ("[portal]\nmax_connections_per_client = 0\n", "max_connections_per_client", 2),
            ("[portal]\ntrusted_proxies = [\"10.0.0.0/33\"]\n", "trusted_proxies", 2),
        ] {
            let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(&format!(":{line}")), "{text}: {e}");
        }
    }

    #[test]
    fn local_domains_get_attachments_inline_unless_a_rule_says_otherwise() {
        let c = Config::parse(
            "local_domains = [\"corp.example\"]\n[outbound]\nattachments_inline_min = \"authenticated\"\n\n\
             [[outbound.attachments]]\ndomains = [\"secret.corp.example\"]\ninline_min = \"never\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.attachments_for("Corp.Example").inline_min, InlineMin::None, "colleagues: inline");
        assert_eq!(c.attachments_for("partner.example").inline_min, InlineMin::Authenticated);
        let c = Config::parse(
            "local_domains = [\"corp.example\"]\n[outbound]\ninternal_inline_min = \"encrypted\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.attachments_for("corp.example").inline_min, InlineMin::Encrypted, "overridable");
    }

    #[test]
    fn never_means_always_a_link() {
        let c = Config::parse("[outbound]\nattachments_inline_min = \"never\"\n", Path::new("t.toml")).unwrap();
        assert_eq!(c.attachments_for("example.com").inline_min, InlineMin::Never);
    }

    #[test]
    fn a_key_written_in_several_tables_is_reported_in_the_right_one() {
        let text = "[delivery]\nport = 25\nmax_connections = 5\n\n[mta_sts]\nport = 0\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert_eq!(e, "t.toml:6: mta_sts.port: must be at least 1");
        let text = "[smtp]\nmax_connections = 5\n\n[delivery]\nmax_connections = 0\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert_eq!(e, "t.toml:5: delivery.max_connections: must be at least 1");
        let text = "[[listener]]\naddress = \"127.0.0.1:25\"\nrole = \"mx\"\n\n[[listener]]\n\
                    address = \"127.0.0.1:25\"\nrole = \"submission\"\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:6: listener.1.address"), "{e}");
    }

    #[test]
    fn a_bad_keyword_names_its_table_key_and_the_accepted_values() {
        let text = "[outbound]\ntls_require = \"none\"\n\n[[outbound.tls]]\ndomains = [\"a.example\"]\n\
                    require = \"strong\"\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:6: outbound.tls.0.require: `strong` is not one of \"none\""), "{e}");
        let e = Config::parse("[portal]\npassword_delivery = \"fax\"\n", Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.contains(":2: portal.password_delivery: `fax`") && e.contains("\"separate-mail\""), "{e}");
    }

    #[test]
    fn each_listener_has_its_own_connection_caps_defaulting_to_smtp() {
        let text = "[smtp]\nmax_connections = 50\n\n[[listener]]\naddress = \"127.0.0.1:25\"\nrole = \"mx\"\n\n\
                    [[listener]]\naddress = \"127.0.0.1:587\"\nrole = \"submission\"\nmax_connections = 30\n\
                    max_connections_per_client = 3\n";
        let c = Config::parse(text, Path::new("t.toml")).unwrap();
        assert_eq!(c.listeners[0].connection_limits(&c.smtp), (50, 20));
        assert_eq!(c.listeners[1].connection_limits(&c.smtp), (30, 3));
        assert_eq!(c.smtp.stress_command_timeout, Duration::from_secs(10));
        assert_eq!(c.smtp.stress_threshold, 80);
        assert_eq!(c.smtp.bare_line_endings, BareLineEndings::Normalize, "Postfix 3.9's default");
    }

    #[test]
    fn connection_caps_and_stress_settings_are_checked() {
        let text = "[[listener]]\naddress = \"127.0.0.1:25\"\nrole = \"mx\"\n\n[[listener]]\n\
                    address = \"127.0.0.1:587\"\nrole = \"submission\"\nmax_connections = 0\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert_eq!(e, "t.toml:8: listener.1.max_connections: must be at least 1");
        let e = Config::parse("[smtp]\nstress_threshold = 101\n", Path::new("t.toml")).unwrap_err().to_string();
        assert_eq!(e, "t.toml:2: smtp.stress_threshold: must be a percentage from 1 to 100");
        let e = Config::parse("[smtp]\nstress_command_timeout = \"0s\"\n", Path::new("t.toml")).unwrap_err();
        assert_eq!(e.to_string(), "t.toml:2: smtp.stress_command_timeout: must be at least 1");
    }

    #[test]
    fn the_store_key_is_kept_outside_the_data_directory() {
        let parse = |text: &str| Config::parse(text, Path::new("test.toml"));
        let c = Config::embedded();
        assert_eq!(c.store.key_file, None);
        assert_eq!(c.store.default_key_file(), Some(PathBuf::from("./sekisho-data.key")));
        let c = parse("[store]\npath = \"/var/lib/sekisho\"\nkey_file = \"/etc/sekisho/store.key\"\n").unwrap();
        assert_eq!(c.store.key_file, Some(PathBuf::from("/etc/sekisho/store.key")));
        let e = parse("[store]\npath = \"/var/lib/sekisho\"\nkey_file = \"/var/lib/sekisho/store.key\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("test.toml:3: store.key_file: /var/lib/sekisho/store.key is inside the data directory"),
            "{e}"
        );
        let e = parse("[store]\npath = \"/\"\n").unwrap_err().to_string();
        assert!(e.contains("store.path") && e.contains("set [store] key_file"), "{e}");
    }
}
