//! An HTML body as plain text for the recipient: scripts, styles, comments and the head left
//! out, blocks and line breaks as new lines, list items as "- ", images as their alt text,
//! entities decoded, and every link shown with its real address: `label <https://...>`.

use crate::content::push_decoded;

/// Tags whose content is never shown.
const HIDDEN: &[&str] = &["script", "style", "head", "title", "template", "noscript", "object"];

/// Tags that start a new line.
const BLOCKS: &[&str] = &[
    "br",
    "p",
    "div",
    "tr",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "hr",
    "section",
    "article",
    "header",
    "footer",
    "dt",
    "dd",
];

/// `html` (already decoded from its charset) as plain text, lines ending in "\n".
pub fn html_to_text(html: &str) -> String {
    // ASCII lower-casing keeps every byte offset: tags are found in `lower`, text cut from `html`.
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut link: Option<(String, usize)> = None;
    let mut pos = 0;
    while let Some(open) = lower[pos..].find('<').map(|o| pos + o) {
        text(&mut out, &html[pos..open]);
        let tag = &lower[open..];
        if tag.starts_with("<!--") {
            pos = tag.find("-->").map_or(html.len(), |at| open + at + 3);
            continue;
        }
        let Some(close) = tag_close(tag) else {
            pos = html.len();
            break;
        };
        let inside = &html[open + 1..open + close];
        let name: String =
            tag[1..close].trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        let ending = tag[1..].starts_with('/');
        pos = open + close + 1;
        if !ending && HIDDEN.contains(&name.as_str()) {
            let end = format!("</{name}");
            pos = lower[pos..].find(&end).map_or(html.len(), |at| {
                let after = pos + at;
                lower[after..].find('>').map_or(html.len(), |gt| after + gt + 1)
            });
            continue;
        }
        match (name.as_str(), ending) {
            ("a", false) => link = attribute(inside, "href").map(|href| (href, out.len())),
            ("a", true) => {
                if let Some((href, start)) = link.take() {
                    let label = out[start..].trim();
                    let shown = href.trim_start_matches("mailto:");
                    if label.is_empty() {
                        out.push_str(&href);
                    } else if label != href && label != shown {
                        out.push_str(&format!(" <{href}>"));
                    }
                }
            }
            ("img", false) => {
                if let Some(alt) = attribute(inside, "alt").filter(|a| !a.trim().is_empty()) {
                    out.push_str(&format!("[{}] ", alt.trim()));
                }
            }
            ("li", false) => out.push_str("\n- "),
            ("li", true) => {}
            (n, _) if BLOCKS.contains(&n) => out.push('\n'),
            ("td" | "th", true) => out.push('\t'),
            _ => {}
        }
    }
    text(&mut out, &html[pos..]);
    tidy(&out)
}

/// Where the tag starting `tag` ends (its `>`), quotes respected.
fn tag_close(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tag.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Text between tags: entities decoded, white space as single spaces.
fn text(out: &mut String, raw: &str) {
    let mut decoded = String::with_capacity(raw.len());
    push_decoded(&mut decoded, raw);
    let mut space = out.ends_with([' ', '\n']) || out.is_empty();
    for c in decoded.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !space {
                out.push(' ');
                space = true;
            }
        } else {
            out.push(if c == '\u{a0}' { ' ' } else { c });
            space = false;
        }
    }
}

/// The value of attribute `name` in a start tag's inside (`a href="x"`), entities decoded.
fn attribute(inside: &str, name: &str) -> Option<String> {
    let lower = inside.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(name).map(|a| from + a) {
        from = at + name.len();
        let before = lower[..at].chars().last();
        if !before.is_some_and(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let rest = inside[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else { continue };
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
            _ => rest.split(|c: char| c.is_ascii_whitespace() || c == '>').next().unwrap_or_default(),
        };
        let mut decoded = String::new();
        push_decoded(&mut decoded, value.trim());
        return Some(decoded);
    }
    None
}

/// Lines trimmed, at most one empty line in a row, none at the ends.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut empty = 0;
    for line in text.split('\n').map(|l| l.trim_matches(|c: char| c == ' ' || c == '\t')) {
        if line.is_empty() {
            empty += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if empty > 0 { "\n\n" } else { "\n" });
        }
        empty = 0;
        out.push_str(line);
    }
    out.push('\n');
    out
}
