//! Each finding's evidence and its sentences (English, Japanese). Outsiders' text (display
//! names, addresses) goes through [`visible`] so that no control or invisible character
//! reaches a page, a banner or a header.

use sekisho_lookalike::{How, LookAlike, Why};
use sekisho_policy::sender::{FindingKind, SenderFinding};
use sekisho_policy::text::visible;

use crate::country::Country;

fn finding(kind: FindingKind, detail: String, sentence: String, sentence_ja: String) -> SenderFinding {
    SenderFinding { kind, detail, sentence, sentence_ja }
}

pub(crate) fn look_alike(found: &LookAlike) -> SenderFinding {
    let domain = visible(&found.domain);
    let how = match found.how {
        How::Confusable => "confusable characters".to_string(),
        How::Swap => "a common letter swap".to_string(),
        How::Edits(n) => format!("{n} edit{}", if n == 1 { "" } else { "s" }),
        How::MixedScript => "mixed scripts".to_string(),
    };
    match (&found.imitates, found.why) {
        (Some(imitates), Some(why)) => {
            let imitates = visible(imitates);
            let (en, ja) = match why {
                Why::Local => ("one of your organisation's own domains", "自社のドメイン"),
                Why::Partner => ("a partner you write to", "取引先のドメイン"),
                Why::Corresponded => ("a domain your organisation writes to", "やり取りのあるドメイン"),
            };
            finding(
                FindingKind::LookAlike,
                format!("{domain} ~ {imitates} ({how})"),
                format!("{domain} looks like {imitates}, {en}: it is not that domain."),
                format!("{domain} は{ja} {imitates} に似ていますが、別のドメインです。"),
            )
        }
        _ => finding(
            FindingKind::LookAlike,
            format!("{domain} ({how})"),
            format!("{domain} mixes letters of different scripts, as names made to imitate another one do."),
            format!("{domain} には異なる文字体系の文字が混在しています（なりすましに使われる手口です）。"),
        ),
    }
}

pub(crate) fn name_holds_address(name: &str, address: &str) -> SenderFinding {
    let (name, address) = (visible(name), visible(address));
    finding(
        FindingKind::DisplayNameSpoof,
        format!("display name \"{name}\", address {address}"),
        format!("The name shown, \"{name}\", is another address than the one this message came from ({address})."),
        format!("差出人名「{name}」は、実際の差出人アドレス（{address}）とは別のアドレスです。"),
    )
}

pub(crate) fn internal_name(name: &str, address: &str) -> SenderFinding {
    let (name, address) = (visible(name), visible(address));
    finding(
        FindingKind::DisplayNameSpoof,
        format!("display name \"{name}\" (an internal name), address {address}"),
        format!(
            "The name shown, \"{name}\", is the name of a person of your organisation, but the message came from an outside address ({address})."
        ),
        format!("差出人名「{name}」は社内の人の名前ですが、社外のアドレス（{address}）から送られています。"),
    )
}

pub(crate) fn header_envelope_mismatch(from_org: &str, envelope_org: &str) -> SenderFinding {
    let (from, envelope) = (visible(from_org), visible(envelope_org));
    finding(
        FindingKind::HeaderEnvelopeMismatch,
        format!("header From {from}, envelope sender {envelope}"),
        format!("The sender shown ({from}) differs from the domain that actually sent the message ({envelope})."),
        format!("表示されている差出人（{from}）と、実際に送信したドメイン（{envelope}）が異なります。"),
    )
}

pub(crate) fn reply_to_elsewhere(reply: &str, reply_org: &str, from_org: &str) -> SenderFinding {
    let (reply, reply_org, from) = (visible(reply), visible(reply_org), visible(from_org));
    finding(
        FindingKind::ReplyToElsewhere,
        format!("Reply-To {reply} ({reply_org}), From {from}"),
        format!("A reply goes to {reply}, in another domain ({reply_org}) than the sender's ({from})."),
        format!("返信先 {reply} は、差出人（{from}）とは別のドメイン（{reply_org}）です。"),
    )
}

pub(crate) fn first_contact(address: &str, domain: &str) -> SenderFinding {
    let (address, domain) = (visible(address), visible(domain));
    finding(
        FindingKind::FirstContact,
        format!("no mail written to {address} or to {domain} before"),
        format!("Nobody in your organisation has written to {address} or to anyone at {domain} before."),
        format!("社内からこれまでに {address}（{domain}）宛てにメールを送ったことはありません。"),
    )
}

pub(crate) fn origin_country(country: &Country) -> SenderFinding {
    let code = visible(&country.code);
    let en = country.name_en.as_deref().map(visible).unwrap_or_else(|| code.clone());
    let ja = country.name_ja.as_deref().map(visible).unwrap_or_else(|| en.clone());
    let (usual_en, usual_ja) = if country.usual {
        ("", "")
    } else {
        (", a country your organisation does not correspond with", "（普段やり取りのない国です）")
    };
    finding(
        FindingKind::OriginCountry,
        format!("client in {code}{}", if country.usual { "" } else { " (unusual)" }),
        format!("The message was sent from {en}{usual_en}."),
        format!("このメールは{ja}から送信されました{usual_ja}。"),
    )
}
