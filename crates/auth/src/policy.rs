//! What a DMARC failure does to a message (pure): the published policy (`p`, `sp` or `np`, as
//! mail-auth chose it for the From domain), sampled by `pct`, then the local overrides (trusted
//! forwarders, trusted ARC sealers) and `[authentication] dmarc_policy`.

use sekisho_config::DmarcMode;

/// The DMARC policy a domain publishes for the message's From domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    None,
    Quarantine,
    Reject,
}

impl Published {
    /// The keyword, as in `p=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Published::None => "none",
            Published::Quarantine => "quarantine",
            Published::Reject => "reject",
        }
    }

    /// One level weaker (RFC 7489 §6.6.4, for a message outside `pct`).
    fn weaker(self) -> Published {
        match self {
            Published::Reject => Published::Quarantine,
            _ => Published::None,
        }
    }
}

/// What the ARC chain says, as the override for trusted sealers needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArcFacts {
    /// The chain validated (`arc=pass`).
    pub pass: bool,
    /// The `d=` of the newest ARC-Seal.
    pub sealer: Option<String>,
    /// The newest ARC-Authentication-Results records `dmarc=pass`.
    pub sealer_saw_dmarc_pass: bool,
}

/// What DMARC found, as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcFacts {
    /// DMARC evaluated to `fail` (a temporary or permanent error is not a failure).
    pub failed: bool,
    /// The header From's domain.
    pub domain: String,
    /// The policy that applies to that domain.
    pub published: Published,
    /// The record's `pct` (0–100; 100 when absent).
    pub pct: u8,
    /// The ARC chain.
    pub arc: ArcFacts,
}

/// The local settings the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    pub mode: DmarcMode,
    /// The client is a trusted forwarder.
    pub trusted_forwarder: bool,
    /// Domains whose ARC seals are trusted.
    pub trusted_sealers: &'a [String],
    /// This message's draw for `pct`, 0–99 ([`pct_roll`]).
    pub roll: u8,
}

/// What happens to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmarcAction {
    /// Delivered; `note` says why a failure was not acted on, if one was not.
    Deliver { note: Option<String> },
    /// Every recipient held in the quarantine.
    Quarantine { reason: String },
    /// Refused after the data (550 5.7.1).
    Reject { reason: String },
}

/// Why a failing message was not handled as its domain's policy asks, as a DMARC aggregate
/// report says it (RFC 7489 `PolicyOverrideType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    /// Outside the record's `pct` sample.
    SampledOut,
    /// The client is a trusted forwarder.
    TrustedForwarder,
    /// A trusted ARC sealer saw DMARC pass before it changed the message.
    Forwarded,
    /// `[authentication] dmarc_policy` is weaker than the record.
    LocalPolicy,
}

impl Override {
    /// The report's keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Override::SampledOut => "sampled_out",
            Override::TrustedForwarder => "trusted_forwarder",
            Override::Forwarded => "forwarded",
            Override::LocalPolicy => "local_policy",
        }
    }
}

/// The action for a message with these DMARC facts under these local settings.
pub fn decide(facts: &DmarcFacts, local: &Local<'_>) -> DmarcAction {
    decide_why(facts, local).0
}

/// The action, and why it is weaker than the published policy when it is.
pub fn decide_why(facts: &DmarcFacts, local: &Local<'_>) -> (DmarcAction, Option<Override>) {
    if !facts.failed || facts.published == Published::None {
        return (DmarcAction::Deliver { note: None }, None);
    }
    let domain = &facts.domain;
    let sampled = local.roll < facts.pct.min(100);
    let published = if sampled { facts.published } else { facts.published.weaker() };
    let sampled_out = (!sampled).then_some(Override::SampledOut);
    if published == Published::None {
        let note = format!("outside the pct={} sample of {domain}'s p={}", facts.pct, facts.published.as_str());
        return (DmarcAction::Deliver { note: Some(note) }, sampled_out);
    }
    if local.trusted_forwarder {
        let note = "the client is a trusted forwarder".to_string();
        return (DmarcAction::Deliver { note: Some(note) }, Some(Override::TrustedForwarder));
    }
    if facts.arc.pass
        && facts.arc.sealer_saw_dmarc_pass
        && let Some(sealer) = &facts.arc.sealer
        && local.trusted_sealers.iter().any(|t| t.trim_end_matches('.').eq_ignore_ascii_case(sealer))
    {
        let note = format!("the trusted ARC sealer {sealer} saw DMARC pass before it changed the message");
        return (DmarcAction::Deliver { note: Some(note) }, Some(Override::Forwarded));
    }
    let reason =
        format!("the sender's domain {domain} publishes DMARC p={} and this message fails it", published.as_str());
    match (local.mode, published) {
        (DmarcMode::Record, _) => (
            DmarcAction::Deliver { note: Some("[authentication] dmarc_policy = \"record\"".into()) },
            Some(Override::LocalPolicy),
        ),
        (DmarcMode::Enforce, Published::Reject) => (DmarcAction::Reject { reason }, sampled_out),
        (DmarcMode::Quarantine, Published::Reject) => {
            (DmarcAction::Quarantine { reason }, sampled_out.or(Some(Override::LocalPolicy)))
        }
        _ => (DmarcAction::Quarantine { reason }, sampled_out),
    }
}

