//! `[portal]`: the web portal where recipients download files sent as links.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use serde::Deserialize;

use sekisho_policy::{Access, Assurance, CheckerAccess, Language, PasswordDelivery, ProxyHeader};

use crate::duration::Duration;

/// `[portal]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// Where the portal's HTTP server listens.
    pub address: SocketAddr,
    /// The portal's address as recipients reach it; links are made from it
    /// (`{url}/d/{token}`). Session cookies are `Secure` when it is `https://`.
    pub url: String,
    /// How a recipient opens a link's page, unless an `[[outbound.attachments]]` rule says
    /// otherwise: "otp" (a one-time code mailed to the recipient when asked for), "password"
    /// (a random password, see `password_delivery`),
    /// "passphrase"
    /// (agreed beforehand, `[[portal.passphrase]]`; recipients without one get "otp") or
    /// "none" (the link alone).
    pub access: Access,
    /// With `access = "password"`: "sender" (one password per message, mailed to the sender to
    /// pass on by phone or chat) or "separate-mail" (one per recipient, mailed to the recipient
    /// `password_delay` after the link).
    pub password_delivery: PasswordDelivery,
    /// How long after the link the password mail leaves (`password_delivery = "separate-mail"`).
    pub password_delay: Duration,
    /// How long a link works; its files are purged once every link of the message has expired
    /// (and `keep_expired` has passed since) or been revoked.
    pub link_expiry: Duration,
    /// How long the files of expired links stay sealed in the file store (downloadable by
    /// nobody) so the sender can send them again as a new link; 0: purged at expiry.
    pub keep_expired: Duration,
    /// Downloads of each file per recipient.
    pub max_downloads: u32,
    /// How long a one-time code is valid.
    pub code_lifetime: Duration,
    /// Wrong codes or passphrases that lock a link until the sender unlocks it.
    pub max_failures: u32,
    /// How long a portal session (the cookie a link is swapped for) lasts.
    pub session_lifetime: Duration,
    /// Requests per minute one client address may make.
    pub rate_limit: u32,
    /// Connections open at once; beyond them a connection is answered 503 and closed.
    pub max_connections: usize,
    /// A connection that moves no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once from one client address (an IPv6 /64); more are answered 429
    /// and closed. Trusted proxies are not capped.
    pub max_connections_per_client: usize,
    /// A request's headers must arrive within this long of its first byte (of the
    /// connection, for its first request); else 408 and the connection is closed.
    pub header_timeout: Duration,
    /// A whole request (headers and body) must arrive within this long of its first byte;
    /// else 408 and the connection is closed.
    pub request_timeout: Duration,
    /// Reverse proxies (addresses or CIDR blocks) whose `Forwarded` / `X-Forwarded-For`
    /// headers name the client: the rightmost address not itself a trusted proxy is the
    /// client for rate limits and the audit log. Empty: the socket peer is the client.
    #[serde(deserialize_with = "addresses_or_networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// The header those proxies set; the other one is never read.
    pub trusted_proxy_header: ProxyHeader,
    /// One-time codes one link may request per hour.
    pub max_codes_per_hour: u32,
    /// The least TLS assurance the one-time code mail may travel over ("none", "encrypted",
    /// "authenticated", "mta-sts", "dane"); below it the code mail waits and is retried, never
    /// sent weaker. Unset: whatever `[outbound]` requires for the recipient's domain.
    pub code_min_assurance: Option<Assurance>,
    /// Page language: "auto" (the browser's Accept-Language), "ja" or "en".
    pub language: Language,
    /// Mail the sender when a recipient first downloads a file of a link.
    pub notify_first_download: bool,
    /// Domain checks (`/check`, `/api/v1/check`) per minute one client address may ask for:
    /// each one connects to the domain's mail servers.
    pub check_rate_limit: u32,
    /// Who may use the TLS checker: "public", "signed-in" (senders signed in to the console)
    /// or "off".
    pub checker: CheckerAccess,
    /// Let the portal's checker contact loopback, private and other special-purpose
    /// addresses (RFC 6890); off, they are reported as "not a public address".
    pub checker_allow_private: bool,
    /// SHA-256 (hex) of the token that opens the message trace API
    /// (`Authorization: Bearer TOKEN`); empty: the API is off.
    pub api_token_sha256: String,
    /// Console accounts (`sekisho user add` names) that, once signed in with their password,
    /// also see the administration pages (the quarantine). Empty: nobody does.
    pub administrators: Vec<String>,
    /// Passphrases agreed beforehand: `[[portal.passphrase]] match = "bob@example.com" or
    /// "example.com", hash = "$argon2id$...", hint = "..."`.
    pub passphrase: Vec<Passphrase>,
    /// Bytes of files one sender may have kept in the portal's sealed store at once (not yet
    /// purged); a submitted message with files that would go over it is refused with 552.
    /// Unset: no limit.
    pub quota_per_sender: Option<crate::Size>,
    /// Bytes of files the portal's sealed store may hold for all senders together; a
    /// submitted message with files that would go over it is refused with 552. Unset: no
    /// limit.
    pub quota_total: Option<crate::Size>,
}

