//! DNSSEC status of the lookups DANE needs (RFC 7672 §2.1.1): each answer is secure, insecure
//! or bogus, and so is each denial of existence.
//!
//! hickory's validator marks every record with a `Proof` (RFC 4035 §4.3). Mapping:
//! - `Secure` when every record of the answer (CNAMEs included) is `Secure`, or when a denial
//!   (NODATA, NXDOMAIN) comes with an authenticated NSEC/NSEC3 proof;
//! - `Insecure` when the validator proved that the name lies in an unsigned zone (a signed
//!   "no DS" at a delegation above it);
//! - `Bogus` for `Bogus` records, a failed denial proof, and `Indeterminate` records: RFC 7672
//!   §2.1.1 treats "indeterminate" like "bogus" (a failed lookup), so delivery to that host waits.

use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::dnssec::Proof;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use serde::{Deserialize, Serialize};

use crate::DnsError;

/// A value with the DNSSEC status of the answer it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secured<T> {
    /// The answer. With [`Dnssec::Bogus`] it is empty (`MxAnswer::Mx(vec![])`, `vec![]`):
    /// nothing of a bogus answer is passed on.
    pub value: T,
    pub dnssec: Dnssec,
}

impl<T> Secured<T> {
    pub fn secure(value: T) -> Self {
        Secured { value, dnssec: Dnssec::Secure }
    }

    pub fn insecure(value: T) -> Self {
        Secured { value, dnssec: Dnssec::Insecure }
    }
}

/// DNSSEC status of an answer (RFC 4035 §4.3; indeterminate counts as bogus, RFC 7672 §2.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dnssec {
    /// A chain of signatures from the trust anchor covers the answer (or the denial), or the
    /// answer is a `[dns.static]` record.
    Secure,
    /// The name is provably in an unsigned zone, or validation is off (`[dns] dnssec = false`).
    Insecure,
    /// Signatures fail, have expired, or the chain of trust is broken or cannot be established:
    /// do not use the answer, and do not deliver to the host it is about for now.
    Bogus(String),
}

impl Dnssec {
    pub fn is_secure(&self) -> bool {
        matches!(self, Dnssec::Secure)
    }

    pub fn is_bogus(&self) -> bool {
        matches!(self, Dnssec::Bogus(_))
    }
}

/// One TLSA record (RFC 6698 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tlsa {
    /// Certificate usage: 2 DANE-TA, 3 DANE-EE (0 and 1 are not for SMTP, RFC 7672 §3.1.3).
    pub usage: u8,
    /// 0 full certificate, 1 SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// Certificate association data.
    #[serde(serialize_with = "hex", deserialize_with = "unhex")]
    pub data: Vec<u8>,
}

fn hex<S: serde::Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&data.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn unhex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    sekisho_config::decode_hex(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// What a validating lookup found.
#[derive(Debug)]
pub(crate) enum Validated {
    /// Records of the asked type (possibly after CNAMEs), with their status.
    Records(Vec<RData>, Dnssec),
    /// The name exists without records of that type.
    NoData(Dnssec),
    /// The name does not exist.
    NxDomain(Dnssec),
}

/// The status of an answer from the proofs of its records (RRSIGs left out: only the RRSIG used
/// for the proof carries it).
pub(crate) fn answer_status<'a>(records: impl IntoIterator<Item = &'a Record>, what: &str) -> Dnssec {
    let mut all_secure = true;
    for r in records.into_iter().filter(|r| r.record_type() != RecordType::RRSIG) {
        match r.proof {
            Proof::Secure => {}
            Proof::Insecure => all_secure = false,
            Proof::Bogus => return Dnssec::Bogus(format!("{what}: {} {} is bogus", r.name, r.record_type())),
            Proof::Indeterminate => {
                return Dnssec::Bogus(format!(
                    "{what}: DNSSEC status of {} {} is indeterminate",
                    r.name,
                    r.record_type()
                ));
            }
        }
    }
    if all_secure { Dnssec::Secure } else { Dnssec::Insecure }
}

/// The status of a denial of existence from its authority records: secure with an authenticated
/// NSEC or NSEC3 record (the validator returned the denial only because that proof held),
/// insecure otherwise (the validator proved the zone unsigned).
pub(crate) fn denial_status<'a>(authorities: impl IntoIterator<Item = &'a Record>) -> Dnssec {
    let proven = authorities
        .into_iter()
        .any(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3) && r.proof == Proof::Secure);
    if proven { Dnssec::Secure } else { Dnssec::Insecure }
}

