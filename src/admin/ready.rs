//! `/readyz`'s answer from what was checked: pure, so each combination is tested as a value.

/// What `/readyz` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checks {
    /// The spool and the store take writes, or why not.
    pub store: Result<(), String>,
    /// clamd answered PING, or why not; `None` when `[antivirus]` is not configured.
    pub clamd: Option<Result<(), String>>,
}

/// 200 `ready`, or 503 with one line per failing part, each named.
pub(crate) fn verdict(checks: &Checks) -> (u16, String) {
    let mut failing = Vec::new();
    if let Err(why) = &checks.store {
        failing.push(format!("store: not writable: {why}"));
    }
    if let Some(Err(why)) = &checks.clamd {
        failing.push(format!("clamd: no answer to PING: {why}"));
    }
    if failing.is_empty() {
        return (200, "ready\n".into());
    }
    (503, format!("not ready\n{}\n", failing.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failing_part_is_named_and_only_those() {
        let ok = Checks { store: Ok(()), clamd: None };
        assert_eq!(verdict(&ok), (200, "ready\n".into()));
        assert_eq!(verdict(&Checks { clamd: Some(Ok(())), ..ok.clone() }), (200, "ready\n".into()));
        let clamd = Checks { clamd: Some(Err("connection refused".into())), ..ok.clone() };
        assert_eq!(verdict(&clamd), (503, "not ready\nclamd: no answer to PING: connection refused\n".into()));
        let both = Checks { store: Err("read-only file system".into()), ..clamd };
        assert_eq!(
            verdict(&both),
            (
                503,
                "not ready\nstore: not writable: read-only file system\nclamd: no answer to PING: connection refused\n"
                    .into()
            )
        );
    }
}
