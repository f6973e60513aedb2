//! Keyword folding: the width and case part of Unicode NFKC, so "ＣＯＮＦＩＤＥＮＴＩＡＬ",
//! "Confidential" and "confidential" are one keyword, and so are "ｺﾞｸﾋ" and "ゴクヒ". Full-width
//! ASCII becomes ASCII, the ideographic space a space, half-width katakana (with a following
//! ﾞ or ﾟ composed) full-width katakana; then everything is lower-cased. Other characters are
//! left as they are (no other NFKC compatibility mapping is applied).

/// Half-width katakana U+FF61..=U+FF9F and the full-width characters they stand for.
const HALF_KANA: [char; 63] = [
    '。', '「', '」', '、', '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー', 'ア', 'イ', 'ウ',
    'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ', 'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ',
    'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ', 'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル',
    'レ', 'ロ', 'ワ', 'ン', '\u{3099}', '\u{309A}',
];

/// The voiced (`handakuten = false`) or semi-voiced form of a katakana, if it has one.
fn voiced(base: char, handakuten: bool) -> Option<char> {
    let c = base as u32;
    let step = if handakuten { 2 } else { 1 };
    let rows_ka_sa = (0x30AB..=0x30BD).contains(&c) && (c - 0x30AB).is_multiple_of(2);
    let row_ta = matches!(c, 0x30BF | 0x30C1 | 0x30C4 | 0x30C6 | 0x30C8);
    let row_ha = matches!(c, 0x30CF | 0x30D2 | 0x30D5 | 0x30D8 | 0x30DB);
    let target = match () {
        _ if row_ha => c + step,
        _ if handakuten => return None,
        _ if rows_ka_sa || row_ta => c + 1,
        _ if c == 0x30A6 => 0x30F4,
        _ => return None,
    };
    char::from_u32(target)
}

/// `text` folded for keyword comparison.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            0xFFE0 => '¢',
            0xFFE1 => '£',
            0xFFE5 => '¥',
            n @ 0xFF61..=0xFF9F => HALF_KANA[(n - 0xFF61) as usize],
            _ => c,
        };
        if matches!(c, '\u{3099}' | '\u{309A}')
            && let Some(last) = out.chars().next_back()
            && let Some(v) = voiced(last, c == '\u{309A}')
        {
            out.pop();
            out.push(v);
            continue;
        }
        match c as u32 {
            0..0x80 => out.push(c.to_ascii_lowercase()),
            // Kana, CJK ideographs and Hangul have no case: the common Japanese text skips
            // the case tables.
            0x3000..0xA000 | 0xAC00..0xD7A4 => out.push(c),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn width_and_case_fold_to_one_form() {
        assert_eq!(fold("ＣＯＮＦＩＤＥＮＴＩＡＬ"), "confidential");
        assert_eq!(fold("Confidential"), "confidential");
        assert_eq!(fold("ｺﾞｸﾋ"), "ゴクヒ");
        assert_eq!(fold("ﾊﾟｽﾜｰﾄﾞ"), "パスワード");
        assert_eq!(fold("ｳﾞ"), "ヴ");
        assert_eq!(fold("社外秘　１２３"), "社外秘 123");
        assert_eq!(fold("ÄBC"), "äbc");
        assert_eq!(fold("ﾞ"), "\u{3099}", "a lone mark stays a combining mark");
    }
}
