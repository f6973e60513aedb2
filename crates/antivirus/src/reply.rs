//! clamd's replies, read strictly: only `stream: OK` (or `fd[N]: OK` for a descriptor) is
//! clean.
//!
//! A reply is the text before the NUL that ends it (`z` commands). Inside a session
//! (`zIDSESSION`), clamd puts the command's number in front: `3: stream: OK`.

use crate::error::ClamdError;

/// What clamd found in one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `stream: OK`: no signature matched.
    Clean,
    /// `stream: NAME FOUND`: the signature `NAME` matched (e.g. `Eicar-Test-Signature`;
    /// signatures from unsigned databases end in `.UNOFFICIAL`).
    Found {
        /// The signature's name as clamd wrote it.
        signature: String,
    },
}

/// clamd's reply when a stream goes past its `StreamMaxLength`.
const SIZE_LIMIT: &str = "INSTREAM size limit exceeded. ERROR";

/// The start of the names clamd gives, under `AlertExceedsMax`, to a file it stopped scanning
/// at a limit.
const LIMITS_EXCEEDED: &str = "Heuristics.Limits.Exceeded";

/// Reads the reply to `INSTREAM` or `FILDES`, which names what it scanned `stream` or `fd[N]`
/// (the descriptor's number in clamd). `stream: OK` is [`Verdict::Clean`], `stream: NAME FOUND`
/// is [`Verdict::Found`], except `Heuristics.Limits.Exceeded.*`, which is
/// [`ClamdError::LimitExceeded`] (clamd stopped before the end of the file); the size-limit
/// error is [`ClamdError::TooLarge`]; everything else,
/// errors and text this client does not know, is [`ClamdError::Refused`]. Nothing else is
/// ever clean.
pub fn parse_scan_reply(reply: &str) -> Result<Verdict, ClamdError> {
    if reply == SIZE_LIMIT {
        return Err(ClamdError::TooLarge);
    }
    let refused = || ClamdError::Refused(reply.to_string());
    let rest = strip_subject(reply).ok_or_else(refused)?;
    if rest == "OK" {
        return Ok(Verdict::Clean);
    }
    let signature = rest.strip_suffix(" FOUND").ok_or_else(refused)?;
    if signature.is_empty() || signature.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refused());
    }
    if signature.starts_with(LIMITS_EXCEEDED) {
        return Err(ClamdError::LimitExceeded { signature: signature.to_string() });
    }
    Ok(Verdict::Found { signature: signature.to_string() })
}