/// Classifies the result of a validating lookup of `name`/`rtype`.
pub(crate) fn classify_validated(
    name: &str,
    rtype: RecordType,
    result: Result<hickory_resolver::lookup::Lookup, NetError>,
) -> Result<Validated, DnsError> {
    let what = format!("{rtype} {name}");
    match result {
        Ok(lookup) => {
            let status = answer_status(lookup.answers(), &what);
            let rdata: Vec<RData> =
                lookup.answers().iter().filter(|r| r.record_type() == rtype).map(|r| r.data.clone()).collect();
            if status.is_bogus() {
                Ok(Validated::Records(Vec::new(), status))
            } else if rdata.is_empty() {
                Ok(Validated::NoData(status))
            } else {
                Ok(Validated::Records(rdata, status))
            }
        }
        Err(NetError::Dns(HickoryDnsError::NoRecordsFound(nr))) => {
            let status = denial_status(nr.authorities.iter().flat_map(|a| a.iter()));
            if nr.response_code == ResponseCode::NXDomain {
                Ok(Validated::NxDomain(status))
            } else {
                Ok(Validated::NoData(status))
            }
        }
        Err(NetError::Dns(HickoryDnsError::Nsec { response, proof, .. })) => match proof {
            Proof::Insecure if response.response_code == ResponseCode::NXDomain => {
                Ok(Validated::NxDomain(Dnssec::Insecure))
            }
            Proof::Insecure => Ok(Validated::NoData(Dnssec::Insecure)),
            other => Ok(Validated::Records(
                Vec::new(),
                Dnssec::Bogus(format!("{what}: the denial of existence is {}", other.to_string().to_lowercase())),
            )),
        },
        Err(NetError::Dns(HickoryDnsError::DnssecBogus)) => Ok(Validated::Records(
            Vec::new(),
            Dnssec::Bogus(format!(
                "{what}: DNSSEC validation failed (bad or expired signature, or broken chain of trust)"
            )),
        )),
        Err(e) => Err(DnsError::Temporary(name.to_string(), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::dnssec::rdata::{DNSSECRData, NSEC};
    use hickory_resolver::proto::rr::Name;
    use hickory_resolver::proto::rr::rdata::A;

    fn record(proof: Proof) -> Record {
        let mut r = Record::from_rdata(Name::from_ascii("a.example.").unwrap(), 60, RData::A(A::new(127, 0, 0, 1)));
        r.proof = proof;
        r
    }

    fn nsec(proof: Proof) -> Record {
        let name = Name::from_ascii("a.example.").unwrap();
        let mut r = Record::from_rdata(
            name.clone(),
            60,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(name, [RecordType::A, RecordType::NSEC]))),
        );
        r.proof = proof;
        r
    }

    #[test]
    fn answer_status_needs_every_record_secure() {
        let all = [record(Proof::Secure), record(Proof::Secure)];
        assert_eq!(answer_status(&all, "x"), Dnssec::Secure);
        let mixed = [record(Proof::Secure), record(Proof::Insecure)];
        assert_eq!(answer_status(&mixed, "x"), Dnssec::Insecure, "a CNAME into an unsigned zone is insecure");
        assert!(answer_status(&[record(Proof::Secure), record(Proof::Bogus)], "x").is_bogus());
        assert!(answer_status(&[record(Proof::Indeterminate)], "x").is_bogus(), "indeterminate counts as bogus");
    }

    #[test]
    fn denial_is_secure_only_with_an_authenticated_nsec() {
        assert_eq!(denial_status(&[nsec(Proof::Secure)]), Dnssec::Secure);
        assert_eq!(denial_status(&[nsec(Proof::Insecure)]), Dnssec::Insecure);
        assert_eq!(denial_status(&[record(Proof::Secure)]), Dnssec::Insecure, "a signed SOA alone proves nothing");
        assert_eq!(denial_status(&[]), Dnssec::Insecure);
    }

    #[test]
    fn serializes_kebab_case_and_hex() {
        assert_eq!(serde_json::to_string(&Dnssec::Secure).unwrap(), "\"secure\"");
        assert_eq!(serde_json::to_string(&Dnssec::Bogus("x".into())).unwrap(), "{\"bogus\":\"x\"}");
        let t = Tlsa { usage: 3, selector: 1, matching: 1, data: vec![0, 0xab] };
        assert_eq!(
            serde_json::to_string(&Secured::secure(vec![t])).unwrap(),
            "{\"value\":[{\"usage\":3,\"selector\":1,\"matching\":1,\"data\":\"00ab\"}],\"dnssec\":\"secure\"}"
        );
    }
}
