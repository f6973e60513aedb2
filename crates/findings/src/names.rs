//! The names of the organisation's people, for "an internal person's name on an external
//! address": a list (one name a line) or the directory's display names, compared after
//! folding case, width and spacing.

use std::collections::HashSet;

/// The organisation's people's names, folded ([`fold`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InternalNames {
    folded: HashSet<String>,
}

impl InternalNames {
    /// The names of a list file's text: one name a line, `#` starts a comment, blank lines
    /// are skipped. A name of two words also counts in the other order ("Taro Yamada",
    /// "Yamada Taro").
    pub fn parse(text: &str) -> InternalNames {
        let mut names = InternalNames::default();
        names.extend(text.lines().map(|l| l.split('#').next().unwrap_or_default()));
        names
    }

    /// Adds `names` (e.g. the directory's `displayName` values).
    pub fn extend<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            let words: Vec<&str> = name.split([' ', '\t', '\u{3000}']).filter(|w| !w.is_empty()).collect();
            if words.is_empty() {
                continue;
            }
            let folded = fold(name);
            // Names of one or two characters ("Ken") match too many outsiders.
            if folded.chars().count() < 2 || (folded.is_ascii() && folded.len() < 4) {
                continue;
            }
            self.folded.insert(folded);
            if let [first, last] = words.as_slice() {
                self.folded.insert(fold(&format!("{last} {first}")));
            }
        }
    }

    /// How many folded names are known.
    pub fn len(&self) -> usize {
        self.folded.len()
    }

    /// True when no name is known.
    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }

    /// True when `display_name` is one of the names (a comment in brackets after it, such as
    /// "山田 太郎 (営業部)", is left out).
    pub fn contains(&self, display_name: &str) -> bool {
        if self.folded.is_empty() {
            return false;
        }
        let bare = display_name.split(['(', '（', '[', '【', '<']).next().unwrap_or_default();
        let folded = fold(bare);
        !folded.is_empty() && self.folded.contains(&folded)
    }
}

/// `name` for comparison: lower case, full-width Latin letters and digits as ASCII, without
/// spaces, dots, commas, middle dots and quotes.
pub fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '.' | ',' | '・' | '"' | '\'' | '、' | '。'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_across_order_width_and_spacing() {
        let names = InternalNames::parse("# staff\n山田 太郎\nTaro Yamada\n\nKen\n佐藤花子 # sales\n");
        for shown in [
            "山田太郎",
            "山田　太郎",
            "山田 太郎 (営業部)",
            "taro yamada",
            "YAMADA, Taro",
            "Ｔａｒｏ Ｙａｍａｄａ",
            "佐藤 花子",
        ] {
            assert!(names.contains(shown), "{shown}");
        }
        for shown in ["山田 次郎", "Ken", "Yamada", "", "Taro Yamadas"] {
            assert!(!names.contains(shown), "{shown}");
        }
    }
}
