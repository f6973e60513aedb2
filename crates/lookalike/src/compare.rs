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
/// label), both as characters: 1 for labels of at least 4 characters, 2 for labels of at least
/// 8; None otherwise. Short labels are too close to too many others to warn about.
pub(crate) fn near(ours: &[char], theirs: &[char]) -> Option<u8> {
    let limit = match ours.len().min(theirs.len()) {
        0..4 => return None,
        4..8 => 1,
        _ => 2,
    };
    let d = distance(ours, theirs, limit)?;
    (d >= 1).then_some(d as u8)
}

/// How many of a label's characters fall in each of 32 buckets: two labels within `k` edits
/// differ by at most `2k` in these counts (a substitution moves one character from a bucket to
/// another, an insertion or deletion one, a transposition none), a quick test before
/// [`near`].
pub(crate) fn counts(label: &[char]) -> [u8; 32] {
    let mut counts = [0u8; 32];
    for &c in label {
        let bucket = &mut counts[(c as u32 % 32) as usize];
        *bucket = bucket.saturating_add(1);
    }
    counts
}

/// True when labels with `a` and `b` as [`counts`] may be within `limit` edits.
pub(crate) fn may_be_near(a: &[u8; 32], b: &[u8; 32], limit: usize) -> bool {
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as usize).sum::<usize>() <= 2 * limit
}

/// The optimal string alignment distance between `a` and `b` (insertions, deletions,
/// substitutions, transpositions of neighbours), by character; None when it is over `limit`.
pub fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    distance(&a, &b, limit)
}

/// [`edit_distance`] on characters, with three rows of the table and an early end once every
/// cell of a row is over `limit`.
fn distance(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        let mut smallest = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
            smallest = smallest.min(d);
        }
        if smallest > limit {
            return None;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    let d = previous[b.len()];
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
