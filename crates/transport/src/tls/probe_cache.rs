//! The probe cache: the TLS evidence of the last delivery session to each MX address, kept in
//! the store for `[outbound] probe_cache_ttl`, so `sekisho check --cached` (and, later, the
//! planning of a message) can say what a destination offers without connecting. What a
//! message is sent with is always decided by the live session, never by this cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sekisho_store::{ProbeRecord, TlsStore};

use super::assurance::Assurance;
use super::evidence::TlsEvidence;
use crate::client::session::Target;

/// One cached session.
#[derive(Debug, Clone)]
pub struct CachedProbe {
    pub ip: String,
    pub port: u16,
    /// Unix seconds of the session.
    pub at: i64,
    pub evidence: TlsEvidence,
}

/// What was last written for an address: when, and what it proved.
type Written = (i64, Assurance, Option<String>);

/// The cache, shared by every delivery.
pub struct ProbeCache {
    ttl: i64,
    store: Arc<dyn TlsStore>,
    written: Mutex<HashMap<(String, String, u16), Written>>,
}

impl ProbeCache {
    /// A cache keeping evidence `ttl` seconds (0: off).
    pub fn new(ttl: i64, store: Arc<dyn TlsStore>) -> ProbeCache {
        ProbeCache { ttl, store, written: Mutex::new(HashMap::new()) }
    }

    /// What the last session to `target` proved, when this process had one within the TTL.
    pub fn recent(&self, target: &Target, now: i64) -> Option<Assurance> {
        let key = (target.host.to_ascii_lowercase(), target.ip.to_string(), target.port);
        let written = self.written.lock().expect("probe cache");
        written.get(&key).filter(|(at, _, _)| now - at < self.ttl).map(|(_, assurance, _)| *assurance)
    }

    /// Records the evidence of a session to `target`. Written at most every quarter of the TTL
    /// per address, unless what the session proved changed.
    pub fn observe(&self, target: &Target, evidence: &TlsEvidence, now: i64) {
        if self.ttl <= 0 {
            return;
        }
        let key = (target.host.to_ascii_lowercase(), target.ip.to_string(), target.port);
        let proved = (evidence.assurance, evidence.certificate.as_ref().map(|c| c.spki_sha256.clone()));
        {
            let mut written = self.written.lock().expect("probe cache");
            if let Some((at, assurance, spki)) = written.get(&key)
                && now - at < self.ttl / 4
                && (*assurance, spki.clone()) == proved
            {
                return;
            }
            written.insert(key.clone(), (now, proved.0, proved.1));
        }
        let Ok(json) = serde_json::to_string(evidence) else { return };
        let record = ProbeRecord { host: key.0, ip: key.1, port: key.2, at: now, evidence: json };
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.record_probe(&record).await {
                tracing::error!(error = %e, "cannot store the probe cache");
            }
        });
    }
}

/// The sessions to `host` within `ttl` seconds of `now`, as `store` kept them.
pub async fn cached_probes(store: &dyn TlsStore, host: &str, ttl: i64, now: i64) -> Vec<CachedProbe> {
    if ttl <= 0 {
        return Vec::new();
    }
    match store.probes(&host.to_ascii_lowercase(), now - ttl).await {
        Ok(rows) => rows
            .into_iter()
            .filter_map(|r| {
                let evidence = serde_json::from_str(&r.evidence).ok()?;
                Some(CachedProbe { ip: r.ip, port: r.port, at: r.at, evidence })
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the probe cache");
            Vec::new()
        }
    }
}