/// A passphrase agreed with a recipient address or domain, stored as an argon2 hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passphrase {
    /// A recipient address, or a domain for all its addresses.
    #[serde(rename = "match")]
    pub matches: String,
    /// PHC string (`sekisho links hash-passphrase` makes one).
    pub hash: String,
    /// Shown on the page so the recipient knows which passphrase is meant.
    #[serde(default)]
    pub hint: String,
}

/// A list of addresses (`"10.0.0.1"`, one host) or CIDR blocks (`"10.0.0.0/24"`).
fn addresses_or_networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("`{s}` is neither an IP address nor a CIDR block")))
        })
        .collect()
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            address: "127.0.0.1:8025".parse().expect("literal"),
            url: "http://127.0.0.1:8025".into(),
            access: Access::Otp,
            password_delivery: PasswordDelivery::Sender,
            password_delay: Duration::from_secs(300),
            link_expiry: Duration::from_secs(7 * 86_400),
            keep_expired: Duration::from_secs(0),
            max_downloads: 10,
            code_lifetime: Duration::from_secs(600),
            max_failures: 5,
            session_lifetime: Duration::from_secs(3600),
            rate_limit: 120,
            max_connections: 512,
            idle_timeout: Duration::from_secs(60),
            max_connections_per_client: 32,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            trusted_proxy_header: ProxyHeader::XForwardedFor,
            max_codes_per_hour: 5,
            code_min_assurance: None,
            language: Language::Auto,
            notify_first_download: false,
            check_rate_limit: 10,
            checker: CheckerAccess::Public,
            checker_allow_private: false,
            api_token_sha256: String::new(),
            administrators: Vec::new(),
            passphrase: Vec::new(),
            quota_per_sender: None,
            quota_total: None,
        }
    }
}

impl PortalConfig {
    /// The time before which a link must have expired for its files to be purged at `now`:
    /// `now` less `keep_expired`.
    pub fn purge_expired_before(&self, now: i64) -> i64 {
        now.saturating_sub(self.keep_expired.0.as_secs() as i64)
    }

    /// True when `ip` is one of `trusted_proxies`.
    pub fn trusted_proxy(&self, ip: IpAddr) -> bool {
        // An IPv4 proxy reaching a dual-stack listener shows as ::ffff:a.b.c.d.
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The passphrase agreed for `recipient`: its address first, else its domain.
    pub fn passphrase_for(&self, recipient: &str) -> Option<&Passphrase> {
        let recipient = recipient.to_ascii_lowercase();
        let domain = recipient.rsplit_once('@').map_or("", |(_, d)| d);
        self.passphrase
            .iter()
            .find(|p| p.matches.eq_ignore_ascii_case(&recipient))
            .or_else(|| self.passphrase.iter().find(|p| p.matches.eq_ignore_ascii_case(domain)))
    }
}
