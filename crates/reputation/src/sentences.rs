//! Each hit's finding: which list named what, and why in words (the well-known return codes
//! of Spamhaus's lists in words of their own, any other list's in general words), in English
//! and Japanese.

use sekisho_policy::sender::{FindingKind, ReputationHit, SenderFinding};
use sekisho_policy::text::visible;

use crate::Source;

/// What a well-known list's code means, in English and Japanese; None for other lists.
fn meaning(list: &str, code: &str) -> Option<(&'static str, &'static str)> {
    let last: u8 = code.split(", ").next()?.rsplit('.').next()?.parse().ok()?;
    if list.ends_with("zen.spamhaus.org") || list.ends_with("sbl-xbl.spamhaus.org") {
        return match last {
            2 | 3 => Some(("a known source of spam", "迷惑メールの送信元として知られています")),
            4..=7 => {
                Some(("a computer taken over by malware", "マルウェアに乗っ取られたコンピュータとして知られています"))
            }
            9 => Some(("a network run by criminals", "犯罪者が運用するネットワークとして知られています")),
            10 | 11 => Some((
                "an address of home or dynamic users that should not send mail directly",
                "直接メールを送信するべきでない一般利用者向けのアドレスです",
            )),
            _ => None,
        };
    }
    if list.ends_with("dbl.spamhaus.org") {
        return match last {
            2 | 102 => Some(("a domain used for spam", "迷惑メールに使われたドメインとして知られています")),
            4 | 104 => Some(("a domain used for phishing", "フィッシングに使われたドメインとして知られています")),
            5 | 105 => Some(("a domain spreading malware", "マルウェアの配布に使われたドメインとして知られています")),
            6 | 106 => Some((
                "a domain controlling infected computers",
                "感染したコンピュータの制御に使われたドメインとして知られています",
            )),
            _ => None,
        };
    }
    None
}

/// The finding for one hit.
pub(crate) fn hit(h: &ReputationHit, source: Source) -> SenderFinding {
    let (list, listed, code) = (visible(&h.list), visible(&h.listed), visible(&h.code));
    let known = meaning(&h.list, &h.code);
    let (sentence, sentence_ja) = match source {
        Source::Client => {
            let (why, why_ja) = known.unwrap_or((
                "its operator has seen spam or abuse from it",
                "迷惑メールや不正な送信の送信元として知られています",
            ));
            (
                format!(
                    "The server that sent this message ({listed}) is on the blocklist {list} (answer {code}): {why}."
                ),
                format!(
                    "このメールを送信したサーバ（{listed}）はブロックリスト {list} に掲載されています（応答 {code}）。{why_ja}。"
                ),
            )
        }
        _ => {
            let (whose, whose_ja) = match source {
                Source::EnvelopeSender => ("The sending domain", "送信元のドメイン"),
                Source::From => ("The sender's domain", "差出人のドメイン"),
                Source::ReplyTo => ("The reply address's domain", "返信先のドメイン"),
                _ => ("A link in this message goes to", "本文中のリンク先のドメイン"),
            };
            let (why, why_ja) = known.unwrap_or((
                "its operator has seen it used for spam or abuse",
                "迷惑メールや不正なサイトに使われたドメインとして知られています",
            ));
            let en = if source == Source::Link {
                format!("{whose} {listed}, which is on the blocklist {list} (answer {code}): {why}.")
            } else {
                format!("{whose} {listed} is on the blocklist {list} (answer {code}): {why}.")
            };
            (en, format!("{whose_ja} {listed} はブロックリスト {list} に掲載されています（応答 {code}）。{why_ja}。"))
        }
    };
    SenderFinding {
        kind: FindingKind::Reputation,
        detail: format!("{list}: {} {listed} → {code}", h.source),
        sentence,
        sentence_ja,
    }
}
