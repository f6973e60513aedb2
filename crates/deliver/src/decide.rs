//! The decision, inside the delivery session, of how one recipient gets a message's
//! attachments: inline when this very session reached the assurance the policy asks for and no
//! downgrade is suspected, else as a download link. A pure function of the session's evidence
//! and the policy; its reason is the sentence the message's trace shows.

pub use sekisho_policy::Carriage;
use sekisho_policy::{InlineMin, SmartHostAttachments};
use sekisho_store::Variant;

pub use sekisho_transport::check::RecipientMx;

use crate::tls::TlsEvidence;

/// The decision and the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub carriage: Carriage,
    pub reason: String,
}

impl Decision {
    /// As recorded with the attempt.
    pub fn variant(&self) -> Variant {
        Variant { kind: self.carriage, reason: self.reason.clone() }
    }
}

/// "TLS 1.3" from "TLSv1.3".
fn tls_name(version: &str) -> String {
    version.replace("TLSv", "TLS ")
}

/// How the attachments go to a recipient when the session to `host` proved `evidence` and
/// the policy asks for `inline_min` (a message without attachments needs no decision).
/// `encrypted` names a password-protected file the message carries under
/// `encrypted_attachments = "link"`: such a message always goes as a link.
pub fn decide(host: &str, evidence: &TlsEvidence, inline_min: InlineMin, encrypted: Option<&str>) -> Decision {
    let reached = evidence.assurance;
    if inline_min.carriage(reached, evidence.downgrade_suspected, encrypted.is_some()) == Carriage::Inline {
        let how = match &evidence.version {
            Some(v) => format!("{}, {}", tls_name(v), reached.as_str()),
            None => "no TLS, as the policy allows".to_string(),
        };
        return Decision { carriage: Carriage::Inline, reason: format!("inline — {how}") };
    }
    // A link: the reason is the first cause `InlineMin::carriage` weighs.
    let link = |why: String| Decision { carriage: Carriage::Link, reason: format!("link — {why}") };
    if let Some(name) = encrypted {
        return link(format!(
            "{name} is password-protected: such files go as links whatever the TLS (encrypted_attachments = \"link\")"
        ));
    }
    if evidence.downgrade_suspected {
        return link(format!(
            "{host} reached TLS in earlier deliveries and this session reached {}: a STARTTLS downgrade is \
             suspected",
            reached.as_str()
        ));
    }
    if inline_min == InlineMin::Never {
        return link("the policy sends attachments to this domain as links whatever the TLS".into());
    }
    let why = match (&evidence.version, evidence.starttls_offered) {
        (None, false) => format!("{host} offered no STARTTLS"),
        (None, true) => {
            let detail = evidence.detail.as_deref().unwrap_or("the TLS handshake failed");
            format!("{host} offered STARTTLS but no TLS session was established ({detail})")
        }
        (Some(v), _) => {
            let failure = evidence.failure.as_deref().map(|f| format!(" ({f})")).unwrap_or_default();
            format!(
                "{host} reached {}, {}{failure}; attachments travel inline from {}",
                tls_name(v),
                reached.as_str(),
                inline_min.as_str()
            )
        }
    };
    link(why)
}

/// The decision for mail that leaves through the smart host `relay`: `hop` is the decision
/// from the session to the smart host; with `mode` probe, the recipient domain's own MX hosts
/// (`probe`) must reach `inline_min` too.
pub fn beyond_smart_host(
    hop: Decision,
    relay: &str,
    mode: SmartHostAttachments,
    inline_min: InlineMin,
    probe: Option<&RecipientMx>,
) -> Decision {
    let link = |why: String| Decision { carriage: Carriage::Link, reason: format!("link — {why}") };
    if hop.carriage == Carriage::Link {
        return hop;
    }
    if mode == SmartHostAttachments::Link {
        return link(format!("mail leaves through the smart host {relay} (smart_host_attachments = \"link\")"));
    }
    if inline_min == InlineMin::None {
        return hop;
    }
    let hop_how = hop.reason.trim_start_matches("inline — ");
    match probe {
        Some(p) if inline_min.admits(p.assurance) => Decision {
            carriage: Carriage::Inline,
            reason: format!(
                "inline — probe-based: the recipient's MX hosts reached {} when sekisho probed them; the hop to the \
                 smart host {relay}: {hop_how}",
                p.assurance.as_str()
            ),
        },
        Some(p) => link(format!(
            "probe-based (through the smart host {relay}): {}; attachments travel inline from {}",
            p.why.as_deref().unwrap_or("the recipient's MX hosts offered no usable TLS"),
            inline_min.as_str()
        )),
        None => link(format!("probe-based (through the smart host {relay}): the recipient's MX hosts were not probed")),
    }
}

