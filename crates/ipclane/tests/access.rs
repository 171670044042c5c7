//! Who may connect. On every local transport (`unix:` with a path and an abstract name,
//! `seqpacket:`, `shm:`) a client of another user is refused by the default policy (the
//! same user only), and by a policy that names other users, even when the socket file
//! lets anyone reach the listener; a policy that names it lets it in, and the connection
//! works both ways. (Root only: the client is a peer process that becomes `nobody`
//! before connecting; skipped with the reason otherwise.)
//!
//! `tcp:` has no credentials to check: what keeps strangers out is where it listens. A
//! listener bound to an address is reachable there and nowhere else.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipclane::uds::{AccessPolicy, UdsError};
use ipclane::{Error, Listener, Options, Url};
use ipclane_testkit::{Peer, TempDir, bounded, is_root, say, skip};

/// The local schemes, `unix-abstract` standing for `unix:@name`.
const LOCAL: [&str; 4] = ["unix", "unix-abstract", "seqpacket", "shm"];

/// The uid of `nobody`, whom `become_nobody` makes a peer.
const NOBODY: u32 = 65534;

/// A fresh address of `scheme` (socket files under `dir`).
fn url(scheme: &str, dir: &TempDir) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    match scheme {
        "unix-abstract" => format!("unix:@ipclane-access-{}-{n}", std::process::id()),
        other => format!(
            "{other}://{}",
            dir.path().join(format!("{other}-{n}.sock")).display()
        ),
    }
}

/// A directory anyone may enter, for socket files anyone may open: so that only the
/// access policy stands between another user and the listener.
fn open_dir(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Options whose socket files anyone may open, with `policy`.
fn options(policy: AccessPolicy) -> Options {
    Options::default().socket_mode(0o666).access_policy(policy)
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Becomes nobody, connects to args[0], sends "hello" and says what came back:
        // "got <reply>", "closed: <why>" (the listener closed the connection),
        // "refused: <why>" (the shm handshake refused), or "failed: <error>".
        "connect_as_nobody" => {
            ipclane_testkit::become_nobody();
            match ipclane::connect(&args[0]) {
                Err(Error::Refused { reason, .. }) => say(format!("refused: {reason}")),
                Err(e) => say(format!("failed: {e:?}")),
                Ok(mut conn) => {
                    let _ = conn.send(b"hello");
                    match conn.recv() {
                        Ok(reply) => say(format!("got {}", String::from_utf8_lossy(&reply))),
                        Err(e) => say(format!("closed: {e}")),
                    }
                }
            }
        }
        other => panic!("unknown role {other}"),
    });
}

/// A client of this user still gets through `listener`: a refusal cost nothing else.
fn same_user_connects(listener: &Listener, scheme: &str) {
    let url = listener.url().to_string();
    let client = std::thread::spawn(move || ipclane::connect(&url).map(drop));
    bounded(scheme, || listener.accept())
        .unwrap_or_else(|e| panic!("{scheme}: this user after a refusal: {e}"));
    client.join().unwrap().unwrap();
}

/// The default policy (this user only), and a policy naming other users, refuse
/// `nobody` on every local transport: `accept` reports the refused peer by its
/// credentials, the client sees its connection closed (or the shm handshake refused),
/// and the listener goes on serving this user. The socket file lets anyone connect, so
/// the policy is what refuses.
#[test]
fn a_client_of_another_user_is_refused_by_the_default_policy_on_every_local_transport() {
    let test = "a_client_of_another_user_is_refused_by_the_default_policy_on_every_local_transport";
    if !is_root() {
        skip(test, "needs root to run a peer as another user");
        return;
    }
    let dir = open_dir("access-refused");
    let policies = [
        ("the default policy", AccessPolicy::same_user()),
        (
            "a policy naming others",
            AccessPolicy::same_user()
                .allow_uid(NOBODY - 1)
                .allow_gid(NOBODY - 1),
        ),
    ];
    for (name, policy) in policies {
        for scheme in LOCAL {
            let what = format!("{scheme}, {name}");
            let listener = options(policy.clone()).listen(&url(scheme, &dir)).unwrap();
            let url = listener.url().to_string();
            let mut peer = Peer::spawn("connect_as_nobody", &[&url]);
            match bounded(&what, || listener.accept()) {
                Err(Error::Uds(UdsError::PeerRejected { credentials })) => {
                    assert_eq!(credentials.uid, NOBODY, "{what}: the refused peer")
                }
                other => panic!("{what}: accepted another user: {other:?}"),
            }
            let said = peer.recv();
            let expected = if scheme == "shm" {
                "refused: "
            } else {
                "closed: "
            };
            assert!(
                said.starts_with(expected),
                "{what}: the client says {said:?}"
            );
            assert!(peer.finish().success(), "{what}");
            same_user_connects(&listener, &what);
        }
    }
}

