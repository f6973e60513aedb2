//! The record's `fo=` (RFC 7489 §6.3): which failures the domain wants reports about.

use super::Failure;

/// True when `fo` (`0` by default, or `1`, `d`, `s`, colon-separated) asks for a report about
/// a message with these results:
/// - `0`: neither DKIM nor SPF produced an aligned pass;
/// - `1`: one of them did not produce an aligned pass;
/// - `d`: a DKIM signature failed its evaluation, aligned or not;
/// - `s`: SPF failed, aligned or not.
pub fn asks(fo: &str, f: &Failure) -> bool {
    let options: Vec<&str> = fo.split(':').map(str::trim).filter(|o| !o.is_empty()).collect();
    let options = if options.is_empty() { vec!["0"] } else { options };
    options.iter().any(|o| match o.to_ascii_lowercase().as_str() {
        "0" => !f.dkim_aligned && !f.spf_aligned,
        "1" => !f.dkim_aligned || !f.spf_aligned,
        "d" => f.dkim_failed,
        "s" => f.spf_failed,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(dkim_aligned: bool, spf_aligned: bool, dkim_failed: bool, spf_failed: bool) -> Failure {
        Failure { ruf: Vec::new(), fo: String::new(), dkim_aligned, spf_aligned, dkim_failed, spf_failed }
    }

    #[test]
    fn fo_0_wants_both_mechanisms_failed_to_align() {
        assert!(asks("0", &f(false, false, false, false)));
        assert!(asks("", &f(false, false, false, false)), "0 is the default");
        assert!(!asks("0", &f(true, false, true, true)), "DKIM aligned: DMARC passed");
        assert!(!asks("0", &f(false, true, false, false)));
    }

    #[test]
    fn fo_1_wants_either_mechanism_failed_to_align() {
        assert!(asks("1", &f(true, false, false, false)));
        assert!(asks("1", &f(false, true, false, false)));
        assert!(!asks("1", &f(true, true, true, true)), "both aligned: nothing to report");
    }

    #[test]
    fn d_and_s_want_a_failed_evaluation_whatever_the_alignment() {
        let unaligned = f(false, false, false, false);
        assert!(!asks("d", &unaligned), "unaligned but no signature failed");
        assert!(!asks("s", &unaligned), "unaligned but SPF did not fail");
        assert!(asks("d", &f(false, false, true, false)));
        assert!(asks("s", &f(false, false, false, true)));
        assert!(!asks("d", &f(false, false, false, true)));
        assert!(asks("d:s", &f(false, false, false, true)));
        assert!(asks("D : S", &f(false, false, true, false)));
        assert!(!asks("x", &unaligned), "an unknown option asks for nothing");
    }
}