/// The message's draw for `pct`: 0–99 from its Message-ID (FNV-1a), so a message sent again
/// after a refusal is treated as before, and tests can choose the draw.
pub fn pct_roll(message_id: &str) -> u8 {
    let mut h: u32 = 0x811c_9dc5;
    for b in message_id.trim().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % 100) as u8
}

/// The `pct` of a DMARC record's text (`v=DMARC1; p=reject; pct=20`): 100 when absent or not a
/// number from 0 to 100.
pub fn record_pct(record: &str) -> u8 {
    record
        .split(';')
        .filter_map(|tag| tag.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("pct"))
        .and_then(|(_, v)| v.trim().parse::<u8>().ok())
        .filter(|p| *p <= 100)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use sekisho_config::DmarcMode;

    use super::*;

    fn failed(published: Published, pct: u8) -> DmarcFacts {
        DmarcFacts { failed: true, domain: "example.com".into(), published, pct, arc: ArcFacts::default() }
    }

    fn local(mode: DmarcMode, roll: u8) -> Local<'static> {
        Local { mode, trusted_forwarder: false, trusted_sealers: &[], roll }
    }

    #[test]
    fn each_published_policy_under_each_mode() {
        use DmarcAction::*;
        let cases = [
            (Published::Reject, DmarcMode::Enforce, "reject"),
            (Published::Reject, DmarcMode::Quarantine, "quarantine"),
            (Published::Reject, DmarcMode::Record, "deliver"),
            (Published::Quarantine, DmarcMode::Enforce, "quarantine"),
            (Published::Quarantine, DmarcMode::Quarantine, "quarantine"),
            (Published::Quarantine, DmarcMode::Record, "deliver"),
            (Published::None, DmarcMode::Enforce, "deliver"),
        ];
        for (published, mode, want) in cases {
            let got = match decide(&failed(published, 100), &local(mode, 99)) {
                Reject { .. } => "reject",
                Quarantine { .. } => "quarantine",
                Deliver { .. } => "deliver",
            };
            assert_eq!(got, want, "{published:?} under {mode:?}");
        }
        let passed = DmarcFacts { failed: false, ..failed(Published::Reject, 100) };
        assert_eq!(decide(&passed, &local(DmarcMode::Enforce, 0)), Deliver { note: None });
    }

    #[test]
    fn outside_pct_the_policy_is_one_level_weaker() {
        let f = failed(Published::Reject, 30);
        assert!(matches!(decide(&f, &local(DmarcMode::Enforce, 29)), DmarcAction::Reject { .. }));
        assert!(matches!(decide(&f, &local(DmarcMode::Enforce, 30)), DmarcAction::Quarantine { .. }));
        let f = failed(Published::Quarantine, 0);
        assert!(matches!(decide(&f, &local(DmarcMode::Enforce, 0)), DmarcAction::Deliver { note: Some(_) }));
        assert_eq!(record_pct("v=DMARC1; p=reject; pct=20"), 20);
        assert_eq!(record_pct("v=DMARC1; p=reject"), 100);
        assert_eq!(record_pct("v=DMARC1; p=reject; pct=250"), 100);
        assert_eq!(pct_roll("<a@b>"), pct_roll(" <a@b> "));
        assert!(pct_roll("<x@y>") < 100);
    }

    #[test]
    fn trusted_forwarders_and_trusted_sealers_override_a_failure() {
        let f = failed(Published::Reject, 100);
        let fwd = Local { trusted_forwarder: true, ..local(DmarcMode::Enforce, 0) };
        assert!(matches!(decide(&f, &fwd), DmarcAction::Deliver { note: Some(_) }));
        let sealers = ["lists.example.org".to_string()];
        let with_sealers = Local { trusted_sealers: &sealers, ..local(DmarcMode::Enforce, 0) };
        let arc = |pass, sealer: &str, saw| DmarcFacts {
            arc: ArcFacts { pass, sealer: Some(sealer.into()), sealer_saw_dmarc_pass: saw },
            ..f.clone()
        };
        assert!(matches!(decide(&arc(true, "lists.example.org", true), &with_sealers), DmarcAction::Deliver { .. }));
        assert!(matches!(decide(&arc(false, "lists.example.org", true), &with_sealers), DmarcAction::Reject { .. }));
        assert!(matches!(decide(&arc(true, "other.example", true), &with_sealers), DmarcAction::Reject { .. }));
        assert!(matches!(decide(&arc(true, "lists.example.org", false), &with_sealers), DmarcAction::Reject { .. }));
    }

    #[test]
    fn a_weaker_action_says_why_in_the_reports_words() {
        let f = failed(Published::Reject, 30);
        let why = |f: &DmarcFacts, l: &Local<'_>| decide_why(f, l).1.map(Override::as_str);
        assert_eq!(why(&f, &local(DmarcMode::Enforce, 29)), None);
        assert_eq!(why(&f, &local(DmarcMode::Enforce, 30)), Some("sampled_out"));
        let all = failed(Published::Reject, 100);
        assert_eq!(why(&all, &local(DmarcMode::Record, 0)), Some("local_policy"));
        assert_eq!(why(&all, &local(DmarcMode::Quarantine, 0)), Some("local_policy"));
        let fwd = Local { trusted_forwarder: true, ..local(DmarcMode::Enforce, 0) };
        assert_eq!(why(&all, &fwd), Some("trusted_forwarder"));
        let passed = DmarcFacts { failed: false, ..all };
        assert_eq!(why(&passed, &local(DmarcMode::Enforce, 0)), None);
    }
}
