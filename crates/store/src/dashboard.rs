//! What the administrator's dashboard (`/sent/dashboard`) reads of the store: the recent
//! delivery attempts, the delivered recipients counted per assurance level and time bucket, the
//! age of the oldest queued message, and the links' counts. The queries are methods of the
//! role traits ([`crate::MessageStore`], [`crate::LinkStore`]); these are their values.

use serde::Serialize;

/// One delivery attempt, newest first in [`crate::MessageStore::recent_deliveries`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentDelivery {
    pub message_id: String,
    /// When the attempt ended (Unix seconds).
    pub at: i64,
    /// The recipient's domain, lower case.
    pub domain: String,
    /// "submission", "mx" or "local": where the message came from.
    pub origin: String,
    /// The assurance the session reached ("none" ... "dane"), when the attempt recorded evidence.
    pub assurance: Option<String>,
    /// The TLS version and cipher ("TLSv1.3 TLS13_AES_256_GCM_SHA384"), when there was TLS.
    pub tls: Option<String>,
    /// "delivered", "deferred" or "bounced".
    pub outcome: String,
}

/// Delivered recipients of one time bucket that reached one assurance level
/// ([`crate::MessageStore::delivered_by_assurance`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssuranceCount {
    /// The bucket's number: 0 is the one starting at `since`, each `width` seconds long.
    pub bucket: i64,
    /// The level the delivering session reached; None when the attempt recorded no evidence.
    pub assurance: Option<String>,
    pub delivered: u64,
}

/// The portal's links at one moment ([`crate::LinkStore::link_counts`]): those still
/// working, those expired or revoked within the window, and the downloads of all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkCounts {
    pub active: u64,
    pub expired: u64,
    pub revoked: u64,
    /// Files downloaded through these links (each download counted).
    pub downloads: u64,
}

/// A row of the recent attempts' query (either backend).
pub(crate) fn recent_delivery(r: &impl crate::rows::Cols) -> RecentDelivery {
    RecentDelivery {
        message_id: r.text("message_id"),
        at: r.int("at"),
        domain: r.text("domain"),
        origin: r.text("origin"),
        assurance: r.opt_text("assurance"),
        tls: r.opt_text("tls"),
        outcome: r.text("outcome"),
    }
}

/// A row of the per-bucket, per-level count (either backend).
pub(crate) fn assurance_count(r: &impl crate::rows::Cols) -> AssuranceCount {
    AssuranceCount { bucket: r.int("bucket"), assurance: r.opt_text("assurance"), delivered: r.int("n").max(0) as u64 }
}

/// The row of the links' counts (either backend).
pub(crate) fn link_counts(r: &impl crate::rows::Cols) -> LinkCounts {
    let n = |k: &str| r.int(k).max(0) as u64;
    LinkCounts { active: n("active"), expired: n("expired"), revoked: n("revoked"), downloads: n("downloads") }
}
