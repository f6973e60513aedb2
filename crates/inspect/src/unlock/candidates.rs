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

/// What may stand between a label and its value; the value follows the last of them.
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
    let lines: Vec<Line> = text.lines().map(Line::new).collect();
    let mut strong = Candidates::default();
    let mut after = Candidates::default();
    for (i, line) in lines.iter().enumerate() {
        for label_end in line.labels() {
            if let Some(value) = line.value_after(label_end) {
                strong.add(value);
                continue;
            }
            // The label announces a value that is not on its line: a token alone below.
            let next = lines[i + 1..].iter().filter(|l| !l.is_blank()).take(LINES_AFTER_LABEL);
            if let Some(token) = next.filter_map(Line::alone).next() {
                after.add(token);
            }
        }
    }
    let mut out = strong;
    out.extend(after);
    for line in &lines {
        for token in line.mixed_tokens() {
            out.add(token);
        }
        if out.0.len() >= MAX_CANDIDATES {
            break;
        }
    }
    out.0.truncate(MAX_CANDIDATES);
    out.0
}

/// Candidates in order, without duplicates, each followed by its half-width form.
#[derive(Default)]
struct Candidates(Vec<String>);

impl Candidates {
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

    /// Where each label on the line ends (overlapping shorter labels skipped).
    fn labels(&self) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut covered = 0;
        let mut i = 0;
        while i < self.norm.len() {
            let found = LABELS.iter().find_map(|(label, word)| {
                let label: Vec<char> = label.chars().collect();
                let fits = self.norm[i..].starts_with(&label);
                let bounded = !word || i == 0 || !self.norm[i - 1].is_ascii_alphabetic();
                (fits && bounded).then_some(label.len())
            });
            match found {
                Some(len) if i >= covered => {
                    ends.push(i + len);
                    covered = i + len;
                    i += len;
                }
                _ => i += 1,
            }
        }
        ends
    }

    /// The value written after the label ending at `start`: after the last separator within
    /// reach, in brackets or up to the next space.
    fn value_after(&self, start: usize) -> Option<Vec<char>> {
        let window_end = (start + SEPARATOR_WINDOW).min(self.norm.len());
        let mut value_start = None;
        let mut strong_separator = false;
        for sep in SEPARATORS {
            let sep: Vec<char> = sep.chars().collect();
            let mut i = start;
            while i + sep.len() <= window_end {
                if self.norm[i..].starts_with(&sep) {
                    // A label in the same window starts its own value.
                    if self.norm[start..i].iter().any(|&c| c == '\n') {
                        break;
                    }
                    if value_start.is_none_or(|v| i + sep.len() < v) {
                        value_start = Some(i + sep.len());
                        strong_separator = matches!(sep[0], ':' | '=');
                    }
                    break;
                }
                i += 1;
            }
        }
        // "パスワード abc123": no separator, the value right after the label and a space.
        let start = match value_start {
            Some(v) => v,
            None if self.norm.get(start).is_some_and(|c| c.is_whitespace()) => start,
            None => return None,
        };
        let mut i = start;
        while i < self.norm.len() && self.norm[i].is_whitespace() {
            i += 1;
        }
        let rest = &self.raw[i..];
        let value = quoted(rest, &self.norm[i..]).unwrap_or_else(|| token(rest));
        let value = trim_sentence(value);
        acceptable(&value, strong_separator).then_some(value)
    }

    /// The line's only token, when it holds just one (maybe in brackets).
    fn alone(&self) -> Option<Vec<char>> {
        let start = self.norm.iter().position(|c| !c.is_whitespace())?;
        let end = self.norm.iter().rposition(|c| !c.is_whitespace())? + 1;
        let raw = &self.raw[start..end];
        let value = quoted(raw, &self.norm[start..end]).filter(|v| v.len() + 2 == raw.len());
        let value = value.unwrap_or_else(|| raw.to_vec());
        if value.iter().any(|c| c.is_whitespace() || *c == '\u{3000}') {
            return None;
        }
        let value = trim_sentence(value);
        acceptable(&value, false).then_some(value)
    }

    /// Tokens of 6 to 32 ASCII characters (half-width after normalising) that mix letters and
    /// digits and look like neither an address nor a file name.
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
            let raw = self.raw[start..i].to_vec();
            let letters = norm.iter().any(|c| c.is_ascii_alphabetic());
            let digits = norm.iter().any(|c| c.is_ascii_digit());
            if (6..=32).contains(&norm.len()) && letters && digits && !looks_like_a_name(norm) {
                out.push(raw);
            }
        }
        out
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '(' | ')' | '[' | ']' | '<' | '>' | ',' | '`')
}

/// Addresses, links, file names and identifiers with a fixed shape are not passwords.
fn looks_like_a_name(norm: &[char]) -> bool {
    let s: String = norm.iter().collect();
    if s.contains('@') || s.contains("://") || s.starts_with("www.") {
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
    let end = norm[1..].iter().position(|&c| c == close)? + 1;
    (end > 1).then(|| raw[1..end].to_vec())
}

/// Up to the first space (or ideographic space, or Japanese comma or full stop).
fn token(raw: &[char]) -> Vec<char> {
    raw.iter().take_while(|&&c| !c.is_whitespace() && !matches!(c, '\u{3000}' | '、' | '。')).copied().collect()
}

/// Drops what ends a sentence after a password: "です", then a trailing full stop or comma.
/// An ASCII value running into Japanese text ("abc123です") is cut where the Japanese starts.
fn trim_sentence(mut value: Vec<char>) -> Vec<char> {
    let ascii_start = value.first().is_some_and(|&c| half_width(c).is_ascii());
    if ascii_start {
        if let Some(cut) = value.iter().position(|&c| !half_width(c).is_ascii()) {
            value.truncate(cut);
        }
    }
    for trailer in TRAILERS {
        let t: Vec<char> = trailer.chars().collect();
        if value.len() > t.len() && value.ends_with(&t) {
            value.truncate(value.len() - t.len());
            break;
        }
    }
    while value.len() > 1 && matches!(value.last(), Some('.' | '。' | ',' | '、' | ')' | '）' | ';' | '!' | '！')) {
        value.pop();
    }
    value
}

/// Whether a value may be a password: 1 to 64 characters; one without any ASCII letter or
/// digit ("別途お送りします") only after an explicit ":" or "=".
fn acceptable(value: &[char], strong_separator: bool) -> bool {
    if value.is_empty() || value.len() > MAX_LEN {
        return false;
    }
    if value.iter().any(|&c| c.is_whitespace() || c.is_control()) {
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
