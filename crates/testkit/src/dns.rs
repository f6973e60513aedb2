//! A fake DNS server on loopback: answers A, AAAA, MX, TXT, CNAME and TLSA from a zone the test
//! writes, NXDOMAIN for unknown names, SERVFAIL where the test asks for it, and silence for the
//! names a test makes [`FakeDns::silent`]. UDP and TCP.
//!
//! DNSSEC, for DANE tests: unsigned until the test declares a zone with [`FakeDns::sign_zone`]
//! or [`FakeDns::unsigned_zone`]. From then on the server is authoritative for the whole tree
//! with a signed root "." (ECDSA P-256, one combined key per signed zone, its DNSKEY the trust
//! anchor [`FakeDns::trust_anchor_file`] writes), and for queries with the DO bit it signs
//! every RRset of a signed zone and proves denials with NSEC (RFC 4035):
//! - names in the root zone, or in a zone declared with `sign_zone` (delegated from its parent
//!   with a signed DS), validate as secure;
//! - names in a zone declared with `unsigned_zone` (delegated without DS, a signed NSEC at the
//!   delegation proving it) validate as insecure;
//! - [`FakeDns::corrupt_signatures`] and [`FakeDns::expire_signatures`] make the signatures over
//!   a name and everything below it bogus.
//!
//! Zones with DNSSEC get an SOA and NS at their apex; the server follows no referrals, like a
//! recursive resolver that has the whole tree in its cache, which is what hickory's validator
//! expects of its upstream: it asks for DNSKEY, DS and NS (to find zone cuts) on the same server.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_resolver::proto::dnssec::crypto::EcdsaSigningKey;
use hickory_resolver::proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, RRSIG, SigInput};
use hickory_resolver::proto::dnssec::{Algorithm, DigestType, PublicKeyBuf, SigningKey, TBS};
use hickory_resolver::proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TLSA, TXT};
use hickory_resolver::proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const TTL: u32 = 60;

#[derive(Default)]
struct Zone {
    records: HashMap<String, Vec<RData>>,
    servfail: Vec<String>,
    silent: Vec<String>,
    queries: usize,
    /// `None`: the plain unsigned server.
    dnssec: Option<Signing>,
}

/// The zones of the tree once DNSSEC is on; the root (apex "") is always the first.
struct Signing {
    zones: Vec<ZoneCut>,
    corrupt: Vec<String>,
    expired: Vec<String>,
}

struct ZoneCut {
    /// Apex, as `key()` writes it ("" for the root).
    apex: String,
    /// `None`: an unsigned zone, delegated without DS.
    key: Option<ZoneKey>,
}

struct ZoneKey {
    signing: Box<dyn SigningKey>,
    dnskey: DNSKEY,
    tag: u16,
}

impl ZoneKey {
    fn generate() -> ZoneKey {
        let pkcs8 = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256).expect("generate P-256 key");
        let signing = EcdsaSigningKey::from_pkcs8(&pkcs8, Algorithm::ECDSAP256SHA256).expect("load P-256 key");
        let public: PublicKeyBuf = signing.to_public_key().expect("public key");
        // Zone key + secure entry point (257): one key signs the DNSKEY RRset and the zone.
        let dnskey = DNSKEY::from_key(&public);
        let tag = dnskey.calculate_key_tag().expect("key tag");
        ZoneKey { signing: Box::new(signing), dnskey, tag }
    }
}