/// A policy that names `nobody` (by uid, or any user) lets it in on every local
/// transport: the server sees its credentials, and messages go both ways. (For `shm:`,
/// the rings, memfds made by root, must open for the other user too.)
#[test]
fn a_client_of_another_user_is_accepted_by_an_explicit_policy_on_every_local_transport() {
    let test =
        "a_client_of_another_user_is_accepted_by_an_explicit_policy_on_every_local_transport";
    if !is_root() {
        skip(test, "needs root to run a peer as another user");
        return;
    }
    let dir = open_dir("access-accepted");
    let policies = [
        (
            "a policy naming its uid",
            AccessPolicy::same_user().allow_uid(NOBODY),
        ),
        (
            "a policy naming its group",
            AccessPolicy::same_user().allow_gid(NOBODY),
        ),
        ("any user", AccessPolicy::any()),
    ];
    for (name, policy) in policies {
        for scheme in LOCAL {
            let what = format!("{scheme}, {name}");
            let listener = options(policy.clone()).listen(&url(scheme, &dir)).unwrap();
            let url = listener.url().to_string();
            let mut peer = Peer::spawn("connect_as_nobody", &[&url]);
            let mut conn = match bounded(&what, || listener.accept()) {
                Ok(conn) => conn,
                Err(e) => panic!("{what}: refused: {e}; the client says {:?}", peer.recv()),
            };
            let credentials = conn.peer_credentials().expect("a local peer's credentials");
            assert_eq!(
                (credentials.uid, credentials.gid),
                (NOBODY, NOBODY),
                "{what}"
            );
            let hello =
                bounded(&what, || conn.recv()).unwrap_or_else(|e| panic!("{what}: receive: {e}"));
            assert_eq!(&hello[..], b"hello", "{what}");
            conn.send(b"welcome").unwrap();
            assert_eq!(peer.recv(), "got welcome", "{what}");
            assert!(peer.finish().success(), "{what}");
        }
    }
}

/// Whether a TCP connection to `addr` is made within a few seconds.
fn reachable(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok()
}

/// The TCP address a listener's URL names.
fn tcp_addr(listener: &Listener) -> SocketAddr {
    match listener.url() {
        Url::Tcp { host, port } => SocketAddr::new(host.parse().unwrap(), *port),
        other => panic!("not tcp: {other}"),
    }
}

/// A `tcp:` listener binds exactly where it is told: `tcp://127.0.0.1:0` reports the
/// loopback address and the port chosen, is reachable there, and is not reachable at
/// another loopback address on that port (127.0.0.2, which a wildcard bind would
/// answer: the control case shows it does); one bound to 127.0.0.2 is not reachable at
/// 127.0.0.1. TCP has no credentials to check, so where it listens is what keeps others
/// out (see the `tcp:` docs).
#[test]
fn a_tcp_listener_is_reachable_only_at_the_address_it_was_given() {
    let other =
        |addr: SocketAddr, ip: [u8; 4]| SocketAddr::new(Ipv4Addr::from(ip).into(), addr.port());
    // Loopback.
    let listener = ipclane::listen("tcp://127.0.0.1:0").unwrap();
    let addr = tcp_addr(&listener);
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    assert_eq!(
        listener.url().to_string(),
        format!("tcp://127.0.0.1:{}", addr.port())
    );
    assert!(reachable(addr), "at {addr}");
    assert!(
        !reachable(other(addr, [127, 0, 0, 2])),
        "127.0.0.1 answered at 127.0.0.2"
    );
    // Another address given: that one only.
    let listener = ipclane::listen("tcp://127.0.0.2:0").unwrap();
    let addr = tcp_addr(&listener);
    assert_eq!(addr.ip(), Ipv4Addr::new(127, 0, 0, 2), "{addr}");
    assert!(reachable(addr), "at {addr}");
    assert!(
        !reachable(other(addr, [127, 0, 0, 1])),
        "127.0.0.2 answered at 127.0.0.1"
    );
    // The control case: the wildcard address answers on every address, 127.0.0.2 too.
    let listener = ipclane::listen("tcp://0.0.0.0:0").unwrap();
    let addr = tcp_addr(&listener);
    assert!(addr.ip().is_unspecified(), "{addr}");
    assert!(
        reachable(other(addr, [127, 0, 0, 2])),
        "the wildcard at 127.0.0.2"
    );
}
