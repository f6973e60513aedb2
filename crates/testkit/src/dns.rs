//! A fake DNS server on loopback: answers A, AAAA, MX, TXT, CNAME and TLSA from a zone the test
//! writes, NXDOMAIN for unknown names, and SERVFAIL where the test asks for it. UDP and TCP.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

#[derive(Default)]
struct Zone {
    records: HashMap<String, Vec<RData>>,
    servfail: Vec<String>,
    queries: usize,
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
                if let Some(reply) = answer(&z, &buf[..n]) {
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
                        let Some(reply) = answer(&z, &q) else { return };
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

    /// Adds a TXT record.
    pub fn txt(&self, owner: &str, text: &str) {
        self.add(owner, RData::TXT(TXT::new(vec![text.to_string()])));
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

    /// Queries answered so far.
    pub fn queries(&self) -> usize {
        self.zone.lock().expect("zone").queries
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn answer(zone: &Mutex<Zone>, packet: &[u8]) -> Option<Vec<u8>> {
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
    let mut owner = key(&q.name().to_ascii());
    if z.servfail.contains(&owner) {
        reply.metadata.response_code = ResponseCode::ServFail;
        return reply.to_vec().ok();
    }
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
                reply.add_answer(Record::from_rdata(owner_name.clone(), 60, r));
            }
            break;
        }
        match cname {
            Some(target) => {
                reply.add_answer(Record::from_rdata(owner_name, 60, RData::CNAME(CNAME(target.clone()))));
                owner = key(&target.to_ascii());
            }
            None => break, // NODATA: the name exists without this type
        }
    }
    reply.to_vec().ok()
}
