//! The passwords a message carries: what follows a password label ("パスワード：", "PW:",
//! "Password is"), a token alone on the line after such a label, and, weaker, short tokens
//! mixing letters and digits. Emotet and its successors put the password of the attached
//! archive in the body; this finds it without any knowledge of the archive.

/// At most this many candidates are returned.
pub const MAX_CANDIDATES: usize = 20;

/// Only this many bytes from the start of the text are looked at: the password is near the
/// top of such mails (a hijacked thread is quoted below it), and the work stays bounded.
const SCAN_BYTES: usize = 64 * 1024;

/// Longest candidate, in characters.
const MAX_LEN: usize = 64;

/// How far after a label (in characters) its separator may be: "Password for the attached
/// file:" puts a few words between them.
const SEPARATOR_WINDOW: usize = 40;

/// Labels looked at, over the whole text: a mail has a few, a hostile text thousands.
const MAX_LABELS: usize = 64;

/// Lines after a label line that may hold the password alone.
const LINES_AFTER_LABEL: usize = 2;

/// Labels, in the normalised form (half-width, lower case), longest first so that
/// "解凍パスワード" wins over "パスワード". `word` labels must not follow an ASCII letter.
const LABELS: &[(&str, bool)] = &[
    ("解凍パスワード", false),
    ("zipパスワード", false),
    ("パスワード", false),
    ("ﾊﾟｽﾜｰﾄﾞ", false),
    ("暗証番号", false),
    ("パスコード", false),
    ("解凍キー", false),
    ("password", true),
    ("passwort", true),
    ("passcode", true),
    ("pass word", true),
    ("passwd", true),
    ("pass", true),
    ("pwd", true),
    ("p/w", true),
    ("pw", true),
    ("パス", false),
];

/// What may stand between a label and its value. Each one within reach of the label is tried
/// in order; the first followed by an acceptable value gives it ("パスワードは以下です：X").
const SEPARATORS: &[&str] = &[":", "=", "は", "】", "]", "→", "->", " is ", " - "];

/// Brackets a password may be written in, with their closing forms.
const QUOTES: &[(char, char)] = &[
    ('「', '」'),
    ('『', '』'),
    ('【', '】'),
    ('"', '"'),
    ('\'', '\''),
    ('“', '”'),
    ('‘', '’'),
    ('(', ')'),
    ('[', ']'),
    ('<', '>'),
    ('《', '》'),
    ('〈', '〉'),
    ('`', '`'),
];

/// Japanese words that end a sentence after the password ("abc123です。").
const TRAILERS: &[&str] = &["でございます", "となります", "になります", "です", "まで"];

/// From a message's text (plain text, or HTML with its tags removed), the strings that are
/// likely the password of an attached archive, most likely first, deduplicated, at most
/// [`MAX_CANDIDATES`]: values after a label, then tokens alone on a line after a label line,
/// then short tokens mixing ASCII letters and digits anywhere. A value written in full-width
/// ASCII (ＡＢＣ１２３) is followed by its half-width form (ABC123). Only the first 64 KiB are
/// read.
///
/// ```
/// use sekisho_inspect::unlock::password_candidates;
///
/// let body = "添付ファイルをご確認ください。\nパスワード：Kx7#pQ2v\n";
/// assert_eq!(password_candidates(body)[0], "Kx7#pQ2v");
/// ```
pub fn password_candidates(text: &str) -> Vec<String> {
    let text = head(text, SCAN_BYTES);
    let patterns = Patterns::new();
    let lines: Vec<Line> = text.lines().map(Line::new).collect();
    let mut strong = Candidates::default();
    let mut below = Candidates::default();
    let mut labels_left = MAX_LABELS;
    for (i, line) in lines.iter().enumerate() {
        if strong.full() || labels_left == 0 {
            break;
        }
        let ends = line.labels(&patterns, labels_left);
        labels_left -= ends.len();
        for label_end in ends {
            if let Some(forms) = line.value_after(label_end, &patterns) {
                for value in forms {
                    strong.add(value);
                }
            } else if !below.full() && line.announces(label_end) {
                // The label announces a value that is not on its line: a token alone below.
                let next = lines[i + 1..].iter().filter(|l| !l.is_blank()).take(LINES_AFTER_LABEL);
                if let Some(token) = next.filter_map(|l| l.alone(&patterns)).next() {
                    below.add(token);
                }
            }
        }
    }
    let mut out = strong;
    out.extend(below);
    for line in &lines {
        if out.full() {
            break;
        }
        for token in line.mixed_tokens() {
            out.add(token);
        }
    }
    out.0.truncate(MAX_CANDIDATES);
    out.0
}

