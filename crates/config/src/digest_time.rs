//! `[inbound] quarantine_digest`: `false` (no digest, the default) or the time of day, in
//! `time_zone`, at which each recipient gets the list of what was held for them since the last
//! digest ("08:30").

use serde::{Deserialize, Deserializer};

/// When the quarantine digest is sent: never, or daily at a time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DigestTime(Option<u16>);

impl DigestTime {
    /// Daily at `hour:minute`; None for a time that is not one.
    pub fn at(hour: u16, minute: u16) -> Option<DigestTime> {
        (hour < 24 && minute < 60).then_some(DigestTime(Some(hour * 60 + minute)))
    }

    /// Minutes after midnight, or None when no digest is sent.
    pub fn minutes(self) -> Option<u16> {
        self.0
    }

    /// Reads "HH:MM".
    pub fn parse(text: &str) -> Option<DigestTime> {
        let (h, m) = text.split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        DigestTime::at(h.parse().ok()?, m.parse().ok()?)
    }
}

impl<'de> Deserialize<'de> for DigestTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DigestTime, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Time(String),
        }
        let wrong = || serde::de::Error::custom("must be false or a time of day such as \"08:30\"");
        match Raw::deserialize(d).map_err(|_: D::Error| wrong())? {
            Raw::Flag(false) => Ok(DigestTime(None)),
            Raw::Flag(true) => Err(wrong()),
            Raw::Time(t) => DigestTime::parse(&t).ok_or_else(wrong),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_of_day_or_nothing() {
        assert_eq!(DigestTime::parse("08:30").and_then(|d| d.minutes()), Some(510));
        assert_eq!(DigestTime::parse("8:05").and_then(|d| d.minutes()), Some(485));
        for bad in ["24:00", "08:60", "0830", "08:3", "", "a:bc"] {
            assert_eq!(DigestTime::parse(bad), None, "{bad}");
        }
        assert_eq!(DigestTime::default().minutes(), None);
    }
}
