//! The connecting client's country from the administrator's MaxMind-format database
//! (`[findings] country_database`: GeoLite2-Country, GeoIP2-Country, DB-IP's), read once at
//! start and looked up in memory for each MX message.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, geoip2};

use crate::error::ReceiveError;

/// A country database in memory.
pub(crate) struct CountryDb {
    reader: Reader<Vec<u8>>,
}

/// What the database says of an address: its ISO code, and its English and Japanese names
/// when it has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub code: String,
    pub name_en: Option<String>,
    pub name_ja: Option<String>,
}

impl CountryDb {
    /// Reads the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<CountryDb, ReceiveError> {
        let bad = |message: String| ReceiveError::CountryDatabase { path: path.to_path_buf(), message };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let reader = Reader::from_source(bytes).map_err(|e| bad(e.to_string()))?;
        Ok(CountryDb { reader })
    }

    /// The country of `ip` (the represented or registered country when no other is given);
    /// None when the database does not know it.
    pub(crate) fn lookup(&self, ip: IpAddr) -> Option<Located> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let found = self.reader.lookup(ip).ok()?;
        let record: geoip2::Country<'_> = found.decode().ok()??;
        let country = if record.country.iso_code.is_some() { &record.country } else { &record.registered_country };
        let code = country.iso_code?.to_ascii_uppercase();
        let names = &country.names;
        Some(Located { code, name_en: names.english.map(str::to_string), name_ja: names.japanese.map(str::to_string) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_no_database_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("GeoLite2-Country.mmdb");
        std::fs::write(&path, b"not a MaxMind database").unwrap();
        let Err(e) = CountryDb::open(&path) else { panic!("accepted") };
        assert!(e.to_string().starts_with(&format!("[findings] country_database {}: ", path.display())), "{e}");
        let Err(e) = CountryDb::open(&dir.path().join("missing.mmdb")) else { panic!("accepted") };
        assert!(e.to_string().contains("missing.mmdb"), "{e}");
    }
}