/// The labels, separators and sentence endings as characters, made once per call.
struct Patterns {
    labels: Vec<(Vec<char>, bool)>,
    label_starts: Vec<char>,
    separators: Vec<Vec<char>>,
    trailers: Vec<Vec<char>>,
}

impl Patterns {
    fn new() -> Self {
        let chars = |s: &str| s.chars().collect::<Vec<char>>();
        Patterns {
            labels: LABELS.iter().map(|(label, word)| (chars(label), *word)).collect(),
            label_starts: LABELS.iter().filter_map(|(label, _)| label.chars().next()).collect(),
            separators: SEPARATORS.iter().map(|s| chars(s)).collect(),
            trailers: TRAILERS.iter().map(|s| chars(s)).collect(),
        }
    }
}

/// Candidates in order, without duplicates, each followed by its half-width form.
#[derive(Default)]
struct Candidates(Vec<String>);

impl Candidates {
    fn full(&self) -> bool {
        self.0.len() >= MAX_CANDIDATES
    }

    fn add(&mut self, value: Vec<char>) {
        let original: String = value.iter().collect();
        let half: String = value.iter().map(|&c| half_width(c)).collect();
        for s in [original, half] {
            if !s.is_empty() && !self.0.contains(&s) {
                self.0.push(s);
            }
        }
    }

    fn extend(&mut self, other: Candidates) {
        for s in other.0 {
            if !self.0.contains(&s) {
                self.0.push(s);
            }
        }
    }
}

/// One line: its characters as written, and normalised (half-width, lower case) one for one,
/// so that a position in one is the same position in the other.
struct Line {
    raw: Vec<char>,
    norm: Vec<char>,
}

impl Line {
    fn new(text: &str) -> Self {
        let raw: Vec<char> = text.chars().collect();
        let norm = raw.iter().map(|&c| half_width(c).to_ascii_lowercase()).collect();
        Line { raw, norm }
    }

    fn is_blank(&self) -> bool {
        self.norm.iter().all(|c| c.is_whitespace())
    }

