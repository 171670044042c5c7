//! Where a connection goes: the URL grammar of `docs/urls.md`, parsed and validated before
//! any socket exists.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::Error;

/// The longest socket path or abstract name: `sun_path` holds 108 bytes, and a path needs
/// its terminating NUL (an abstract name its leading one).
pub const MAX_SOCKET_NAME: usize = 107;

/// A parsed ipclane address: which transport, and where.
///
/// | URL | transport |
/// |---|---|
/// | `unix:///run/app/feed.sock` | framed Unix stream socket at a path |
/// | `unix:@app-feed` | framed Unix stream socket with an abstract name |
/// | `seqpacket:///run/app/feed.sock` | Unix `SOCK_SEQPACKET`, one message per packet |
/// | `tcp://127.0.0.1:7000`, `tcp://[::1]:7000`, `tcp://feed.local:7000` | framed TCP, with no authentication or encryption ([`Url::Tcp`]) |
/// | `shm:///run/app/feed.sock` | shared memory, set up over the Unix socket at that path |
///
/// Parsing checks everything that can be checked without the network: the scheme, that a
/// path is absolute and fits a socket address, that a port is a number below 65536. The
/// [`Display`](fmt::Display) form is the canonical URL, which parses back to the same
/// value.
///
/// ```
/// use ipclane::Url;
///
/// let url: Url = "shm:///run/app/feed.sock".parse()?;
/// assert_eq!(url, Url::Shm("/run/app/feed.sock".into()));
/// assert_eq!(url.to_string(), "shm:///run/app/feed.sock");
///
/// let err = "unix://relative.sock".parse::<Url>().unwrap_err();
/// assert!(err.to_string().contains("unix://relative.sock"));
/// # Ok::<(), ipclane::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Url {
    /// `unix:///path`: a framed stream over the Unix socket at `path`.
    Unix(PathBuf),
    /// `unix:@name`: a framed stream over the abstract Unix socket `name` (Linux; no
    /// file, gone with the last descriptor).
    UnixAbstract(String),
    /// `seqpacket:///path`: a Unix `SOCK_SEQPACKET` socket at `path`.
    SeqPacket(PathBuf),
    /// `tcp://host:port`: a framed TCP stream; `host` is a name, an IPv4 address or an
    /// IPv6 address (written in brackets in the URL, kept without them here).
    ///
    /// **No authentication, no encryption.** A `tcp:` listener accepts anyone who can
    /// reach its port, and its messages cross the network in the clear: TCP has no peer
    /// credentials, so the [access policy](crate::Options::access_policy) of the local
    /// schemes does not apply, and [`Connection::peer_credentials`](crate::Connection::peer_credentials)
    /// is `None`. A listener binds exactly the address given (`tcp://127.0.0.1:0` is
    /// reachable on the loopback only; `tcp://0.0.0.0:7000` on every interface), so keep
    /// strangers out by where it listens: bind to loopback or to a private interface,
    /// firewall the port, or carry the connection through a tunnel or TLS terminator
    /// (ssh port forwarding, WireGuard, stunnel). Between processes of one machine, use
    /// `unix:` or `shm:`, whose listeners check who connects.
    Tcp {
        /// Host name or address, without brackets.
        host: String,
        /// Port; 0 asks the system for a free one when listening.
        port: u16,
    },
    /// `shm:///path`: shared memory, handed over (and watched) through the Unix socket at
    /// `path`.
    Shm(PathBuf),
}

impl Url {
    /// The URL's scheme: `unix`, `seqpacket`, `tcp` or `shm`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Unix(_) | Self::UnixAbstract(_) => "unix",
            Self::SeqPacket(_) => "seqpacket",
            Self::Tcp { .. } => "tcp",
            Self::Shm(_) => "shm",
        }
    }

    /// Whether both ends are on this machine (every scheme but `tcp`).
    pub fn is_local(&self) -> bool {
        !matches!(self, Self::Tcp { .. })
    }
}

impl FromStr for Url {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(invalid(
                "no scheme: expected unix:, seqpacket:, tcp: or shm:".into(),
            ));
        };
        match scheme {
            "unix" => match rest.strip_prefix('@') {
                Some(name) => abstract_name(name).map(Self::UnixAbstract),
                None => socket_path(rest).map(Self::Unix),
            },
            "seqpacket" => socket_path(rest).map(Self::SeqPacket),
            "shm" => socket_path(rest).map(Self::Shm),
            "tcp" => tcp(rest).map(|(host, port)| Self::Tcp { host, port }),
            other => Err(format!(
                "unknown scheme {other:?}: expected unix, seqpacket, tcp or shm"
            )),
        }
        .map_err(invalid)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) | Self::SeqPacket(path) | Self::Shm(path) => {
                write!(f, "{}://{}", self.scheme(), path.display())
            }
            Self::UnixAbstract(name) => write!(f, "unix:@{name}"),
            Self::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// `//` followed by an absolute path that fits a socket address.
