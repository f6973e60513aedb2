//! Which envelope senders a submission client may use (`[senders]`), asked by the session at
//! MAIL FROM (`Next::VerifySender`): an authenticated account only its own addresses (its name
//! when that is an address, the addresses bound in the account store, `patterns`), a trusted
//! network only `trusted_domains`.

use sekisho_config::SendersConfig;
use sekisho_smtp::{Reply, SenderVerdict};

use crate::server::Ctx;

/// The verdict on `address` for `user` (`None`: a trusted-network client without AUTH), with
/// the addresses bound to the account. Pure.
pub(crate) fn decide(cfg: &SendersConfig, user: Option<&str>, address: &str, bound: &[String]) -> SenderVerdict {
    let Some(user) = user else {
        return if cfg.trusted_may_use(address) { SenderVerdict::Allowed } else { SenderVerdict::NotTrustedDomain };
    };
    if !cfg.bind_to_accounts || address.is_empty() {
        return SenderVerdict::Allowed;
    }
    let same = |a: &str| a.trim_end_matches('.').eq_ignore_ascii_case(address.trim_end_matches('.'));
    let own =
        same(user) || bound.iter().any(|b| same(b)) || cfg.patterns.iter().any(|p| same(&p.replace("{user}", user)));
    if own { SenderVerdict::Allowed } else { SenderVerdict::NotBound { account: user.to_string() } }
}

/// The verdict, reading the account's bound addresses from the store when they matter.
pub(crate) async fn check(ctx: &Ctx, user: Option<&str>, address: &str) -> SenderVerdict {
    let cfg = &ctx.config.senders;
    let bound = match user {
        Some(u) if cfg.bind_to_accounts && !address.is_empty() => match bound_addresses(ctx, u).await {
            Some(bound) => bound,
            None => return SenderVerdict::Unverified,
        },
        _ => Vec::new(),
    };
    decide(cfg, user, address, &bound)
}

/// The addresses bound to account `user`: in the account store, and in the directory with
/// `[senders] ldap`. `None` when a source could not be read.
pub(crate) async fn bound_addresses(ctx: &Ctx, user: &str) -> Option<Vec<String>> {
    let mut bound = match ctx.queue.stores().accounts.addresses(user).await {
        Ok(bound) => bound,
        Err(e) => {
            tracing::warn!(user = %user, error = %e, "cannot read the account's sender addresses");
            return None;
        }
    };
    if let (true, Some(directory)) = (ctx.config.senders.ldap, &ctx.directory) {
        let l = &ctx.config.ldap;
        let filter = sekisho_directory::filter(&l.sender_filter, "user", user);
        let attrs: Vec<&str> = l.sender_attributes.iter().map(String::as_str).collect();
        match directory.search(&filter, &attrs).await {
            Ok(entries) => bound.extend(sekisho_directory::addresses(&entries, &l.sender_attributes)),
            Err(e) => {
                tracing::warn!(user = %user, error = %e, "cannot read the account's addresses from the directory");
                return None;
            }
        }
    }
    Some(bound)
}

/// The refusal of a message whose header From names an address the sender may not use (550
/// 5.7.1 after DATA), checked like the envelope sender. Pure.
pub(crate) fn header_refusal(
    cfg: &SendersConfig,
    user: Option<&str>,
    from: &[String],
    bound: &[String],
) -> Option<Reply> {
    from.iter().find_map(|address| {
        let text = match decide(cfg, user, address, bound) {
            SenderVerdict::NotBound { account } => {
                format!(
                    "Header From <{address}> is not one of the addresses of account {account}; send as your own address"
                )
            }
            SenderVerdict::NotTrustedDomain => {
                format!("Header From <{address}> is not in a domain this trusted network may send for")
            }
            SenderVerdict::Allowed | SenderVerdict::Unverified => return None,
        };
        Some(Reply::new(550, "5.7.1", text))
    })
}

/// The refusal for the header From of a submitted message, reading the account's bound
/// addresses when they matter; a store failure is 451 4.3.0.
pub(crate) async fn check_header(ctx: &Ctx, user: Option<&str>, from: &[String]) -> Option<Reply> {
    let cfg = &ctx.config.senders;
    let bound = match user {
        Some(u) if cfg.bind_to_accounts && !from.is_empty() => match bound_addresses(ctx, u).await {
            Some(bound) => bound,
            None => return Some(Reply::new(451, "4.3.0", "Sender addresses cannot be checked now; try again later")),
        },
        _ => Vec::new(),
    };
    header_refusal(cfg, user, from, &bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SendersConfig {
        SendersConfig {
            bind_to_accounts: true,
            patterns: vec!["{user}@corp.test".into()],
            trusted_domains: vec!["corp.test".into()],
            ldap: false,
        }
    }

    #[test]
    fn an_account_sends_only_as_its_own_addresses() {
        let bound = vec!["sales@corp.test".to_string()];
        let d = |user, address| decide(&cfg(), Some(user), address, &bound);
        assert_eq!(d("alice", "alice@corp.test"), SenderVerdict::Allowed, "the pattern");
        assert_eq!(d("alice", "Alice@CORP.test"), SenderVerdict::Allowed);
        assert_eq!(d("alice", "sales@corp.test"), SenderVerdict::Allowed, "bound in the store");
        assert_eq!(d("bob@corp.test", "bob@corp.test"), SenderVerdict::Allowed, "the account's name is an address");
        assert_eq!(d("alice", ""), SenderVerdict::Allowed, "the null sender");
        assert_eq!(d("alice", "ceo@corp.test"), SenderVerdict::NotBound { account: "alice".into() });
        assert_eq!(d("alice", "alice@outside.example"), SenderVerdict::NotBound { account: "alice".into() });
        let off = SendersConfig { bind_to_accounts: false, ..cfg() };
        assert_eq!(decide(&off, Some("alice"), "ceo@corp.test", &[]), SenderVerdict::Allowed);
    }

    #[test]
    fn a_trusted_network_sends_only_for_its_domains() {
        assert_eq!(decide(&cfg(), None, "app@corp.test", &[]), SenderVerdict::Allowed);
        assert_eq!(decide(&cfg(), None, "ceo@outside.example", &[]), SenderVerdict::NotTrustedDomain);
        assert_eq!(decide(&SendersConfig::default(), None, "ceo@outside.example", &[]), SenderVerdict::Allowed);
    }

    #[test]
    fn the_header_from_is_checked_like_the_envelope_sender() {
        let bound = vec!["sales@corp.test".to_string()];
        let from = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            header_refusal(&cfg(), Some("alice"), &from(&["alice@corp.test", "sales@corp.test"]), &bound).is_none()
        );
        let r = header_refusal(&cfg(), Some("alice"), &from(&["alice@corp.test", "ceo@corp.test"]), &bound).unwrap();
        assert_eq!((r.code, r.status), (550, Some("5.7.1")));
        assert_eq!(
            r.lines[0],
            "Header From <ceo@corp.test> is not one of the addresses of account alice; send as your own address"
        );
        assert!(header_refusal(&cfg(), None, &from(&["x@outside.example"]), &[]).is_some());
        assert!(header_refusal(&cfg(), Some("alice"), &[], &bound).is_none(), "no From field: nothing to compare");
    }
}