/// The reply after its subject, `stream: ` or `fd[N]: ` (N a descriptor's number).
fn strip_subject(reply: &str) -> Option<&str> {
    if let Some(rest) = reply.strip_prefix("stream: ") {
        return Some(rest);
    }
    let (number, rest) = reply.strip_prefix("fd[")?.split_once("]: ")?;
    (!number.is_empty() && number.len() <= 10 && number.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

/// Takes the session number off a reply read inside `zIDSESSION`: `"3: stream: OK"` with
/// `expected` 3 gives `"stream: OK"`. A reply without the number, or with another one, is a
/// [`ClamdError::Protocol`] error (the session's replies no longer match its commands).
/// clamd's `COMMAND READ TIMED OUT` (the session was closed) has no number either.
pub fn strip_session_id(reply: &str, expected: u64) -> Result<&str, ClamdError> {
    let (id, text) = reply
        .split_once(": ")
        .ok_or_else(|| ClamdError::Protocol(format!("reply without a session number: `{reply}`")))?;
    match id.parse::<u64>() {
        Ok(n) if n == expected => Ok(text),
        _ => Err(ClamdError::Protocol(format!("reply `{reply}` does not answer command {expected}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str) -> Verdict {
        Verdict::Found { signature: name.into() }
    }

    #[test]
    fn only_stream_ok_is_clean() {
        assert_eq!(parse_scan_reply("stream: OK").unwrap(), Verdict::Clean);
        for reply in ["OK", "stream: OK ", "stream:OK", "Stream: OK", "stream: ok", "", "PONG", "stream: OK\n"] {
            assert!(matches!(parse_scan_reply(reply), Err(ClamdError::Refused(r)) if r == reply), "{reply:?}");
        }
    }

    #[test]
    fn a_descriptor_is_named_by_its_number() {
        assert_eq!(parse_scan_reply("fd[12]: OK").unwrap(), Verdict::Clean);
        assert_eq!(parse_scan_reply("fd[7]: Eicar-Test-Signature FOUND").unwrap(), found("Eicar-Test-Signature"));
        assert!(matches!(
            parse_scan_reply("fd[9]: Heuristics.Limits.Exceeded.MaxFileSize FOUND"),
            Err(ClamdError::LimitExceeded { .. })
        ));
        for reply in
            ["fd[]: OK", "fd[x]: OK", "fd[12] OK", "fd[12]:OK", "fd[-1]: OK", "fd[12345678901]: OK", "fd[3]: ok"]
        {
            assert!(matches!(parse_scan_reply(reply), Err(ClamdError::Refused(r)) if r == reply), "{reply:?}");
        }
        assert!(matches!(parse_scan_reply("No file descriptor received. ERROR"), Err(ClamdError::Refused(_))));
    }

    #[test]
    fn found_names_the_signature() {
        assert_eq!(parse_scan_reply("stream: Eicar-Test-Signature FOUND").unwrap(), found("Eicar-Test-Signature"));
        assert_eq!(
            parse_scan_reply("stream: Eicar-Test-Signature.UNOFFICIAL FOUND").unwrap(),
            found("Eicar-Test-Signature.UNOFFICIAL")
        );
        assert_eq!(parse_scan_reply("stream: Win.Test.EICAR_HDB-1 FOUND").unwrap(), found("Win.Test.EICAR_HDB-1"));
    }

    #[test]
    fn a_found_without_a_clean_name_is_refused_not_clean() {
        for reply in ["stream:  FOUND", "stream: FOUND", "stream: two words FOUND", "stream: X FOUND extra"] {
            assert!(matches!(parse_scan_reply(reply), Err(ClamdError::Refused(_))), "{reply:?}");
        }
    }

    #[test]
    fn a_file_clamd_stopped_scanning_at_a_limit_is_not_scanned_not_found() {
        for limit in ["MaxFileSize", "MaxScanSize", "MaxFiles", "MaxRecursion", "MaxScanTime"] {
            let reply = format!("stream: Heuristics.Limits.Exceeded.{limit} FOUND");
            assert!(
                matches!(parse_scan_reply(&reply), Err(ClamdError::LimitExceeded { signature })
                    if signature == format!("Heuristics.Limits.Exceeded.{limit}")),
                "{reply}"
            );
        }
        assert_eq!(
            parse_scan_reply("stream: Heuristics.Encrypted.Zip FOUND").unwrap(),
            found("Heuristics.Encrypted.Zip"),
            "other heuristics are findings"
        );
    }

    #[test]
    fn the_size_limit_is_too_large_and_other_errors_are_refused() {
        assert!(matches!(parse_scan_reply("INSTREAM size limit exceeded. ERROR"), Err(ClamdError::TooLarge)));
        for reply in [
            "stream: Can't allocate memory ERROR",
            "Error processing command. ERROR",
            "UNKNOWN COMMAND",
            "COMMAND READ TIMED OUT",
            "stream: lstat() failed: No such file or directory. ERROR",
        ] {
            assert!(matches!(parse_scan_reply(reply), Err(ClamdError::Refused(r)) if r == reply), "{reply:?}");
        }
    }

    #[test]
    fn session_replies_carry_the_commands_number() {
        assert_eq!(strip_session_id("1: PONG", 1).unwrap(), "PONG");
        assert_eq!(strip_session_id("12: stream: OK", 12).unwrap(), "stream: OK");
        assert_eq!(strip_session_id("2: stream: X FOUND", 2).unwrap(), "stream: X FOUND");
        for (reply, id) in [("2: PONG", 1), ("PONG", 1), ("COMMAND READ TIMED OUT", 3), ("x: PONG", 1), (": PONG", 1)] {
            assert!(matches!(strip_session_id(reply, id), Err(ClamdError::Protocol(_))), "{reply:?}");
        }
    }
}
