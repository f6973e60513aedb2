//! The text an administrator can send to a partner's postmaster: what sekisho saw, what is
//! missing, how to fix it, and how to check it with the public TLS checker. Never sent by
//! sekisho itself.

use crate::{Partner, Reason};

/// The language of the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// From `ja` or `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// [`explain`] as the gateway of `config` writes it: signed with `[reports] organization`
/// (else the host name), the checker at `[portal] url` + `/check`, times in `time_zone`.
pub fn explain_as(p: &Partner, lang: Lang, config: &sekisho_config::Config) -> String {
    let r = &config.reports;
    let organisation = if r.organization.is_empty() { config.hostname.as_str() } else { &r.organization };
    let checker = format!("{}/check", config.portal.url.trim_end_matches('/'));
    let date = |t: i64| config.time_zone.format(t, "%Y-%m-%d %H:%M:%S");
    explain(p, lang, organisation, &checker, &date)
}

/// The explanation for `p`'s postmaster, from `organisation` (who is writing), with
/// `checker` the public checker page's address (`[portal] url` + `/check`). `date` formats Unix
/// seconds as the administrator reads them.
pub fn explain(p: &Partner, lang: Lang, organisation: &str, checker: &str, date: &dyn Fn(i64) -> String) -> String {
    let check = format!("{checker}?domain={}", p.domain);
    let mut out = String::new();
    let delivered = p.inline + p.links + p.without_files;
    match lang {
        Lang::En => {
            out.push_str(&format!("Subject: Encrypted mail from {organisation} to {}\n\n", p.domain));
            out.push_str(&format!("To the postmaster of {},\n\n", p.domain));
            out.push_str(&format!(
                "our mail gateway ({organisation}) records how each delivery to your mail servers is protected. Since {}, \
                 {} of {} delivery attempts to {} fell short of what our policy asks for, and {} of {} messages with \
                 attachments reached your users as download links instead of attachments.\n\n",
                date(p.since),
                p.first_half.short + p.second_half.short,
                p.attempts,
                p.domain,
                p.links,
                p.inline + p.links,
            ));
            if delivered == 0 {
                out.push_str("No message was delivered in that time.\n\n");
            }
            for r in &p.reasons {
                out.push_str(&format!(
                    "* {} ({} attempts, last {}):\n  {}\n  How to fix it: {}\n\n",
                    r.reason.words(),
                    r.attempts,
                    date(r.last_at),
                    what_en(&r.reason),
                    fix_en(&r.reason, &p.domain)
                ));
            }
            out.push_str(&format!(
                "How to check: our public TLS checker connects to your mail servers as our gateway does and shows \
                 what each of them proves:\n  {check}\nWhen every server shows a valid certificate (and, where \
                 asked, MTA-STS or DANE), attachments reach your users as attachments again.\n\n\
                 Thank you,\n{organisation}\n"
            ));
        }
        Lang::Ja => {
            out.push_str(&format!("件名: {organisation} から {} 宛てのメールの暗号化について\n\n", p.domain));
            out.push_str(&format!("{} ご担当者様（postmaster）\n\n", p.domain));
            out.push_str(&format!(
                "弊社（{organisation}）のメールゲートウェイは、貴社メールサーバーへの配送ごとに通信の保護状態を記録しています。\
                 {} 以降、{} 宛ての配送 {} 件のうち {} 件が弊社ポリシーの求める水準に達せず、添付ファイル付きメール \
                 {} 通のうち {} 通は添付ファイルの代わりにダウンロードリンクとして届いています。\n\n",
                date(p.since),
                p.domain,
                p.attempts,
                p.first_half.short + p.second_half.short,
                p.inline + p.links,
                p.links,
            ));
            if delivered == 0 {
                out.push_str("この期間に配送できたメールはありません。\n\n");
            }
            for r in &p.reasons {
                out.push_str(&format!(
                    "・{}（{} 件、最終 {}）\n  {}\n  対処: {}\n\n",
                    words_ja(&r.reason),
                    r.attempts,
                    date(r.last_at),
                    what_ja(&r.reason),
                    fix_ja(&r.reason, &p.domain)
                ));
            }
            out.push_str(&format!(
                "確認方法: 弊社の公開 TLS チェッカーが、弊社ゲートウェイと同じ方法で貴社メールサーバーに接続し、\
                 各サーバーの状態を表示します。\n  {check}\n\
                 すべてのサーバーで有効な証明書（求められる場合は MTA-STS または DANE）が確認できれば、\
                 添付ファイルは再び添付ファイルとして届きます。\n\nよろしくお願いいたします。\n{organisation}\n"
            ));
        }
    }
    out
}

fn what_en(r: &Reason) -> String {
    match r {
        Reason::NoStarttls => "Your server did not offer STARTTLS, so the session could not be encrypted.".into(),
        Reason::CertificateExpired => "The certificate your server presents has expired.".into(),
        Reason::NameMismatch => "The certificate your server presents does not name the MX host we connected to.".into(),
        Reason::Untrusted => {
            "The certificate is self-signed or was not issued by a publicly trusted certificate authority (or the \
             intermediate certificates are missing)."
                .into()
        }
        Reason::NoMtaStsOrDane => {
            "The session was encrypted with a valid certificate, but your domain publishes neither an MTA-STS policy in \
             mode enforce nor DNSSEC-signed TLSA records (DANE), which our policy asks for before files travel as \
             attachments."
                .into()
        }
        Reason::DowngradeSuspected => {
            "Earlier sessions with your servers used TLS and these did not: something on the path may remove \
             STARTTLS (a firewall's SMTP inspection, for example)."
                .into()
        }
        Reason::Other(kind) => format!("The TLS session failed validation ({kind})."),
    }
}

