//! The `_mta-sts` TXT record (RFC 8461 §3.1): `v=STSv1; id=20260101T000000;`.

/// Why the records at `_mta-sts.DOMAIN` announce no policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no TXT record starts with v=STSv1")]
    Missing,
    #[error("{0} TXT records start with v=STSv1; exactly one is allowed")]
    Several(usize),
    #[error("`{0}`: {1}")]
    Invalid(String, &'static str),
}

/// Finds the one STSv1 record among the TXT records of `_mta-sts.DOMAIN` and returns its id.
pub fn policy_id(txt: &[String]) -> Result<String, RecordError> {
    let sts: Vec<&String> = txt.iter().filter(|t| t.starts_with("v=STSv1")).collect();
    match sts.as_slice() {
        [] => Err(RecordError::Missing),
        [one] => parse(one),
        many => Err(RecordError::Several(many.len())),
    }
}

fn parse(record: &str) -> Result<String, RecordError> {
    let invalid = |why| RecordError::Invalid(record.to_string(), why);
    let mut fields = record.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next() != Some("v=STSv1") {
        return Err(invalid("the record must begin with v=STSv1"));
    }
    let mut id = None;
    for field in fields {
        let (key, value) = field.split_once('=').ok_or_else(|| invalid("a field without `=`"))?;
        if key.trim() == "id" {
            let value = value.trim();
            if value.is_empty() || value.len() > 32 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(invalid("id must be 1 to 32 letters or digits"));
            }
            if id.replace(value.to_string()).is_some() {
                return Err(invalid("id appears twice"));
            }
        }
    }
    id.ok_or_else(|| invalid("the record has no id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> Vec<String> {
        records.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_one_record_gives_its_id() {
        assert_eq!(policy_id(&txt(&["v=STSv1; id=20160831085700Z;"])).unwrap(), "20160831085700Z");
        assert_eq!(policy_id(&txt(&["v=spf1 -all", "v=STSv1;id=abc; ext=1"])).unwrap(), "abc");
    }

    #[test]
    fn anything_else_announces_no_policy() {
        let cases: [(&[&str], &str); 6] = [
            (&[], "no TXT record"),
            (&["v=STSv1; id=a;", "v=STSv1; id=b;"], "exactly one"),
            (&["v=STSv1;"], "no id"),
            (&["v=STSv1; id=not-alnum;"], "letters or digits"),
            (&["v=STSv1; id=123456789012345678901234567890123"], "1 to 32"),
            (&["v=STSv1; id"], "without `=`"),
        ];
        for (records, expected) in cases {
            let e = policy_id(&txt(records)).unwrap_err().to_string();
            assert!(e.contains(expected), "{records:?}: {e}");
        }
    }
}
