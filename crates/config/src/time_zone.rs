//! `time_zone`: the zone in which times are written for people (download notices, the portal,
//! the sender console, command output). An IANA name such as "Asia/Tokyo", read from the
//! system's zoneinfo files; unset, the system's zone (`TZ`, else /etc/localtime), else UTC.
//!
//! A name that does not resolve is kept with its problem so that `validate` can report it
//! with the key and line, like every other bad value.

use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use crate::error::InvalidValue;

/// A resolved time zone.
#[derive(Clone)]
pub struct TimeZone {
    /// As configured, or where the system's came from.
    name: String,
    /// None only when `name` did not resolve (then `validate` refuses the configuration).
    zone: Option<Arc<tz::TimeZone>>,
    /// Why `name` did not resolve.
    problem: Option<String>,
}

impl TimeZone {
    /// The zone with this IANA name ("Asia/Tokyo", "UTC"), from the system's zoneinfo files.
    pub fn named(name: &str) -> Result<TimeZone, InvalidValue> {
        Self::named_text(name).map_err(InvalidValue)
    }

    /// The same, the reason as a sentence.
    fn named_text(name: &str) -> Result<TimeZone, String> {
        let plausible = !name.is_empty()
            && !name.starts_with(['/', '.'])
            && !name.contains("..")
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if !plausible {
            return Err(format!("`{name}` is not an IANA time zone name such as \"Asia/Tokyo\""));
        }
        let zone = tz::TimeZone::from_posix_tz(name).map_err(|e| {
            format!("`{name}` is not a time zone known to this system (an IANA name such as \"Asia/Tokyo\"): {e}")
        })?;
        Ok(TimeZone { name: name.to_string(), zone: Some(Arc::new(zone)), problem: None })
    }

    /// Coordinated Universal Time.
    pub fn utc() -> TimeZone {
        TimeZone { name: "UTC".into(), zone: Some(Arc::new(tz::TimeZone::utc())), problem: None }
    }

    /// The system's zone: `TZ` if set, else /etc/localtime, else UTC.
    pub fn system() -> TimeZone {
        if let Ok(tz) = std::env::var("TZ") {
            let tz = tz.trim_start_matches(':');
            if let Ok(zone) = tz::TimeZone::from_posix_tz(tz) {
                return TimeZone { name: tz.to_string(), zone: Some(Arc::new(zone)), problem: None };
            }
        }
        let local = std::path::Path::new("/etc/localtime");
        if let Ok(zone) =
            std::fs::read(local).map_err(|_| ()).and_then(|b| tz::TimeZone::from_tz_data(&b).map_err(|_| ()))
        {
            // /etc/localtime links to /usr/share/zoneinfo/NAME on most systems.
            let name = std::fs::read_link(local)
                .ok()
                .and_then(|t| t.to_str().and_then(|t| t.split_once("zoneinfo/")).map(|(_, n)| n.to_string()))
                .unwrap_or_else(|| "/etc/localtime".into());
            return TimeZone { name, zone: Some(Arc::new(zone)), problem: None };
        }
        TimeZone::utc()
    }

    /// The name as configured, or where the system's zone came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why the configured name did not resolve, if it did not.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Seconds east of UTC at `unix` (daylight saving time included).
    pub fn offset_at(&self, unix: i64) -> i32 {
        self.zone.as_ref().and_then(|z| z.find_local_time_type(unix).ok()).map_or(0, |t| t.ut_offset())
    }

    /// `unix` as a date and time in this zone.
    pub fn at(&self, unix: i64) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        let offset = chrono::FixedOffset::east_opt(self.offset_at(unix))?;
        chrono::DateTime::from_timestamp(unix, 0).map(|t| t.with_timezone(&offset))
    }

    /// `unix` formatted with a chrono `format` in this zone; "" when out of range.
    pub fn format(&self, unix: i64, format: &str) -> String {
        self.at(unix).map(|t| t.format(format).to_string()).unwrap_or_default()
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone::system()
    }
}

impl std::fmt::Debug for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TimeZone({})", self.name)
    }
}

impl PartialEq for TimeZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(TimeZone::named(&name).unwrap_or_else(|problem| TimeZone { name, zone: None, problem: Some(problem.0) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-09 01:00:00 UTC.
    const AT: i64 = 1_796_778_000;

    #[test]
    fn tokyo_is_nine_hours_ahead_and_new_york_observes_daylight_saving_time() {
        let tokyo = TimeZone::named("Asia/Tokyo").unwrap();
        assert_eq!(tokyo.format(AT, "%Y-%m-%d %H:%M (UTC%:z)"), "2026-12-09 10:00 (UTC+09:00)");
        let ny = TimeZone::named("America/New_York").unwrap();
        assert_eq!(ny.offset_at(AT), -5 * 3600, "December: EST");
        assert_eq!(ny.offset_at(AT - 150 * 86_400), -4 * 3600, "July: EDT");
        assert_eq!(TimeZone::utc().format(AT, "%H:%M %:z"), "01:00 +00:00");
    }

    #[test]
    fn names_that_are_not_zones_or_are_paths_are_refused() {
        for bad in ["Asia/Tokio", "", "/etc/passwd", "../../etc/passwd", "Asia/Tokyo "] {
            assert!(TimeZone::named(bad).is_err(), "{bad:?}");
        }
    }
}