/// A running fake DNS server.
pub struct FakeDns {
    /// Address to put in `[dns] servers`.
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn name(host: &str) -> Name {
    Name::from_ascii(format!("{}.", host.trim_end_matches('.'))).expect("valid test name")
}

/// True when `name` is `ancestor` or below it (keys; "" is the root).
fn at_or_below(name: &str, ancestor: &str) -> bool {
    ancestor.is_empty() || name == ancestor || name.ends_with(&format!(".{ancestor}"))
}

/// The parent of a key ("" for a top-level label; the root has none).
fn parent(name: &str) -> Option<&str> {
    if name.is_empty() { None } else { Some(name.split_once('.').map_or("", |(_, p)| p)) }
}

impl FakeDns {
    /// Starts on `ip` (e.g. "127.0.0.53") with a free port, UDP and TCP.
    pub async fn start(ip: &str) -> FakeDns {
        let udp = UdpSocket::bind((ip.parse::<IpAddr>().expect("ip"), 0)).await.expect("bind UDP");
        let addr = udp.local_addr().expect("addr");
        let tcp = TcpListener::bind(addr).await.expect("bind TCP on the same port");
        let zone = Arc::new(Mutex::new(Zone::default()));
        let z = zone.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else { continue };
                if let Some(reply) = answer(&z, &buf[..n], true) {
                    let _ = udp.send_to(&reply, peer).await;
                }
            }
        });
        let z = zone.clone();
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else { continue };
                let z = z.clone();
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 2];
                        if s.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                        if s.read_exact(&mut q).await.is_err() {
                            return;
                        }
                        let Some(reply) = answer(&z, &q, false) else { return };
                        let mut out = (reply.len() as u16).to_be_bytes().to_vec();
                        out.extend_from_slice(&reply);
                        if s.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeDns { addr, zone, tasks: vec![udp_task, tcp_task] }
    }

    fn add(&self, owner: &str, data: RData) {
        self.zone.lock().expect("zone").records.entry(key(owner)).or_default().push(data);
    }

    /// Adds an MX record ("." as exchange makes a null MX).
    pub fn mx(&self, domain: &str, preference: u16, exchange: &str) {
        let ex = if exchange == "." { Name::root() } else { name(exchange) };
        self.add(domain, RData::MX(MX::new(preference, ex)));
    }

    /// Adds an A or AAAA record.
    pub fn addr(&self, host: &str, ip: &str) {
        match ip.parse::<IpAddr>().expect("ip") {
            IpAddr::V4(v4) => self.add(host, RData::A(A(v4))),
            IpAddr::V6(v6) => self.add(host, RData::AAAA(AAAA(v6))),
        }
    }

    /// Adds a TXT record; text longer than 255 bytes (a DKIM key) is split into several
    /// character-strings, which readers join.
    pub fn txt(&self, owner: &str, text: &str) {
        let strings = text.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        self.add(owner, RData::TXT(TXT::new(strings)));
    }

    /// Adds a TLSA record, e.g. `tlsa("_25._tcp.mx1.example.jp", 3, 1, 1, &sha256_of_spki)`.
    pub fn tlsa(&self, owner: &str, usage: u8, selector: u8, matching: u8, data: &[u8]) {
        let tlsa = TLSA::new(CertUsage::from(usage), Selector::from(selector), Matching::from(matching), data.to_vec());
        self.add(owner, RData::TLSA(tlsa));
    }

    /// Makes `alias` a CNAME for `target`.
    pub fn cname(&self, alias: &str, target: &str) {
        self.add(alias, RData::CNAME(CNAME(name(target))));
    }

    /// Removes every record of `owner` (it answers NXDOMAIN from now on).
    pub fn remove(&self, owner: &str) {
        self.zone.lock().expect("zone").records.remove(&key(owner));
    }

    /// Answers SERVFAIL for every query about `owner`.
    pub fn servfail(&self, owner: &str) {
        self.zone.lock().expect("zone").servfail.push(key(owner));
    }

    /// Never answers a query about `owner` or any name below it (a list that does not answer).
    pub fn silent(&self, owner: &str) {
        self.zone.lock().expect("zone").silent.push(key(owner));
    }

    /// Queries answered so far.
    pub fn queries(&self) -> usize {
        self.zone.lock().expect("zone").queries
    }

    /// Makes `apex` a signed zone: its own key, a signed DS in the parent zone. The first zone
    /// declared (this or [`FakeDns::unsigned_zone`]) turns DNSSEC on, with a signed root; `"."`
    /// signs only the root, whose zone then holds every name outside declared zones.
    pub fn sign_zone(&self, apex: &str) {
        self.declare(apex, true);
    }

    /// Makes `apex` an unsigned zone delegated from its signed parent without DS (a signed NSEC
    /// at the delegation proves it): its names validate as insecure.
    pub fn unsigned_zone(&self, apex: &str) {
        assert!(!key(apex).is_empty(), "the root is always signed once DNSSEC is on");
        self.declare(apex, false);
    }

    /// Signs the RRsets of `name` and every name below it with a damaged signature: they
    /// validate as bogus (a zone apex: the whole zone, through its DNSKEY RRset).
    pub fn corrupt_signatures(&self, name: &str) {
        self.signing(|s| s.corrupt.push(key(name)));
    }

    /// Signs the RRsets of `name` and every name below it with signatures that expired a week
    /// ago: they validate as bogus.
    pub fn expire_signatures(&self, name: &str) {
        self.signing(|s| s.expired.push(key(name)));
    }

    /// Writes the root's DNSKEY as a trust-anchor file for `[dns] trust_anchor` (zone-file
    /// presentation format, ". 3600 IN DNSKEY 257 3 13 <base64>") to `dir/root.key`, and returns
    /// its path. Turns DNSSEC on if no zone was declared yet.
    pub fn trust_anchor_file(&self, dir: &Path) -> PathBuf {
        let line = self.signing(|s| {
            let root = s.zones[0].key.as_ref().expect("signed root");
            format!("; fake root key, tag {}\n. 3600 IN DNSKEY {}\n", root.tag, root.dnskey)
        });
        let path = dir.join("root.key");
        std::fs::write(&path, line).expect("write trust anchor");
        path
    }

    fn signing<T>(&self, f: impl FnOnce(&mut Signing) -> T) -> T {
        let mut z = self.zone.lock().expect("zone");
        let s = z.dnssec.get_or_insert_with(|| Signing {
            zones: vec![ZoneCut { apex: String::new(), key: Some(ZoneKey::generate()) }],
            corrupt: Vec::new(),
            expired: Vec::new(),
        });
        f(s)
    }

    fn declare(&self, apex: &str, signed: bool) {
        let apex = key(apex);
        self.signing(|s| {
            if apex.is_empty() {
                return;
            }
            s.zones.retain(|z| z.apex != apex);
            s.zones.push(ZoneCut { apex, key: signed.then(ZoneKey::generate) });
        });
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn answer(zone: &Mutex<Zone>, packet: &[u8], udp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(packet).ok()?;
    let q = query.queries.first()?.clone();
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.message_type = MessageType::Response;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.add_query(q.clone());
    let mut z = zone.lock().ok()?;
    z.queries += 1;
    let owner = key(&q.name().to_ascii());
    if z.silent.iter().any(|s| at_or_below(&owner, s)) {
        return None;
    }
    if z.servfail.contains(&owner) {
        reply.metadata.response_code = ResponseCode::ServFail;
        return reply.to_vec().ok();
    }
    if z.dnssec.is_some() {
        let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let limit = query.edns.as_ref().map_or(512, |e| e.max_payload().max(512)) as usize;
        if query.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(4096);
            edns.set_dnssec_ok(dnssec_ok);
            reply.edns = Some(edns);
        }
        let truncated = reply.clone();
        answer_tree(&z, &mut reply, owner, q.query_type(), dnssec_ok);
        let bytes = reply.to_vec().ok()?;
        if udp && bytes.len() > limit {
            let mut truncated = truncated;
            truncated.metadata.truncation = true;
            return truncated.to_vec().ok();
        }
        return Some(bytes);
    }
    let mut owner = owner;
    // Follow CNAME chains (bounded), answering with every step.
    for _ in 0..8 {
        let Some(records) = z.records.get(&owner) else {
            if reply.answers.is_empty() {
                reply.metadata.response_code = ResponseCode::NXDomain;
            }
            break;
        };
        let wanted: Vec<RData> = records.iter().filter(|r| r.record_type() == q.query_type()).cloned().collect();
        let cname = records.iter().find_map(|r| match r {
            RData::CNAME(c) if q.query_type() != RecordType::CNAME => Some(c.0.clone()),
            _ => None,
        });
        let owner_name = name(&owner);
        if !wanted.is_empty() {
            for r in wanted {
                reply.add_answer(Record::from_rdata(owner_name.clone(), TTL, r));
            }
            break;
        }
        match cname {
            Some(target) => {
                reply.add_answer(Record::from_rdata(owner_name, TTL, RData::CNAME(CNAME(target.clone()))));
                owner = key(&target.to_ascii());
            }
            None => break, // NODATA: the name exists without this type
        }
    }
    reply.to_vec().ok()
}

