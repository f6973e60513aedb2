//! `[antivirus]`: the clamd that scans every inbound attachment and archive entry.

use sekisho_antivirus::{ClamdAddress, ClamdSettings};
use serde::{Deserialize, Deserializer, de};

use crate::{Duration, Size};

/// `[antivirus]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AntivirusConfig {
    /// clamd's socket: "unix:/run/clamav/clamd.ctl", "127.0.0.1:3310" or "[::1]:3310". Unset:
    /// no antivirus, and inbound files are classified Error ("not scanned"), never Safe.
    #[serde(deserialize_with = "clamd_address")]
    pub clamd: Option<ClamdAddress>,
    /// The longest wait for a connection to clamd.
    pub connect_timeout: Duration,
    /// The longest wait for one file: sending it and clamd's answer.
    pub scan_timeout: Duration,
    /// Most files scanned at once (and connections to clamd kept); more wait their turn.
    pub max_concurrent: usize,
    /// The largest file sent to clamd; a larger one is not scanned (Error). clamd's
    /// `StreamMaxLength` must be at least this.
    pub max_stream: Size,
    /// Over a Unix socket, each file goes to clamd as the descriptor of a memory file
    /// (`FILDES`) instead of streamed (`INSTREAM`); false streams every file.
    pub pass_descriptors: bool,
}

impl Default for AntivirusConfig {
    fn default() -> Self {
        AntivirusConfig {
            clamd: None,
            connect_timeout: Duration::from_secs(5),
            scan_timeout: Duration::from_secs(60),
            max_concurrent: 8,
            max_stream: Size(25 << 20),
            pass_descriptors: true,
        }
    }
}

impl AntivirusConfig {
    /// The client's settings, or `None` when no clamd is configured.
    pub fn settings(&self) -> Option<ClamdSettings> {
        let address = self.clamd.clone()?;
        Some(ClamdSettings {
            address,
            connect_timeout: self.connect_timeout.0,
            scan_timeout: self.scan_timeout.0,
            max_concurrent: self.max_concurrent,
            max_stream: self.max_stream.0,
            pass_descriptors: self.pass_descriptors,
        })
    }

    /// The first key with a value that cannot work, and why.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        for (key, zero) in [
            ("antivirus.connect_timeout", self.connect_timeout.0.is_zero()),
            ("antivirus.scan_timeout", self.scan_timeout.0.is_zero()),
        ] {
            if zero {
                return Some((key, "must be longer than 0, e.g. \"5s\"".into()));
            }
        }
        if self.max_concurrent == 0 {
            return Some(("antivirus.max_concurrent", "must be at least 1".into()));
        }
        if self.max_stream.0 == 0 {
            return Some((
                "antivirus.max_stream",
                "must be at least 1 byte, e.g. \"25MB\" (and clamd's StreamMaxLength at least as high)".into(),
            ));
        }
        None
    }
}

fn clamd_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ClamdAddress>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(|e: sekisho_antivirus::AddressError| de::Error::custom(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::{Config, ConfigError};

    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn without_clamd_there_is_no_antivirus_and_the_defaults_hold() {
        let c = parse("").unwrap();
        assert!(c.antivirus.clamd.is_none());
        assert!(c.antivirus.settings().is_none(), "no client without an address");
        assert_eq!(c.antivirus.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.antivirus.scan_timeout, Duration::from_secs(60));
        assert_eq!(c.antivirus.max_concurrent, 8);
        assert_eq!(c.antivirus.max_stream, Size(25 * 1024 * 1024), "clamd.conf's StreamMaxLength 25M");
        assert!(c.antivirus.pass_descriptors, "descriptors over a Unix socket");
        assert!(Config::embedded().antivirus.clamd.is_none(), "the embedded default scans nothing");
    }

    #[test]
    fn a_configured_clamd_gives_the_clients_settings() {
        let c = parse(
            "[antivirus]\nclamd = \"unix:/run/clamav/clamd.ctl\"\nconnect_timeout = \"2s\"\n\
             scan_timeout = \"90s\"\nmax_concurrent = 4\nmax_stream = \"50MB\"\n",
        )
        .unwrap();
        let s = c.antivirus.settings().unwrap();
        assert_eq!(s.address, ClamdAddress::Unix(PathBuf::from("/run/clamav/clamd.ctl")));
        assert_eq!(s.connect_timeout, std::time::Duration::from_secs(2));
        assert_eq!(s.scan_timeout, std::time::Duration::from_secs(90));
        assert_eq!(s.max_concurrent, 4);
        assert_eq!(s.max_stream, 50 << 20);
        assert!(s.pass_descriptors);
        let s = parse("[antivirus]\nclamd = \"unix:/run/clamav/clamd.ctl\"\npass_descriptors = false\n").unwrap();
        assert!(!s.antivirus.settings().unwrap().pass_descriptors);
        let c = parse("[antivirus]\nclamd = \"[::1]:3310\"\nmax_stream = 1000\n").unwrap();
        assert_eq!(c.antivirus.clamd, Some(ClamdAddress::Tcp("[::1]:3310".parse().unwrap())));
        assert_eq!(c.antivirus.max_stream, Size(1000), "a bare number is bytes");
    }

    #[test]
    fn a_bad_clamd_address_names_the_line_and_says_how_to_write_it() {
        let e = error("hostname = \"gw\"\n[antivirus]\nclamd = \"localhost:3310\"\n");
        assert!(e.starts_with("test.toml:3"), "{e}");
        assert!(e.contains("clamd") && e.contains("`localhost:3310` is not a clamd address"), "{e}");
        assert!(e.contains("unix:/run/clamav/clamd.ctl"), "{e}");
        let e = error("[antivirus]\nclamd = \"unix:clamd.ctl\"\n");
        assert!(e.starts_with("test.toml:2") && e.contains("not an absolute path"), "{e}");
    }

    #[test]
    fn values_that_cannot_work_name_the_key_and_line() {
        let e = error("[antivirus]\nclamd = \"127.0.0.1:3310\"\nmax_concurrent = 0\n");
        assert_eq!(e, "test.toml:3: antivirus.max_concurrent: must be at least 1");
        let e = error("[antivirus]\nscan_timeout = \"0\"\n");
        assert_eq!(e, "test.toml:2: antivirus.scan_timeout: must be longer than 0, e.g. \"5s\"");
        let e = error("[antivirus]\n\nconnect_timeout = \"0s\"\n");
        assert!(e.starts_with("test.toml:3: antivirus.connect_timeout"), "{e}");
        let e = error("[antivirus]\nmax_stream = \"0MB\"\n");
        assert!(e.starts_with("test.toml:2: antivirus.max_stream") && e.contains("StreamMaxLength"), "{e}");
        let e = error("[antivirus]\nmax_stream = \"25 megabytes\"\n");
        assert!(e.contains("test.toml:2") && e.contains("is not a size"), "{e}");
        let e = error("[antivirus]\nscan_timeout = \"a minute\"\n");
        assert!(e.contains("test.toml:2") && e.contains("is not a duration"), "{e}");
        let e = error("[antivirus]\nclamd_socket = \"unix:/x\"\n");
        assert!(e.contains("test.toml:2") && e.contains("clamd_socket"), "{e}");
    }
}