/// The carriage a mis-send rule decided at submission (`MessageInfo::rules`, `force_link`):
/// a link whatever the session's TLS. The verdict was taken once and is carried as recorded,
/// not derived again here.
pub fn forced_by_rule(rule: &str) -> Decision {
    Decision {
        carriage: Carriage::Link,
        reason: format!("link — the rule {rule} sends this message's attachments as links whatever the TLS"),
    }
}

/// What the size rules weigh for one recipient: the message's files together, the size of
/// the message that would go inline, the limit the receiving server announced (EHLO `SIZE`,
/// RFC 1870; `Some(0)` or None: none), `[outbound] link_above` for the recipient's domain, and
/// whether the last attempt's inline message was refused as too large (552 after the data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sizes {
    pub files: u64,
    pub inline: u64,
    pub advertised: Option<u64>,
    pub link_above: Option<u64>,
    pub refused_before: bool,
}

/// Which size rule made a recipient's carriage a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeRule {
    /// `link_above`: the files are larger than configured.
    LinkAbove { files: u64, limit: u64 },
    /// The receiving server announced a limit below the inline message.
    Advertised { inline: u64, limit: u64 },
    /// The receiving server refused the inline message as too large in the last attempt.
    RefusedBefore,
}

impl SizeRule {
    /// The sentence the notice gives the recipient, in English and Japanese.
    pub fn notice(&self) -> (String, String) {
        use sekisho_rewrite::human_size;
        match *self {
            SizeRule::LinkAbove { files, limit } => (
                format!(
                    "the files ({}) are larger than the {} the sender's organisation sends by mail",
                    human_size(files),
                    human_size(limit)
                ),
                format!(
                    "ファイル（{}）が送信者の組織がメールで送る上限 {} を超えています",
                    human_size(files),
                    human_size(limit)
                ),
            ),
            SizeRule::Advertised { inline, limit } => (
                format!(
                    "the message with its files ({}) is larger than your mail server accepts ({})",
                    human_size(inline),
                    human_size(limit)
                ),
                format!(
                    "ファイルを含むメール（{}）がお使いのメールサーバーの受信上限（{}）を超えています",
                    human_size(inline),
                    human_size(limit)
                ),
            ),
            SizeRule::RefusedBefore => (
                "the file is larger than your mail server accepts".into(),
                "ファイルがお使いのメールサーバーの受信上限を超えています".into(),
            ),
        }
    }
}

/// The size rules over the TLS decision `tls` for a recipient behind `host`: `link_above`,
/// then the server's announced limit, then a refusal for size in the last attempt make an
/// inline carriage a link; the reason names the rule (and the figures) for the trace. A link
/// decided for another cause keeps that cause. A pure function.
pub fn by_size(tls: Decision, host: &str, sizes: &Sizes) -> (Decision, Option<SizeRule>) {
    if tls.carriage == Carriage::Link {
        return (tls, None);
    }
    let link = |why: String| Decision { carriage: Carriage::Link, reason: format!("link — {why}") };
    if let Some(limit) = sizes.link_above.filter(|&l| sizes.files > l) {
        let why = format!(
            "the files ({} bytes) are larger than link_above ({limit} bytes): they go as a link whatever the TLS",
            sizes.files
        );
        return (link(why), Some(SizeRule::LinkAbove { files: sizes.files, limit }));
    }
    if let Some(limit) = sizes.advertised.filter(|&l| l > 0 && l < sizes.inline) {
        let why = format!(
            "{host} announced SIZE {limit} and the message with its files is {} bytes: the link variant instead of a \
             bounce",
            sizes.inline
        );
        return (link(why), Some(SizeRule::Advertised { inline: sizes.inline, limit }));
    }
    if sizes.refused_before {
        let why = "the last attempt's message was refused as too large (552 after the data): the link variant";
        return (link(why.into()), Some(SizeRule::RefusedBefore));
    }
    (tls, None)
}

