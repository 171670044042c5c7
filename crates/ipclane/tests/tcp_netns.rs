//! `tcp:` across a real interface: two network namespaces joined by a veth pair, the
//! server's thread in one, the client's in the other (root only; skipped with the reason
//! otherwise). Loopback is covered by the conformance suite.

use std::process::Command;

use ipclane_testkit::{bounded, skip};

/// Two network namespaces joined by a veth pair (10.213.<n>.1 and .2); removed when
/// dropped, which also removes the pair.
struct Namespaces {
    names: [String; 2],
}

/// Runs `ip` with `args`, with the command in the error.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Namespaces {
    fn new() -> Result<Self, String> {
        let tag = std::process::id() % 100_000;
        let names = [format!("ipclane-{tag}-a"), format!("ipclane-{tag}-b")];
        for name in &names {
            ip(&["netns", "add", name])?;
        }
        let made = Self { names };
        let [a, b] = &made.names;
        let subnet = tag % 250;
        let (addr_a, addr_b) = (
            format!("10.213.{subnet}.1/24"),
            format!("10.213.{subnet}.2/24"),
        );
        ip(&[
            "link",
            "add",
            "veth-ipcl-a",
            "netns",
            a,
            "type",
            "veth",
            "peer",
            "name",
            "veth-ipcl-b",
            "netns",
            b,
        ])?;
        ip(&["-n", a, "addr", "add", &addr_a, "dev", "veth-ipcl-a"])?;
        ip(&["-n", b, "addr", "add", &addr_b, "dev", "veth-ipcl-b"])?;
        for (ns, dev) in [(a, "veth-ipcl-a"), (b, "veth-ipcl-b")] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(made)
    }

    /// The server's address, in the first namespace.
    fn server_addr(&self) -> String {
        format!("10.213.{}.1", std::process::id() % 100_000 % 250)
    }

    /// Moves the calling thread into namespace `i` (network namespaces are per thread).
    fn enter(&self, i: usize) {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.names[i])).unwrap();
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

#[test]
fn tcp_connections_cross_a_veth_pair_between_two_namespaces() {
    const TEST: &str = "tcp_connections_cross_a_veth_pair_between_two_namespaces";
    if !ipclane_testkit::is_root() {
        skip(TEST, "needs root to make network namespaces");
        return;
    }
    let namespaces = match Namespaces::new() {
        Ok(n) => n,
        Err(why) => {
            skip(TEST, &format!("cannot make the namespaces here: {why}"));
            return;
        }
    };
    bounded("tcp across namespaces", || {
        let url = format!("tcp://{}:0", namespaces.server_addr());
        let (tx, rx) = std::sync::mpsc::channel();
        let namespaces = &namespaces;
        std::thread::scope(|s| {
            s.spawn(move || {
                namespaces.enter(0);
                let listener = ipclane::listen(&url).unwrap();
                tx.send(listener.url().to_string()).unwrap();
                let mut conn = listener.accept().unwrap();
                assert!(conn.peer_credentials().is_none(), "no credentials over TCP");
                while let Ok(msg) = conn.recv() {
                    conn.send(&msg).unwrap();
                }
            });
            let url = rx.recv().unwrap();
            s.spawn(move || {
                namespaces.enter(1);
                // The server's address is not local here: this goes over the veth pair.
                assert!(
                    std::net::TcpListener::bind(format!("{}:0", namespaces.server_addr())).is_err()
                );
                let mut conn = ipclane::connect(&url).unwrap();
                for len in [0usize, 1, 1400, 1500, 64 << 10, 1 << 20] {
                    let msg: Vec<u8> = (0..len).map(|k| (k * 13 + len) as u8).collect();
                    conn.send(&msg).unwrap();
                    assert_eq!(conn.recv().unwrap(), &msg[..], "{len} bytes back");
                }
            });
        });
    });
}