/// A view of the tree with DNSSEC on.
struct Tree<'a> {
    records: &'a HashMap<String, Vec<RData>>,
    signing: &'a Signing,
}

impl<'a> Tree<'a> {
    /// The zone holding `owner`: the deepest declared apex at or above it.
    fn zone_of(&self, owner: &str) -> &'a ZoneCut {
        self.signing
            .zones
            .iter()
            .filter(|z| at_or_below(owner, &z.apex))
            .max_by_key(|z| z.apex.len())
            .expect("the root holds every name")
    }

    /// The zone answering `qtype` at `owner`: DS at a zone apex comes from the parent zone.
    fn serving_zone(&self, owner: &str, qtype: RecordType) -> &'a ZoneCut {
        let zone = self.zone_of(owner);
        match parent(&zone.apex) {
            Some(p) if qtype == RecordType::DS && zone.apex == owner => self.zone_of(p),
            _ => zone,
        }
    }

    /// Child zones delegated from `zone`.
    fn children(&self, zone: &'a ZoneCut) -> impl Iterator<Item = &'a ZoneCut> + '_ {
        self.signing
            .zones
            .iter()
            .filter(move |c| !c.apex.is_empty() && parent(&c.apex).is_some_and(|p| std::ptr::eq(self.zone_of(p), zone)))
    }

    /// Owner names of `zone` (apex, authoritative names, delegation points), canonically sorted.
    fn names(&self, zone: &'a ZoneCut) -> Vec<Name> {
        let mut names: Vec<Name> = std::iter::once(zone.apex.as_str())
            .chain(self.records.keys().map(String::as_str).filter(|o| std::ptr::eq(self.zone_of(o), zone)))
            .chain(self.children(zone).map(|c| c.apex.as_str()))
            .map(name)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The RRsets at `owner` as `zone` serves them.
    fn rrsets(&self, zone: &'a ZoneCut, owner: &str) -> BTreeMap<RecordType, Vec<RData>> {
        let mut sets: BTreeMap<RecordType, Vec<RData>> = BTreeMap::new();
        if let Some(child) = self.children(zone).find(|c| c.apex == owner) {
            // Delegation point, parent side: NS, and DS for a signed child.
            sets.insert(RecordType::NS, vec![RData::NS(NS(name(&format!("ns.{owner}"))))]);
            if let Some(k) = &child.key {
                let ds = DS::from_key(k.dnskey.public_key(), &name(owner), DigestType::SHA256).expect("DS");
                sets.insert(RecordType::DS, vec![RData::DNSSEC(DNSSECRData::DS(ds))]);
            }
            return sets;
        }
        if !std::ptr::eq(self.zone_of(owner), zone) {
            return sets;
        }
        if owner == zone.apex {
            sets.insert(RecordType::SOA, vec![soa(owner)]);
            sets.insert(RecordType::NS, vec![RData::NS(NS(name(&format!("ns.{owner}"))))]);
            if let Some(k) = &zone.key {
                sets.insert(RecordType::DNSKEY, vec![RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey.clone()))]);
            }
        }
        for r in self.records.get(owner).into_iter().flatten() {
            sets.entry(r.record_type()).or_default().push(r.clone());
        }
        sets
    }

    /// An RRset, with its RRSIG when `zone` is signed and the query asked for DNSSEC.
    fn rrset(&self, zone: &ZoneCut, owner: &Name, rtype: RecordType, data: &[RData], dnssec_ok: bool) -> Vec<Record> {
        let mut out: Vec<Record> = data.iter().map(|d| Record::from_rdata(owner.clone(), TTL, d.clone())).collect();
        if let (Some(k), true) = (&zone.key, dnssec_ok) {
            let o = key(&owner.to_ascii());
            let corrupt = self.signing.corrupt.iter().any(|c| at_or_below(&o, c));
            let expired = self.signing.expired.iter().any(|c| at_or_below(&o, c));
            out.push(rrsig(k, &name(&zone.apex), owner, rtype, &out, corrupt, expired));
        }
        out
    }

    /// The NSEC record at `names[i]`, next name wrapping to the apex.
    fn nsec(&self, zone: &'a ZoneCut, names: &[Name], i: usize, dnssec_ok: bool) -> Vec<Record> {
        let owner = &names[i];
        let next = names[(i + 1) % names.len()].clone();
        let types = self.rrsets(zone, &key(&owner.to_ascii())).into_keys().chain([RecordType::RRSIG, RecordType::NSEC]);
        let nsec = RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types)));
        self.rrset(zone, owner, RecordType::NSEC, &[nsec], dnssec_ok)
    }
}

