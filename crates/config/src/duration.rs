//! Durations written as in Postfix: "300s", "5m", "1h", "250ms", "2d", or a bare number of
//! seconds.

use serde::{Deserialize, Deserializer, de};

/// A configured duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// Parses "300s", "5m", "1h", "2d", "250ms" or "300".
    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits.parse().ok()?;
        let d = match unit.trim() {
            "ms" => std::time::Duration::from_millis(n),
            "" | "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n.checked_mul(60)?),
            "h" => std::time::Duration::from_secs(n.checked_mul(3600)?),
            "d" => std::time::Duration::from_secs(n.checked_mul(86_400)?),
            _ => return None,
        };
        Some(Duration(d))
    }
}

/// A value written as a bare number or as text with a unit ("300", "5m", "25MB").
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum NumberOrText {
    Number(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => Ok(Duration::from_secs(n)),
            NumberOrText::Text(t) => Duration::parse(&t).ok_or_else(|| {
                de::Error::custom(format!("`{t}` is not a duration; write e.g. \"300s\", \"5m\", \"1h\", \"250ms\""))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(Duration::parse("300s"), Some(Duration::from_secs(300)));
        assert_eq!(Duration::parse("5m"), Some(Duration::from_secs(300)));
        assert_eq!(Duration::parse("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(Duration::parse("90"), Some(Duration::from_secs(90)));
        assert_eq!(Duration::parse("250ms").unwrap().0.as_millis(), 250);
        assert_eq!(Duration::parse("5 fortnights"), None);
        assert_eq!(Duration::parse("m"), None);
    }
}
