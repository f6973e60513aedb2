//! Where clamd listens: `unix:/run/clamav/clamd.ctl`, `127.0.0.1:3310` or `[::1]:3310`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// The socket clamd listens on (clamd.conf `LocalSocket` or `TCPSocket`/`TCPAddr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClamdAddress {
    /// A Unix-domain socket, written `unix:/run/clamav/clamd.ctl`.
    Unix(PathBuf),
    /// An IP address and port, written `127.0.0.1:3310` or `[::1]:3310`.
    Tcp(SocketAddr),
}

/// Why a text is not a clamd address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// `unix:` with nothing after it.
    #[error("`unix:` needs the socket's path, e.g. \"unix:/run/clamav/clamd.ctl\"")]
    EmptyPath,
    /// `unix:` followed by a relative path, which would depend on the working directory.
    #[error("`{0}` is not an absolute path; write e.g. \"unix:/run/clamav/clamd.ctl\"")]
    RelativePath(String),
    /// Neither `unix:PATH` nor an IP address with a port (host names are not looked up).
    #[error("`{0}` is not a clamd address; write \"unix:/run/clamav/clamd.ctl\", \"127.0.0.1:3310\" or \"[::1]:3310\"")]
    NotAnAddress(String),
}

impl FromStr for ClamdAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(AddressError::EmptyPath);
            }
            if !path.starts_with('/') {
                return Err(AddressError::RelativePath(path.to_string()));
            }
            return Ok(ClamdAddress::Unix(PathBuf::from(path)));
        }
        text.parse().map(ClamdAddress::Tcp).map_err(|_| AddressError::NotAnAddress(text.to_string()))
    }
}

impl fmt::Display for ClamdAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClamdAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            ClamdAddress::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_sockets_and_ip_addresses_with_ports_parse() {
        assert_eq!(
            "unix:/run/clamav/clamd.ctl".parse(),
            Ok(ClamdAddress::Unix(PathBuf::from("/run/clamav/clamd.ctl")))
        );
        assert_eq!("127.0.0.1:3310".parse(), Ok(ClamdAddress::Tcp("127.0.0.1:3310".parse().unwrap())));
        assert_eq!("[::1]:3310".parse(), Ok(ClamdAddress::Tcp("[::1]:3310".parse().unwrap())));
    }

    #[test]
    fn an_address_prints_as_it_is_written() {
        for text in ["unix:/run/clamav/clamd.ctl", "127.0.0.1:3310", "[::1]:3310"] {
            assert_eq!(text.parse::<ClamdAddress>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn what_is_not_an_address_says_why() {
        assert_eq!("unix:".parse::<ClamdAddress>(), Err(AddressError::EmptyPath));
        assert_eq!("unix:clamd.ctl".parse::<ClamdAddress>(), Err(AddressError::RelativePath("clamd.ctl".into())));
        for text in ["localhost:3310", "127.0.0.1", "::1:3310", "", "/run/clamav/clamd.ctl", "tcp://127.0.0.1:3310"] {
            assert_eq!(text.parse::<ClamdAddress>(), Err(AddressError::NotAnAddress(text.into())), "{text}");
        }
    }
}