fn socket_path(rest: &str) -> Result<PathBuf, String> {
    let Some(path) = rest.strip_prefix("//") else {
        return Err("expected // and an absolute path after the scheme".into());
    };
    if !path.starts_with('/') {
        return Err(format!(
            "the path {path:?} is not absolute (a path URL has three slashes: unix:///run/app.sock)"
        ));
    }
    check_name(path, "path")?;
    if path.ends_with('/') {
        return Err(format!("the path {path:?} names a directory"));
    }
    Ok(Path::new(path).to_path_buf())
}

/// The name of an abstract socket.
fn abstract_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("the abstract name after @ is empty".into());
    }
    check_name(name, "abstract name")?;
    Ok(name.to_owned())
}

/// What both socket names must be: at most [`MAX_SOCKET_NAME`] bytes, without NUL.
fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.contains('\0') {
        return Err(format!("the {what} holds a NUL byte"));
    }
    if name.len() > MAX_SOCKET_NAME {
        return Err(format!(
            "the {what} is {} bytes, over the {MAX_SOCKET_NAME} a socket address holds",
            name.len()
        ));
    }
    Ok(())
}

/// `//host:port`, `//[v6]:port`.
fn tcp(rest: &str) -> Result<(String, u16), String> {
    let Some(authority) = rest.strip_prefix("//") else {
        return Err("expected //host:port after tcp:".into());
    };
    if authority.contains('/') {
        return Err("a tcp URL has no path: tcp://host:port".into());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err("an IPv6 address opened with [ is not closed with ]".into());
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{host:?} in brackets is not an IPv6 address"));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err("no port: expected [address]:port".into());
        };
        (host, port)
    } else {
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err("no port: expected host:port".into());
        };
        if host.contains(':') {
            return Err("an IPv6 address must be written in brackets: tcp://[::1]:7000".into());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
    {
        return Err(format!("the host {host:?} is not a name or an address"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("the port {port:?} is not a number from 0 to 65535"))?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(url: &str) -> String {
        match url.parse::<Url>() {
            Err(Error::InvalidUrl { url: named, reason }) => {
                assert_eq!(named, url, "the error names the URL");
                reason
            }
            other => panic!("{url} was accepted: {other:?}"),
        }
    }

    #[test]
    fn every_scheme_parses_and_prints_back_the_same() {
        for (text, url) in [
            (
                "unix:///run/app/feed.sock",
                Url::Unix("/run/app/feed.sock".into()),
            ),
            ("unix:@app-feed", Url::UnixAbstract("app-feed".into())),
            (
                "seqpacket:///tmp/s.sock",
                Url::SeqPacket("/tmp/s.sock".into()),
            ),
            (
                "shm:///run/app/feed.sock",
                Url::Shm("/run/app/feed.sock".into()),
            ),
            (
                "tcp://127.0.0.1:7000",
                Url::Tcp {
                    host: "127.0.0.1".into(),
                    port: 7000,
                },
            ),
            (
                "tcp://[::1]:0",
                Url::Tcp {
                    host: "::1".into(),
                    port: 0,
                },
            ),
            (
                "tcp://feed.local:65535",
                Url::Tcp {
                    host: "feed.local".into(),
                    port: 65535,
                },
            ),
        ] {
            assert_eq!(text.parse::<Url>().unwrap(), url, "{text}");
            assert_eq!(url.to_string(), text);
        }
    }

    #[test]
    fn bad_urls_are_refused_with_what_is_wrong() {
        for (url, says) in [
            ("/run/app.sock", "no scheme"),
            ("http://x:80", "unknown scheme"),
            ("unix://run/app.sock", "not absolute"),
            ("unix:/run/app.sock", "expected //"),
            ("unix:@", "empty"),
            ("shm:///run/", "directory"),
            ("seqpacket://", "not absolute"),
            ("tcp://127.0.0.1", "no port"),
            ("tcp://127.0.0.1:65536", "0 to 65535"),
            ("tcp://127.0.0.1:http", "0 to 65535"),
            ("tcp://::1:7000", "brackets"),
            ("tcp://[::1:7000", "not closed"),
            ("tcp://[nope]:7000", "not an IPv6 address"),
            ("tcp://:7000", "host is empty"),
            ("tcp://a b:7000", "not a name"),
            ("tcp://host:7000/path", "no path"),
        ] {
            let reason = reason(url);
            assert!(reason.contains(says), "{url}: {reason}");
        }
    }

    #[test]
    fn a_socket_name_must_fit_a_socket_address() {
        let longest = format!("/{}", "a".repeat(MAX_SOCKET_NAME - 1));
        assert!(format!("unix://{longest}").parse::<Url>().is_ok());
        let over = format!("unix://{longest}a");
        assert!(reason(&over).contains("over the 107"));
        assert!(reason(&format!("unix:@{}", "n".repeat(108))).contains("over the 107"));
        assert!(reason("unix:///a\0b").contains("NUL"));
    }

    #[test]
    fn schemes_and_locality() {
        let url: Url = "tcp://h:1".parse().unwrap();
        assert_eq!((url.scheme(), url.is_local()), ("tcp", false));
        let url: Url = "unix:@x".parse().unwrap();
        assert_eq!((url.scheme(), url.is_local()), ("unix", true));
    }
}
