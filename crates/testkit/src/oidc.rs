//! A real OpenID Provider for one test: PyPI's `oidc-provider-mock` (scripts/test installs it
//! for `python3`), on a loopback address and a free port, requiring client registration and a
//! nonce; stopped when dropped. Users' claims are set with `set_user`; a browser's sign-in is
//! its authorization form, posted with the user's `sub` (`authorize`).

use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};

/// A running provider.
pub struct OidcProvider {
    child: Child,
    addr: std::net::SocketAddr,
    /// Its issuer URL, `http://IP:PORT`.
    pub issuer: String,
}

/// One blocking HTTP/1.1 exchange with `addr`: the status and the body.
fn exchange(addr: std::net::SocketAddr, method: &str, target: &str, content_type: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the provider");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("timeout");
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).expect("send to the provider");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("the provider's answer");
    let status = answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (status, format!("{head}\r\n\r\n{body}"))
}

impl OidcProvider {
    /// Starts the provider on `ip` (a loopback address); waits until it answers.
    pub fn start(ip: &str) -> OidcProvider {
        let port = std::net::TcpListener::bind((ip, 0)).expect("a free port").local_addr().expect("addr").port();
        let child = Command::new("python3")
            .args(["-m", "oidc_provider_mock", "--host", ip, "--port", &port.to_string()])
            .args(["--require-registration", "true", "--require-nonce", "true"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m oidc_provider_mock (scripts/test: pip install oidc-provider-mock)");
        let addr = std::net::SocketAddr::new(ip.parse().expect("an IP address"), port);
        let provider = OidcProvider { child, addr, issuer: format!("http://{addr}") };
        for _ in 0..200 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return provider;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the OpenID Provider did not start listening on {addr}");
    }

    /// Registers a client answering at `redirect_uri`: its ID and secret.
    pub fn register(&self, redirect_uri: &str) -> (String, String) {
        let body = serde_json::json!({ "redirect_uris": [redirect_uri] }).to_string();
        let (status, answer) = exchange(self.addr, "POST", "/oauth2/clients", "application/json", &body);
        assert_eq!(status, 201, "{answer}");
        let json: serde_json::Value =
            serde_json::from_str(answer.split_once("\r\n\r\n").expect("a body").1).expect("JSON");
        (json["client_id"].as_str().expect("id").into(), json["client_secret"].as_str().expect("secret").into())
    }

    /// Sets the claims of user `sub` (e.g. `{"email": ..., "email_verified": true}`).
    pub fn set_user(&self, sub: &str, claims: serde_json::Value) {
        let (status, answer) =
            exchange(self.addr, "PUT", &format!("/users/{sub}"), "application/json", &claims.to_string());
        assert_eq!(status, 204, "{answer}");
    }

    /// Posts the authorization form at `url` as user `sub`: the redirect back to sekisho.
    pub fn authorize_as(&self, url: &str, sub: &str) -> String {
        let target = url.strip_prefix(&self.issuer).expect("a URL of this provider");
        let body = format!("sub={sub}");
        let (status, answer) = exchange(self.addr, "POST", target, "application/x-www-form-urlencoded", &body);
        assert_eq!(status, 302, "{answer}");
        answer
            .lines()
            .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
            .expect("a Location")
            .trim()
            .to_string()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
