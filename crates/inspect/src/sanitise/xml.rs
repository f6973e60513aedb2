//! Just enough XML for the package parts of an OOXML document (`[Content_Types].xml`, the
//! `.rels` parts): find the elements of one name, read their attributes, and drop or rewrite
//! them, leaving every other byte as it was.

/// What to do with one element.
pub(super) enum Edit {
    /// Leave it.
    Keep,
    /// Remove it (and its end tag, when it has one).
    Drop,
    /// Replace attribute value `.0` by `.1` in it.
    Replace(String, String),
}

/// The element is not well formed.
#[derive(Debug)]
pub(super) struct Malformed;

/// `xml` with every `<name ...>` element edited by `edit` (given its attributes), and whether
/// anything changed.
pub(super) fn edit_elements(
    xml: &str,
    name: &str,
    mut edit: impl FnMut(&[(String, String)]) -> Edit,
) -> Result<(String, bool), Malformed> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = String::with_capacity(xml.len());
    let mut changed = false;
    let mut pos = 0;
    while let Some(found) = xml[pos..].find(&open).map(|at| pos + at) {
        let after = xml[found + open.len()..].chars().next();
        if !matches!(after, Some(c) if c.is_ascii_whitespace() || c == '/' || c == '>') {
            out.push_str(&xml[pos..found + open.len()]);
            pos = found + open.len();
            continue;
        }
        let tag_end = tag_end(xml, found).ok_or(Malformed)?;
        let tag = &xml[found..tag_end];
        let end = if tag.ends_with("/>") {
            tag_end
        } else {
            xml[tag_end..].find(&close).map(|at| tag_end + at + close.len()).ok_or(Malformed)?
        };
        out.push_str(&xml[pos..found]);
        match edit(&attributes(&tag[open.len()..tag.len() - 1])?) {
            Edit::Keep => out.push_str(&xml[found..end]),
            Edit::Drop => changed = true,
            // A value written with entities is not where the decoded one is: refused, never
            // left unchanged while said to be changed.
            Edit::Replace(old, _) if !tag.contains(&old) => return Err(Malformed),
            Edit::Replace(old, new) => {
                changed = true;
                out.push_str(&tag.replace(&old, &new));
                out.push_str(&xml[tag_end..end]);
            }
        }
        pos = end;
    }
    out.push_str(&xml[pos..]);
    Ok((out, changed))
}

/// The end (after `>`) of the tag starting at `start`, quotes respected.
fn tag_end(xml: &str, start: usize) -> Option<usize> {
    let mut quote = None;
    for (i, c) in xml[start..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(start + i + 1),
            (None, '<') if i > 0 => return None,
            _ => {}
        }
    }
    None
}

/// The `name="value"` pairs of a start tag's inside, values with the predefined entities
/// decoded.
fn attributes(inside: &str) -> Result<Vec<(String, String)>, Malformed> {
    let mut out = Vec::new();
    let mut rest = inside.trim_end_matches('/').trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or(Malformed)?;
        let name = rest[..eq].trim().to_string();
        let value = rest[eq + 1..].trim_start();
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or(Malformed)?;
        let close = value[1..].find(quote).ok_or(Malformed)? + 1;
        out.push((name, decode(&value[1..close])));
        rest = value[close + 1..].trim_start();
    }
    Ok(out)
}

fn decode(value: &str) -> String {
    value.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// The value of attribute `name` (ASCII case-insensitive).
pub(super) fn attribute<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_kept_dropped_or_rewritten_and_nothing_else_moves() {
        let xml = "<Types><Default Extension=\"bin\" ContentType=\"a/vba\"/>\
                   <Override PartName='/x' ContentType=\"m>1\"></Override><Defaults/></Types>";
        let (out, changed) = edit_elements(xml, "Default", |a| match attribute(a, "extension") {
            Some("bin") => Edit::Drop,
            _ => Edit::Keep,
        })
        .unwrap();
        assert!(changed);
        assert_eq!(out, "<Types><Override PartName='/x' ContentType=\"m>1\"></Override><Defaults/></Types>");
        let (out, _) = edit_elements(&out, "Override", |a| {
            assert_eq!(attribute(a, "ContentType"), Some("m>1"));
            Edit::Replace("m>1".into(), "plain".into())
        })
        .unwrap();
        assert_eq!(out, "<Types><Override PartName='/x' ContentType=\"plain\"></Override><Defaults/></Types>");
        assert!(edit_elements("<Types><Override PartName=\"x</Types>", "Override", |_| Edit::Keep).is_err());
    }
}
