//! The portal's storage quotas (`[portal] quota_per_sender`, `quota_total`), checked at
//! submission: a message with files that would take the sender's kept files, or everyone's,
//! over the quota is refused with 552 and a sentence naming the quota, before the 250. What is
//! counted is what the sealed store holds now (files not yet purged) and what messages not yet
//! delivered may still make it keep (their [`weight`]); the purge frees it as links expire.

use sekisho_config::PortalConfig;
use sekisho_rewrite::human_size;
use sekisho_smtp::Reply;
use sekisho_store::{LinkStore, StoreError};

/// What the quotas weigh: the message's files together and the bytes already kept, for the
/// sender and for everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub files: u64,
    pub sender_kept: u64,
    pub total_kept: u64,
}

/// The refusal, if the message's files would go over a quota: the per-sender one first. A
/// pure function.
pub(crate) fn decide(per_sender: Option<u64>, total: Option<u64>, u: Usage) -> Option<Reply> {
    let over = |quota: u64, kept: u64| kept.saturating_add(u.files) > quota;
    if let Some(quota) = per_sender.filter(|&q| over(q, u.sender_kept)) {
        return Some(Reply::new(
            552,
            "5.3.1",
            format!(
                "Your files kept in the download portal would exceed your storage quota (quota_per_sender = {}: {} \
                 kept or waiting for delivery, this message's files {}); the message was not queued. Send it again once older links have \
                 expired, or ask your administrator",
                human_size(quota),
                human_size(u.sender_kept),
                human_size(u.files)
            ),
        ));
    }
    if let Some(quota) = total.filter(|&q| over(q, u.total_kept)) {
        return Some(Reply::new(
            552,
            "5.3.1",
            format!(
                "The download portal's storage is full (quota_total = {}: {} kept or waiting for delivery, this \
                 message's files {}); the message was not queued. Send it again later, or ask your administrator",
                human_size(quota),
                human_size(u.total_kept),
                human_size(u.files)
            ),
        ));
    }
    None
}

/// What a submitted message may make the portal keep: its files as inspection measured them (the
/// whole body when it did not look), and with `[portal] original_download` the original message
/// beside them. Nothing for a message without files: no link is made for it.
pub(crate) fn weight(portal: &PortalConfig, findings: Option<&[sekisho_store::FileFinding]>, size: u64) -> u64 {
    let files = findings.map_or(size, |f| f.iter().map(|f| f.size).sum());
    match files {
        0 => 0,
        _ if portal.original_download => files.saturating_add(size),
        _ => files,
    }
}

/// The refusal for a submitted message from `sender` whose [`weight`] is `files` bytes, if a
/// quota is set and would be exceeded.
pub(crate) async fn check(
    portal: &PortalConfig,
    links: &dyn LinkStore,
    sender: &str,
    files: u64,
) -> Result<Option<Reply>, StoreError> {
    let (per_sender, total) = (portal.quota_per_sender.map(|s| s.0), portal.quota_total.map(|s| s.0));
    if files == 0 || (per_sender.is_none() && total.is_none()) {
        return Ok(None);
    }
    let sender_kept = if per_sender.is_some() { links.kept_bytes(Some(sender)).await? } else { 0 };
    let total_kept = if total.is_some() { links.kept_bytes(None).await? } else { 0 };
    Ok(decide(per_sender, total, Usage { files, sender_kept, total_kept }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_weighs_its_files_and_the_original_kept_beside_them() {
        let finding = |size| sekisho_store::FileFinding {
            section: "2".into(),
            name: "a.pdf".into(),
            content_type: "application/pdf".into(),
            size,
            found: sekisho_store::Found::Clean,
        };
        let mut portal = PortalConfig::default();
        let files = [finding(300), finding(200)];
        assert_eq!(weight(&portal, Some(&files), 1000), 500);
        // Not inspected: the whole body may be files.
        assert_eq!(weight(&portal, None, 1000), 1000);
        // No files: no link, nothing kept, even with the original offered.
        portal.original_download = true;
        assert_eq!(weight(&portal, Some(&[]), 1000), 0);
        assert_eq!(weight(&portal, Some(&files), 1000), 1500);
    }

    #[test]
    fn each_quota_refuses_with_its_own_sentence() {
        const MB: u64 = 1 << 20;
        let u = |files, sender_kept, total_kept| Usage { files, sender_kept, total_kept };
        // (per sender, total, usage, the refusal's words if refused)
        type Case = (Option<u64>, Option<u64>, Usage, Option<&'static str>);
        let cases: [Case; 7] = [
            (None, None, u(900 * MB, 900 * MB, 900 * MB), None),
            (Some(100 * MB), None, u(40 * MB, 60 * MB, 0), None),
            (Some(100 * MB), None, u(41 * MB, 60 * MB, 0), Some("quota_per_sender = 100.0 MiB: 60.0 MiB kept")),
            (None, Some(1024 * MB), u(41 * MB, 0, 1000 * MB), Some("quota_total = 1024.0 MiB: 1000.0 MiB kept")),
            (None, Some(1024 * MB), u(24 * MB, 0, 1000 * MB), None),
            (Some(100 * MB), Some(1024 * MB), u(50 * MB, 60 * MB, 1000 * MB), Some("quota_per_sender")),
            (Some(100 * MB), Some(1024 * MB), u(10 * MB, 60 * MB, 1020 * MB), Some("quota_total")),
        ];
        for (per_sender, total, usage, words) in cases {
            let reply = decide(per_sender, total, usage);
            match (reply, words) {
                (None, None) => {}
                (Some(r), Some(words)) => {
                    assert_eq!((r.code, r.status), (552, Some("5.3.1")));
                    assert!(r.lines[0].contains(words), "{:?}", r.lines);
                    assert!(r.lines[0].contains("the message was not queued"), "{:?}", r.lines);
                }
                (r, w) => panic!("{per_sender:?} {total:?} {usage:?}: {r:?}, expected {w:?}"),
            }
        }
    }
}
