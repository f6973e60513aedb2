//! Sizes written as in clamd.conf: "25MB" (or "25M", "25MiB"), "512KB", "1GB", or a bare
//! number of bytes. Units count in 1024s, as clamd's `StreamMaxLength` does, so
//! `max_stream = "25MB"` and `StreamMaxLength 25M` are the same number of bytes.

use serde::{Deserialize, Deserializer, de};

use crate::duration::NumberOrText;

/// A configured number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl Size {
    /// Parses "25MB", "25M", "25MiB", "512KB", "1GB", "100B" or "100".
    pub fn parse(text: &str) -> Option<Size> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits.parse().ok()?;
        let shift = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 0,
            "K" | "KB" | "KIB" => 10,
            "M" | "MB" | "MIB" => 20,
            "G" | "GB" | "GIB" => 30,
            _ => return None,
        };
        n.checked_mul(1 << shift).map(Size)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => Ok(Size(n)),
            NumberOrText::Text(t) => Size::parse(&t).ok_or_else(|| {
                de::Error::custom(format!(
                    "`{t}` is not a size; write e.g. \"25MB\", \"512KB\", \"1GB\" (1 MB = 1024 KB)"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_count_in_1024s_like_clamd() {
        assert_eq!(Size::parse("25MB"), Some(Size(25 << 20)));
        assert_eq!(Size::parse("25M"), Some(Size(25 << 20)));
        assert_eq!(Size::parse("25MiB"), Some(Size(25 << 20)));
        assert_eq!(Size::parse("512KB"), Some(Size(512 << 10)));
        assert_eq!(Size::parse("1gb"), Some(Size(1 << 30)));
        assert_eq!(Size::parse("100"), Some(Size(100)));
        assert_eq!(Size::parse("100B"), Some(Size(100)));
        assert_eq!(Size::parse("25 MB"), Some(Size(25 << 20)));
        for bad in ["", "MB", "2.5MB", "25TB", "-1", "25 megabytes", "99999999999999999999GB"] {
            assert_eq!(Size::parse(bad), None, "{bad}");
        }
    }
}