fn fix_en(r: &Reason, domain: &str) -> String {
    match r {
        Reason::NoStarttls => {
            "enable STARTTLS on every MX host with a certificate for its name (Postfix: smtpd_tls_security_level = may \
             with smtpd_tls_chain_files; Exchange: a certificate bound to the receive connector)."
                .into()
        }
        Reason::CertificateExpired => {
            "renew the certificate (or automate it with ACME) and reload the SMTP service.".into()
        }
        Reason::NameMismatch => {
            format!("use a certificate whose subjectAltName lists every MX host name published for {domain}.")
        }
        Reason::Untrusted => {
            "use a certificate from a publicly trusted certificate authority and serve the full chain.".into()
        }
        Reason::NoMtaStsOrDane => format!(
            "publish an MTA-STS policy (a _mta-sts.{domain} TXT record and https://mta-sts.{domain}/.well-known/\
             mta-sts.txt in mode enforce, naming your MX hosts), or sign your zone with DNSSEC and publish TLSA \
             records for your MX hosts."
        ),
        Reason::DowngradeSuspected => {
            "check that firewalls and load balancers in front of your MX hosts pass STARTTLS through unchanged.".into()
        }
        Reason::Other(_) => "check the certificate chain and TLS configuration of every MX host.".into(),
    }
}

fn words_ja(r: &Reason) -> &'static str {
    match r {
        Reason::NoStarttls => "STARTTLS 非対応",
        Reason::CertificateExpired => "証明書の有効期限切れ",
        Reason::NameMismatch => "証明書のホスト名不一致",
        Reason::Untrusted => "自己署名または信頼されない証明書",
        Reason::NoMtaStsOrDane => "MTA-STS/DANE 未設定（弊社ポリシーで必要）",
        Reason::DowngradeSuspected => "STARTTLS ダウングレードの疑い",
        Reason::Other(_) => "TLS の検証失敗",
    }
}

fn what_ja(r: &Reason) -> String {
    match r {
        Reason::NoStarttls => "貴社サーバーが STARTTLS を提示しなかったため、通信を暗号化できませんでした。".into(),
        Reason::CertificateExpired => "貴社サーバーが提示する証明書の有効期限が切れています。".into(),
        Reason::NameMismatch => "貴社サーバーが提示する証明書に、接続先 MX ホストの名前が含まれていません。".into(),
        Reason::Untrusted => {
            "証明書が自己署名であるか、公的に信頼された認証局の発行ではありません（中間証明書の不足を含む）。".into()
        }
        Reason::NoMtaStsOrDane => {
            "通信は有効な証明書で暗号化されましたが、貴社ドメインは MTA-STS（enforce）のポリシーも DNSSEC 署名付きの \
             TLSA レコード（DANE）も公開していません。弊社ポリシーでは、添付ファイルのまま送るにはこれが必要です。"
                .into()
        }
        Reason::DowngradeSuspected => {
            "以前は TLS で通信できていましたが、今回はできませんでした。経路上の機器（ファイアウォールの SMTP 検査機能など）が \
             STARTTLS を取り除いている可能性があります。"
                .into()
        }
        Reason::Other(kind) => format!("TLS の検証に失敗しました（{kind}）。"),
    }
}

fn fix_ja(r: &Reason, domain: &str) -> String {
    match r {
        Reason::NoStarttls => {
            "すべての MX ホストで、ホスト名の証明書とともに STARTTLS を有効にしてください（Postfix: smtpd_tls_security_level = \
             may と smtpd_tls_chain_files、Exchange: 受信コネクタに証明書を割り当て）。"
                .into()
        }
        Reason::CertificateExpired => {
            "証明書を更新し（ACME による自動更新を推奨）、SMTP サービスを再読み込みしてください。".into()
        }
        Reason::NameMismatch => {
            format!("{domain} の MX として公開しているすべてのホスト名を subjectAltName に含む証明書を使ってください。")
        }
        Reason::Untrusted => {
            "公的に信頼された認証局の証明書を使い、中間証明書を含むチェーン全体を提示してください。".into()
        }
        Reason::NoMtaStsOrDane => format!(
            "MTA-STS ポリシー（_mta-sts.{domain} の TXT レコードと https://mta-sts.{domain}/.well-known/mta-sts.txt、\
             mode: enforce、MX ホストを列挙）を公開するか、ゾーンを DNSSEC で署名し MX ホストの TLSA レコードを公開してください。"
        ),
        Reason::DowngradeSuspected => {
            "MX ホストの前段にあるファイアウォールやロードバランサーが STARTTLS をそのまま通すか確認してください。".into()
        }
        Reason::Other(_) => "すべての MX ホストの証明書チェーンと TLS 設定を確認してください。".into(),
    }
}