    /// Where each label on the line ends, at most `max`; a label inside a longer one is not
    /// counted again.
    fn labels(&self, p: &Patterns, max: usize) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut i = 0;
        while i < self.norm.len() && ends.len() < max {
            if !p.label_starts.contains(&self.norm[i]) {
                i += 1;
                continue;
            }
            let here = &self.norm[i..];
            let found = p.labels.iter().find_map(|(label, word)| {
                let bounded = !word || i == 0 || !self.norm[i - 1].is_ascii_alphabetic();
                (bounded && here.starts_with(label)).then_some(label.len())
            });
            match found {
                Some(len) => {
                    ends.push(i + len);
                    i += len;
                }
                None => i += 1,
            }
        }
        ends
    }

    /// The value written after the label ending at `start`: after a separator within reach
    /// (the first that is followed by an acceptable value), in brackets or up to the next
    /// space. Without a separator, a value right after a space must hold a digit or a sign
    /// ("パスワード　qW3eR5", but not "password has").
    fn value_after(&self, start: usize, p: &Patterns) -> Option<Vec<Vec<char>>> {
        let window_end = (start + SEPARATOR_WINDOW).min(self.norm.len());
        let mut after_separators = Vec::new();
        for i in start..window_end {
            for sep in &p.separators {
                if self.norm[i..].starts_with(sep) {
                    after_separators.push((i + sep.len(), matches!(sep[0], ':' | '=')));
                }
            }
        }
        if after_separators.is_empty() {
            let spaced = self.norm.get(start).is_some_and(|c| c.is_whitespace());
            return self
                .value_at(start, false, p)
                .filter(|forms| spaced && forms[0].iter().any(|&c| !half_width(c).is_alphabetic()));
        }
        after_separators.sort_unstable();
        after_separators.into_iter().find_map(|(at, strong)| self.value_at(at, strong, p))
    }

    /// The value starting at `at` (after spaces), if acceptable; when a sentence's end was
    /// cut off it ("abc123." gives "abc123"), the whole token follows as a weaker form.
    fn value_at(&self, at: usize, strong: bool, p: &Patterns) -> Option<Vec<Vec<char>>> {
        let mut i = at;
        while i < self.norm.len() && self.norm[i].is_whitespace() {
            i += 1;
        }
        let rest = &self.raw[i..];
        if let Some(value) = quoted(rest, &self.norm[i..]) {
            return acceptable(&value, strong, true).then(|| vec![value]);
        }
        let whole = token(rest);
        let value = trim_sentence(whole.clone(), p);
        // After "は" or "is", Japanese is the rest of the sentence, not a password.
        let ascii_start = value.first().is_some_and(|&c| half_width(c).is_ascii());
        if !acceptable(&value, strong, false) || !(strong || ascii_start) {
            return None;
        }
        let mut forms = vec![value];
        if whole != forms[0] && whole.iter().all(|&c| half_width(c).is_ascii()) && acceptable(&whole, strong, false) {
            forms.push(whole);
        }
        Some(forms)
    }

    /// Whether the line, after the label ending at `end`, says the value comes below: nothing
    /// more, a closing bracket or colon, or words such as "below" or "以下".
    fn announces(&self, end: usize) -> bool {
        if self.norm.len() - end > SEPARATOR_WINDOW {
            return false;
        }
        let rest: String = self.norm[end..].iter().collect();
        let rest = rest.trim();
        rest.is_empty()
            || rest.ends_with([':', '】', ']', '>', '→'])
            || ["以下", "下記", "次の", "below", "follow"].iter().any(|w| rest.contains(w))
    }

    /// The line's only token, when it holds just one (maybe in brackets).
    fn alone(&self, p: &Patterns) -> Option<Vec<char>> {
        let start = self.norm.iter().position(|c| !c.is_whitespace())?;
        let end = self.norm.iter().rposition(|c| !c.is_whitespace())? + 1;
        let raw = &self.raw[start..end];
        if let Some(value) = quoted(raw, &self.norm[start..end]).filter(|v| v.len() + 2 == raw.len()) {
            return acceptable(&value, false, true).then_some(value);
        }
        let value = trim_sentence(raw.to_vec(), p);
        acceptable(&value, false, false).then_some(value)
    }

    /// Tokens of 6 to 32 ASCII characters (half-width after normalising) that mix letters and
    /// digits and look like neither an address nor a file name. `:` and `=` split tokens, so
    /// "PW:abc123" gives "abc123".
    fn mixed_tokens(&self) -> Vec<Vec<char>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.norm.len() {
            if !is_token_char(self.norm[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < self.norm.len() && is_token_char(self.norm[i]) {
                i += 1;
            }
            let norm = &self.norm[start..i];
            let letters = norm.iter().any(|c| c.is_ascii_alphabetic());
            let digits = norm.iter().any(|c| c.is_ascii_digit());
            if (6..=32).contains(&norm.len()) && letters && digits && !looks_like_a_name(norm) {
                out.push(self.raw[start..i].to_vec());
            }
        }
        out
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '(' | ')' | '[' | ']' | '<' | '>' | ',' | '`' | ':' | '=')
}

/// Addresses, links, file names and identifiers with a fixed shape are not passwords.
fn looks_like_a_name(norm: &[char]) -> bool {
    let s: String = norm.iter().collect();
    if s.contains('@') || s.starts_with("//") || s.starts_with("www.") {
        return true;
    }
    // A file name: a dot, then a 2 to 4 letter extension at the end.
    if let Some(dot) = s.rfind('.') {
        let ext = &s[dot + 1..];
        if (2..=4).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphabetic()) {
            return true;
        }
    }
    false
}

