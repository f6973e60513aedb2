//! Whether a report (aggregate or failure) may go to one destination: a destination outside
//! the policy domain's organisation must authorise it at
//! `<policy-domain>._report._dmarc.<its domain>` (RFC 7489 §7.1), and its `!size` limit must
//! take the report.

use sekisho_dns::Dns;

use super::rua::{Destination, authorises, needs_authorisation};

/// Why `d` does not get a report about `domain` of `size` bytes: `not sent: ...` (the
/// destination does not take it) or `failed: ...` (the lookup failed for now); None: send it.
pub async fn refusal(dns: &dyn Dns, domain: &str, d: &Destination, size: u64, what: &str) -> Option<String> {
    let rua_domain = d.domain();
    if needs_authorisation(domain, &rua_domain) {
        let name = format!("{domain}._report._dmarc.{rua_domain}");
        match dns.txt(&name).await {
            Ok(answers) if authorises(&answers) => {}
            Err(e) if e.is_temporary() => return Some(format!("failed: cannot look up {name}: {e}")),
            _ => {
                return Some(format!(
                    "not sent: {rua_domain} is outside {domain}'s organisation and publishes no v=DMARC1 record at {name} (RFC 7489 §7.1)"
                ));
            }
        }
    }
    match d.max_size {
        Some(max) if size > max => {
            Some(format!("not sent: the {what} ({size} bytes) is larger than the {max} bytes {} accepts", d.uri))
        }
        _ => None,
    }
}
