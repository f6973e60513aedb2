//! The text of an HTML part: tags removed, script and style content dropped, the common
//! entities decoded; enough to read the password a message gives for its archive.

/// `html` as text.
pub fn html_text(html: &str) -> String {
    // ASCII lower-casing keeps every byte offset: tags are found in `lower`, text cut from `html`.
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut pos = 0;
    while let Some(open) = lower[pos..].find('<').map(|o| pos + o) {
        push_decoded(&mut out, &html[pos..open]);
        let tag = &lower[open..];
        let skip_to = ["<script", "<style", "<!--"]
            .iter()
            .zip(["</script", "</style", "-->"])
            .find(|(start, _)| tag.starts_with(**start))
            .map(|(_, end)| end);
        let after = match skip_to {
            Some(end) => tag.find(end).map_or(tag.len(), |at| at + end.len()),
            None => 0,
        };
        if skip_to == Some("-->") {
            pos = open + after;
            continue;
        }
        let tail = &tag[after..];
        match tail.find('>') {
            Some(close) => {
                let name = tail.get(1..close).unwrap_or_default().trim_start_matches('/');
                let block = ["br", "p", "div", "tr", "li", "h1", "h2", "h3", "td", "table"];
                if block.iter().any(|t| name == *t || name.starts_with(&format!("{t} "))) {
                    out.push('\n');
                }
                pos = open + after + close + 1;
            }
            None => {
                pos = html.len();
            }
        }
    }
    push_decoded(&mut out, &html[pos..]);
    out
}

/// Appends `text` with entities decoded.
pub(crate) fn push_decoded(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let entity = &rest[amp..];
        let end = entity.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| match &entity[1..e] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            num if num.starts_with("#x") || num.starts_with("#X") => {
                u32::from_str_radix(&num[2..], 16).ok().and_then(char::from_u32)
            }
            num if num.starts_with('#') => num[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &entity[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &entity[1..];
            }
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_scripts_and_entities() {
        let html = "<html><style>p{}</style><p>Password: <b>X7&amp;k2</b></p><script>var a='<p>';</script>\
                    <!-- hidden -->end&#33;";
        assert_eq!(html_text(html), "\nPassword: X7&k2\nend!");
    }
}