/// The text inside a bracket pair that opens `raw`, when it closes on the line.
fn quoted(raw: &[char], norm: &[char]) -> Option<Vec<char>> {
    let first = *norm.first()?;
    let close = QUOTES.iter().find(|(open, _)| *open == first)?.1;
    let reach = norm.len().min(MAX_LEN + 2);
    let end = norm[1..reach].iter().position(|&c| c == close)? + 1;
    (end > 1).then(|| raw[1..end].to_vec())
}

/// Up to the first space (or ideographic space, or Japanese comma or full stop).
fn token(raw: &[char]) -> Vec<char> {
    raw.iter().take(MAX_LEN + 1).take_while(|&&c| !c.is_whitespace() && !matches!(c, '、' | '。')).copied().collect()
}

/// Drops what ends a sentence after a password: "です", then a trailing full stop, comma,
/// closing parenthesis or semicolon (an exclamation mark is kept: passwords end with one
/// more often than such mails end a line with one).
/// An ASCII value running into Japanese text ("abc123です") is cut where the Japanese starts.
fn trim_sentence(mut value: Vec<char>, p: &Patterns) -> Vec<char> {
    let ascii_start = value.first().is_some_and(|&c| half_width(c).is_ascii());
    if ascii_start && let Some(cut) = value.iter().position(|&c| !half_width(c).is_ascii()) {
        value.truncate(cut);
    }
    for t in &p.trailers {
        if value.len() > t.len() && value.ends_with(t) {
            value.truncate(value.len() - t.len());
            break;
        }
    }
    while value.len() > 1 && matches!(value.last(), Some('.' | '。' | ',' | '、' | ')' | '）' | ';')) {
        value.pop();
    }
    value
}

/// Whether a value may be a password: 1 to 64 characters, spaces only inside brackets; one
/// without any ASCII letter or digit ("別途お送りします") only after an explicit ":" or "=".
fn acceptable(value: &[char], strong_separator: bool, quoted: bool) -> bool {
    if value.is_empty() || value.len() > MAX_LEN || value.iter().any(|c| c.is_control()) {
        return false;
    }
    if !quoted && value.iter().any(|c| c.is_whitespace()) {
        return false;
    }
    let ascii_alnum = value.iter().any(|&c| half_width(c).is_ascii_alphanumeric());
    if !ascii_alnum && !strong_separator {
        return false;
    }
    // Words that follow a label but are no password.
    let lower: String = value.iter().map(|&c| half_width(c).to_ascii_lowercase()).collect();
    !matches!(lower.as_str(), "is" | "for" | "the" | "to" | "of" | "will" | "protected" | "別途" | "別メール")
}