fn soa(apex: &str) -> RData {
    let host = |label: &str| name(&format!("{label}.{apex}"));
    RData::SOA(SOA::new(host("ns"), host("hostmaster"), 1, 3600, 600, 86_400, TTL))
}

fn rrsig(
    k: &ZoneKey,
    signer: &Name,
    owner: &Name,
    rtype: RecordType,
    records: &[Record],
    corrupt: bool,
    expired: bool,
) -> Record {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as u32;
    let week = 7 * 86_400;
    let (inception, expiration) = if expired { (now - 2 * week, now - week) } else { (now - 3600, now + week) };
    let input = SigInput {
        type_covered: rtype,
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: owner.num_labels(),
        original_ttl: TTL,
        sig_expiration: SerialNumber::new(expiration),
        sig_inception: SerialNumber::new(inception),
        key_tag: k.tag,
        signer_name: signer.clone(),
    };
    let tbs = TBS::from_input(owner, DNSClass::IN, &input, records.iter()).expect("data to sign");
    let mut sig = k.signing.sign(&tbs).expect("sign");
    if corrupt {
        sig[7] ^= 0x5a;
    }
    Record::from_rdata(owner.clone(), TTL, RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))))
}

/// Answers `qtype` at `owner` from the zone tree: records (following CNAMEs), or NODATA /
/// NXDOMAIN with the zone's SOA and, for a signed zone, the NSEC records proving it.
fn answer_tree(z: &Zone, reply: &mut Message, mut owner: String, qtype: RecordType, dnssec_ok: bool) {
    let tree = Tree { records: &z.records, signing: z.dnssec.as_ref().expect("DNSSEC on") };
    for _ in 0..8 {
        let zone = tree.serving_zone(&owner, qtype);
        let owner_name = name(&owner);
        let sets = tree.rrsets(zone, &owner);
        if let Some(data) = sets.get(&qtype) {
            for r in tree.rrset(zone, &owner_name, qtype, data, dnssec_ok) {
                reply.add_answer(r);
            }
            return;
        }
        if qtype != RecordType::CNAME
            && let Some(data) = sets.get(&RecordType::CNAME)
        {
            let RData::CNAME(target) = &data[0] else { unreachable!("CNAME set") };
            let target = key(&target.0.to_ascii());
            for r in tree.rrset(zone, &owner_name, RecordType::CNAME, data, dnssec_ok) {
                reply.add_answer(r);
            }
            owner = target;
            continue;
        }
        // NODATA or NXDOMAIN.
        let names = tree.names(zone);
        let exists = names.iter().any(|n| owner_name.zone_of(n));
        if !exists && reply.answers.is_empty() {
            reply.metadata.response_code = ResponseCode::NXDomain;
        }
        let apex = name(&zone.apex);
        for r in tree.rrset(zone, &apex, RecordType::SOA, &[soa(&zone.apex)], dnssec_ok) {
            reply.add_authority(r);
        }
        if zone.key.is_none() || !dnssec_ok {
            return;
        }
        // The NSEC at the name, or the one covering it (an empty non-terminal or a missing name).
        let covering = |n: &Name| names.iter().rposition(|m| m <= n).unwrap_or(names.len() - 1);
        let mut proofs = vec![covering(&owner_name)];
        if !exists {
            // ... and the one covering the wildcard at the closest encloser.
            let mut encloser = owner_name.base_name();
            while !names.iter().any(|n| encloser.zone_of(n)) {
                encloser = encloser.base_name();
            }
            let wildcard = encloser.prepend_label("*").expect("wildcard name");
            proofs.push(covering(&wildcard));
        }
        proofs.dedup();
        for i in proofs {
            for r in tree.nsec(zone, &names, i, dnssec_ok) {
                reply.add_authority(r);
            }
        }
        return;
    }
}
