//! Lookups of DNS blocklists (RFC 5782): the A records of a name under a list's zone, through
//! the plain resolver of `[dns]`, which keeps positive answers for their TTL and negative ones
//! (NXDOMAIN, no records) for their SOA minimum, at least [`crate::NEGATIVE_MIN_TTL`].

use std::net::Ipv4Addr;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};
use sekisho_config::DnsConfig;

use crate::{DnsError, classify, fqdn};

/// The resolver the blocklists are asked through; one per server, its cache shared.
pub struct Blocklists {
    resolver: TokioResolver,
}

impl Blocklists {
    /// The resolver of `[dns]` (`[dns.static]` does not apply).
    pub fn new(config: &DnsConfig) -> Result<Blocklists, DnsError> {
        Ok(Blocklists { resolver: crate::plain_resolver(config)? })
    }

    /// The list's addresses for `name` ("2.0.0.127.zen.example"); empty when the name is not
    /// listed (NXDOMAIN or no A records). SERVFAIL and timeouts are errors.
    pub async fn lookup(&self, name: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
        match self.resolver.lookup(fqdn(name), RecordType::A).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect()),
            Err(e) => match classify(name, "A", e) {
                DnsError::NoSuchDomain(_) | DnsError::NoRecords(..) => Ok(Vec::new()),
                other => Err(other),
            },
        }
    }
}