/// Full-width ASCII (U+FF01 to U+FF5E) as half-width, the ideographic space as a space.
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// The first `max` bytes of `text`, cut at a character boundary.
fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(body: &str) -> String {
        password_candidates(body).into_iter().next().unwrap_or_default()
    }

    /// Mails in the shape Emotet and its successors send (a reply in a hijacked thread, an
    /// invoice, a notice), and the ordinary PPAP mails of Japanese companies.
    #[test]
    fn the_password_of_japanese_mails_comes_first() {
        let invoice = "\
株式会社サンプル
経理部 山田様

いつもお世話になっております。
12月分の請求書を送付いたします。

添付ファイル名：請求書_20261204.zip
解凍パスワード：Kx7#pQ2v

よろしくお願いいたします。
鈴木 一郎 (TEL: 03-1234-5678)";
        assert_eq!(first(invoice), "Kx7#pQ2v");

        let separate = "\
先ほどお送りしたファイルのパスワードをお知らせします。

【パスワード】
Ab9xQ2Lm

以上、よろしくお願いします。";
        assert_eq!(first(separate), "Ab9xQ2Lm");

        let reply = "\
Re: 【至急】お見積りの件

ご確認をお願いします。
パスワードは「9Fk2LmQ」です。

> 2026/12/01 10:15 田中様:
> 先日の件、よろしくお願いいたします。";
        assert_eq!(first(reply), "9Fk2LmQ");

        assert_eq!(first("パスワードはabc123です。"), "abc123");
        assert_eq!(first("パスワードは以下の通りです：zP4#q7"), "zP4#q7");
        assert_eq!(first("暗証番号：4831\n"), "4831");
        assert_eq!(first("ﾊﾟｽﾜｰﾄﾞ: w8Rt5y"), "w8Rt5y");
        assert_eq!(first("パスワード　qW3eR5\n"), "qW3eR5");
    }

    #[test]
    fn the_password_of_english_mails_comes_first() {
        let invoice = "\
Hello,

Please see the attached invoice INV-20261204.
The password for the attached file is: 7kq2Xz

Regards,
John";
        assert_eq!(first(invoice), "7kq2Xz");
        assert_eq!(first("Hi,\nThe password is 'Tr0ub4dor&3'.\nThanks"), "Tr0ub4dor&3");
        assert_eq!(first("Document password - 5Q2T9w\n"), "5Q2T9w");
        assert_eq!(first("Archive Password:\n\n  Qz81xW  \n\nBest regards"), "Qz81xW");
        assert_eq!(first("PW: 2468ace\nFile: Invoice_Dec.zip"), "2468ace");
        assert_eq!(first("pass: \"open sesame\""), "open sesame");
        assert_eq!(first("Your file is attached. Pwd=K2m9Q!"), "K2m9Q!");
    }

    #[test]
    fn full_width_values_are_followed_by_their_half_width_form() {
        assert_eq!(password_candidates("PW：ｔｅｓｔ１２３\n"), ["ｔｅｓｔ１２３", "test123"]);
        assert_eq!(password_candidates("パスワード：ＡＢＣ１２３"), ["ＡＢＣ１２３", "ABC123"]);
    }

    #[test]
    fn a_full_stop_after_a_value_is_cut_but_tried_too() {
        assert_eq!(password_candidates("The password is abc123."), ["abc123", "abc123."]);
        assert_eq!(password_candidates("パスワード：abc123。"), ["abc123"]);
    }

    #[test]
    fn labelled_values_come_before_tokens_that_only_look_like_passwords() {
        let body = "Order ref AB12CD34, customer X9Y8Z7\n\nPassword:\nKx7#pQ2v\n";
        assert_eq!(password_candidates(body), ["Kx7#pQ2v", "AB12CD34", "X9Y8Z7"]);
    }

    #[test]
    fn sentences_after_a_label_are_no_password() {
        assert_eq!(password_candidates("パスワードは別途お送りします。"), Vec::<String>::new());
        assert_eq!(password_candidates("Your password has been reset.\nThanks,\nIT"), Vec::<String>::new());
        assert_eq!(password_candidates("Password protected file attached."), Vec::<String>::new());
        // File names, addresses and links are not taken for mixed tokens.
        let body = "請求書_20261204.zip を送ります。 mail: yamada2026@example.jp https://example.jp/a1b2c3";
        assert_eq!(password_candidates(body), Vec::<String>::new());
    }

    #[test]
    fn candidates_are_deduplicated_and_capped() {
        assert_eq!(password_candidates("PW: abc123\npassword: abc123\nabc123"), ["abc123"]);
        let many: String = (0..100).map(|i| format!("PW: secret{i}\n")).collect();
        let candidates = password_candidates(&many);
        assert_eq!(candidates.len(), MAX_CANDIDATES);
        assert_eq!(candidates[0], "secret0");
    }

    #[test]
    fn only_the_head_of_a_large_text_is_read() {
        let mut big = "lorem ipsum dolor sit amet ".repeat(40_000);
        big.push_str("\nPassword: late123\n");
        assert!(big.len() > 1_000_000);
        let start = std::time::Instant::now();
        assert_eq!(password_candidates(&big), Vec::<String>::new());
        // Hostile shapes: one line of labels, one line without a space.
        assert_eq!(password_candidates(&"パスワード：".repeat(200_000)), Vec::<String>::new());
        assert_eq!(password_candidates(&"pw:x".repeat(300_000)).len(), 0);
        // Release takes about 1 ms each (BENCHMARKS.md); a debug build far less than this.
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
    }
}