/// The start of the reason a recipient is deferred with when the receiving server refused the
/// inline message as too large; the next attempt reads it back from the recipient's last
/// reply (`refused_for_size`).
pub const SIZE_REFUSAL: &str = "refused the message as too large; the next attempt sends the link variant:";

/// Whether a recipient's last reply says the inline message was refused as too large.
pub fn refused_for_size(last_reply: Option<&str>) -> bool {
    last_reply.is_some_and(|r| r.contains(SIZE_REFUSAL))
}

/// Whether a permanent refusal (`status`, `reason` the reply's text) is one for size: the
/// enhanced status 5.3.4 (RFC 3463: message too big for system), or 552 (RFC 1870: the
/// message exceeds the server's fixed maximum) without an enhanced status that says otherwise
/// (a 552 5.2.2 is a full mailbox).
pub fn is_size_refusal(status: &str, reason: &str) -> bool {
    status == "5.3.4" || (status == "5.0.0" && reason.trim_start().starts_with("552"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::Assurance;

    fn tls(assurance: Assurance) -> TlsEvidence {
        let mut e = TlsEvidence::plaintext(true, None);
        e.version = Some("TLSv1.3".into());
        e.cipher = Some("TLS13_AES_256_GCM_SHA384".into());
        e.assurance = assurance;
        e.session_assurance = assurance;
        e
    }

    #[test]
    fn each_level_against_each_requirement() {
        for &reached in Assurance::ALL {
            for &min in InlineMin::ALL {
                let evidence =
                    if reached == Assurance::None { TlsEvidence::plaintext(false, None) } else { tls(reached) };
                let d = decide("mx1.example.jp", &evidence, min, None);
                let expected =
                    if min.assurance().is_some_and(|m| reached >= m) { Carriage::Inline } else { Carriage::Link };
                assert_eq!(d.carriage, expected, "{reached:?} against {min:?}: {}", d.reason);
            }
        }
    }

    /// `sekisho check` predicts, for a domain whose one MX host reached a level, what delivery
    /// decides over a session that reached it: both apply `InlineMin::carriage`.
    #[test]
    fn the_checker_predicts_what_delivery_decides() {
        use sekisho_transport::check::{AddressReport, MxReport, Outcome, Via, predict};
        for &reached in Assurance::ALL {
            for &min in InlineMin::ALL {
                let evidence =
                    if reached == Assurance::None { TlsEvidence::plaintext(false, None) } else { tls(reached) };
                let host = MxReport {
                    host: "mx1.example.jp".into(),
                    preference: Some(10),
                    addresses: vec![AddressReport {
                        ip: "192.0.2.1".into(),
                        port: 25,
                        error: None,
                        evidence: Some(evidence.clone()),
                        cached_at: None,
                    }],
                    assurance: reached,
                    mta_sts_match: None,
                    dane: None,
                    blocked: None,
                };
                let hosts = [host];
                let predicted = predict("example.jp", Ok(&hosts), Ok(&[]), &Via::Mx, min).outcome;
                let decided = decide("mx1.example.jp", &evidence, min, None).carriage;
                let expected = if decided == Carriage::Inline { Outcome::Inline } else { Outcome::Links };
                assert_eq!(predicted, expected, "{reached:?} against {min:?}");
            }
        }
    }

    #[test]
    fn reasons_say_what_the_session_did() {
        let none = decide("mx1.example.jp", &TlsEvidence::plaintext(false, None), InlineMin::Encrypted, None);
        assert_eq!(none.reason, "link — mx1.example.jp offered no STARTTLS");
        let mut failed = TlsEvidence::plaintext(true, Some(("validation-failure", "STARTTLS failed: eof".into())));
        failed.assurance = Assurance::None;
        let d = decide("mx2.example.jp", &failed, InlineMin::Encrypted, None);
        assert!(d.reason.contains("offered STARTTLS but no TLS session") && d.reason.contains("eof"), "{}", d.reason);
        let mut mismatch = tls(Assurance::Encrypted);
        mismatch.failure = Some("certificate-host-mismatch".into());
        let d = decide("mx3.example.jp", &mismatch, InlineMin::Authenticated, None);
        assert_eq!(
            d.reason,
            "link — mx3.example.jp reached TLS 1.3, encrypted (certificate-host-mismatch); attachments travel inline \
             from authenticated"
        );
        let d = decide("mx4.example.jp", &tls(Assurance::MtaSts), InlineMin::Encrypted, None);
        assert_eq!((d.carriage, d.reason.as_str()), (Carriage::Inline, "inline — TLS 1.3, mta-sts"));
    }

    #[test]
    fn a_suspected_downgrade_always_means_a_link() {
        let mut e = tls(Assurance::Encrypted);
        e.downgrade_suspected = true;
        let d = decide("mx1.example.jp", &e, InlineMin::None, None);
        assert_eq!(d.carriage, Carriage::Link);
        assert!(d.reason.contains("downgrade"), "{}", d.reason);
        assert_eq!(d.variant().kind, Carriage::Link);
    }

    #[test]
    fn an_encrypted_file_under_the_link_policy_always_means_a_link() {
        let d = decide("mx1.example.jp", &tls(Assurance::Dane), InlineMin::Encrypted, Some("quote.zip"));
        assert_eq!(d.carriage, Carriage::Link);
        assert!(d.reason.starts_with("link — quote.zip is password-protected"), "{}", d.reason);
    }

    #[test]
    fn never_sends_links_over_any_session() {
        let d = decide("mx1.example.jp", &tls(Assurance::Dane), InlineMin::Never, None);
        assert_eq!(d.carriage, Carriage::Link);
        assert_eq!(d.reason, "link — the policy sends attachments to this domain as links whatever the TLS");
    }

    #[test]
    fn through_a_smart_host_the_recipients_own_mx_hosts_decide() {
        let hop = || decide("smart.isp.example", &tls(Assurance::Authenticated), InlineMin::Encrypted, None);
        let probe = |a: Assurance, why: Option<&str>| RecipientMx { assurance: a, why: why.map(str::to_string) };
        let probe_mode = SmartHostAttachments::Probe;
        // The partner's MX has no TLS: a TLS hop to the smart host does not make it inline.
        let plain = probe(Assurance::None, Some("mx.partner.example offered no STARTTLS"));
        let d = beyond_smart_host(hop(), "smart.isp.example", probe_mode, InlineMin::Encrypted, Some(&plain));
        assert_eq!(d.carriage, Carriage::Link);
        assert_eq!(
            d.reason,
            "link — probe-based (through the smart host smart.isp.example): mx.partner.example offered no STARTTLS; \
             attachments travel inline from encrypted"
        );
        let good = probe(Assurance::Authenticated, None);
        let d = beyond_smart_host(hop(), "smart.isp.example", probe_mode, InlineMin::Encrypted, Some(&good));
        assert_eq!(d.carriage, Carriage::Inline);
        assert!(
            d.reason.starts_with("inline — probe-based: the recipient's MX hosts reached authenticated"),
            "{}",
            d.reason
        );
        assert!(d.reason.ends_with("smart host smart.isp.example: TLS 1.3, authenticated"), "{}", d.reason);
        // Not probed, or the policy asks for more than the probe found: links.
        let d = beyond_smart_host(hop(), "smart.isp.example", probe_mode, InlineMin::Encrypted, None);
        assert_eq!(d.carriage, Carriage::Link);
        let d = beyond_smart_host(hop(), "smart.isp.example", probe_mode, InlineMin::Dane, Some(&good));
        assert_eq!(d.carriage, Carriage::Link);
        // "link" mode: always links; a hop that already means a link keeps its own reason.
        let d = beyond_smart_host(hop(), "smart.isp.example", SmartHostAttachments::Link, InlineMin::None, Some(&good));
        assert_eq!(
            (d.carriage, d.reason.as_str()),
            (
                Carriage::Link,
                "link — mail leaves through the smart host smart.isp.example (smart_host_attachments = \"link\")"
            )
        );
        let weak_hop = decide("smart.isp.example", &TlsEvidence::plaintext(false, None), InlineMin::Encrypted, None);
        let d = beyond_smart_host(weak_hop.clone(), "smart.isp.example", probe_mode, InlineMin::Encrypted, Some(&good));
        assert_eq!(d, weak_hop);
        // Policy "none": inline whatever either hop reached.
        let d = beyond_smart_host(hop(), "smart.isp.example", probe_mode, InlineMin::None, Some(&plain));
        assert_eq!(d.carriage, Carriage::Inline);
    }

    #[test]
    fn size_rules_turn_inline_into_links_and_say_which() {
        let inline = || decide("mx1.example.jp", &tls(Assurance::Dane), InlineMin::Encrypted, None);
        let link = || decide("mx1.example.jp", &TlsEvidence::plaintext(false, None), InlineMin::Encrypted, None);
        let mb = 1u64 << 20;
        let base = Sizes { files: 15 * mb, inline: 20 * mb, ..Sizes::default() };
        // (case, sizes, expected carriage, rule, words of the reason)
        let cases: Vec<(&str, Sizes, Carriage, Option<SizeRule>, &str)> = vec![
            ("no size rule", base, Carriage::Inline, None, "inline — TLS 1.3"),
            (
                "files above link_above",
                Sizes { link_above: Some(10 * mb), ..base },
                Carriage::Link,
                Some(SizeRule::LinkAbove { files: 15 * mb, limit: 10 * mb }),
                "larger than link_above (10485760 bytes)",
            ),
            ("files at link_above", Sizes { link_above: Some(15 * mb), ..base }, Carriage::Inline, None, "inline"),
            (
                "announced SIZE below the message",
                Sizes { advertised: Some(5_000_000), ..base },
                Carriage::Link,
                Some(SizeRule::Advertised { inline: 20 * mb, limit: 5_000_000 }),
                "mx1.example.jp announced SIZE 5000000",
            ),
            (
                "announced SIZE above the message",
                Sizes { advertised: Some(50 * mb), ..base },
                Carriage::Inline,
                None,
                "inline",
            ),
            ("SIZE without a limit", Sizes { advertised: Some(0), ..base }, Carriage::Inline, None, "inline"),
            (
                "refused for size last time",
                Sizes { refused_before: true, ..base },
                Carriage::Link,
                Some(SizeRule::RefusedBefore),
                "refused as too large (552 after the data)",
            ),
            (
                "link_above wins over the announced limit",
                Sizes { link_above: Some(10 * mb), advertised: Some(1), refused_before: true, ..base },
                Carriage::Link,
                Some(SizeRule::LinkAbove { files: 15 * mb, limit: 10 * mb }),
                "link_above",
            ),
        ];
        for (case, sizes, carriage, rule, words) in cases {
            let (d, r) = by_size(inline(), "mx1.example.jp", &sizes);
            assert_eq!((d.carriage, r), (carriage, rule), "{case}: {}", d.reason);
            assert!(d.reason.contains(words), "{case}: {}", d.reason);
        }
        // A link for the TLS keeps its own reason: the size adds nothing.
        let (d, r) = by_size(link(), "mx1.example.jp", &Sizes { link_above: Some(1), ..base });
        assert_eq!((d, r), (link(), None));
    }

    #[test]
    fn a_refusal_for_size_is_read_back_from_the_last_reply() {
        assert!(is_size_refusal("5.3.4", "552 5.3.4 Message too big"));
        assert!(is_size_refusal("5.0.0", "552 Message size exceeds fixed limit"));
        assert!(!is_size_refusal("5.7.1", "550 5.7.1 Relaying denied"));
        assert!(!is_size_refusal("5.2.2", "552 5.2.2 Mailbox full"), "a full mailbox is not the message's size");
        assert!(!is_size_refusal("5.0.0", "554 Transaction failed"));
        let reply = format!("mx1.example.jp {SIZE_REFUSAL} 552 5.3.4 too big");
        assert!(refused_for_size(Some(&reply)));
        assert!(!refused_for_size(Some("451 4.3.0 try later")));
        assert!(!refused_for_size(None));
    }
}
