//! The comparisons: confusable skeletons, the common swaps, edit distance, mixed scripts.

use unicode_security::MixedScript;

/// The UTS #39 skeleton of `s`, lower case on both sides (the confusables table maps `0` to
/// `O`, `1` to `l`, `rn` is the prototype of `m`).
pub(crate) fn skeleton(s: &str) -> String {
    unicode_security::skeleton(&s.to_lowercase()).collect::<String>().to_lowercase()
}

/// `s` with the common swaps undone: rn → m, vv → w, 0 → o, 1 → l.
pub(crate) fn swapped(s: &str) -> String {
    s.to_lowercase().replace("rn", "m").replace("vv", "w").replace('0', "o").replace('1', "l")
}

/// The edit distance that counts when `ours` (a sender's label) is near `theirs` (a protected
/// label): 1 for labels of at least 4 characters, 2 for labels of at least 8; None otherwise.
/// Short labels are too close to too many others to warn about.
pub(crate) fn near(ours: &str, theirs: &str) -> Option<u8> {
    let shortest = ours.chars().count().min(theirs.chars().count());
    let limit = match shortest {
        0..4 => return None,
        4..8 => 1,
        _ => 2,
    };
    let d = edit_distance(ours, theirs, limit)?;
    (d >= 1).then_some(d as u8)
}

/// The optimal string alignment distance between `a` and `b` (insertions, deletions,
/// substitutions, transpositions of neighbours), by character; None when it is over `limit`.
pub fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let width = b.len() + 1;
    let mut rows = vec![vec![0usize; width]; a.len() + 1];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i][0] = i;
        let mut smallest = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
            smallest = smallest.min(d);
        }
        if smallest > limit {
            return None;
        }
    }
    let d = rows[a.len()][b.len()];
    (d <= limit).then_some(d)
}

/// True when `label` mixes scripts no single writing system uses together (Latin with
/// Cyrillic, say); Japanese (Han, Hiragana, Katakana) and any script with digits and hyphens
/// are single-script.
pub(crate) fn mixed_script(label: &str) -> bool {
    !label.is_ascii() && !label.is_single_script()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("example", "exmaple", 2), Some(1), "a transposition is one edit");
        assert_eq!(edit_distance("example", "exampel", 2), Some(1));
        assert_eq!(edit_distance("example", "examples", 2), Some(1));
        assert_eq!(edit_distance("example", "sample", 2), Some(2));
        assert_eq!(edit_distance("example", "other", 2), None);
        assert_eq!(edit_distance("トヨタ", "トヨダ", 2), Some(1), "by character, not byte");
    }

    #[test]
    fn skeletons_and_swaps() {
        assert_eq!(skeleton("pаypal"), skeleton("paypal"), "Cyrillic а");
        assert_eq!(skeleton("examp1e"), skeleton("example"));
        assert_eq!(swapped("rnicrosoft"), "microsoft");
        assert_eq!(swapped("vvidget"), "widget");
        assert!(mixed_script("pаypal"));
        assert!(!mixed_script("日本語かなカナ"));
        assert!(!mixed_script("example"));
    }
}
