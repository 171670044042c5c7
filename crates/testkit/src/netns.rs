//! Two network namespaces joined by a veth pair: traffic between them crosses a real
//! interface, not loopback (root only).

use std::process::Command;

/// Two network namespaces joined by a veth pair (`10.213.<n>.1` in the first, `.2` in the
/// second); removed when dropped, which also removes the pair.
#[derive(Debug)]
pub struct Namespaces {
    names: [String; 2],
    subnet: u32,
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

/// The veth end in namespace `i`.
const DEVICES: [&str; 2] = ["veth-ipcl-a", "veth-ipcl-b"];

impl Namespaces {
    /// Makes the two namespaces, `ipclane-<tag>-<pid>-{a,b}`, and the pair between them.
    ///
    /// # Errors
    ///
    /// What `ip` said when a step failed (no root, no `ip`, no veth support).
    pub fn new(tag: &str) -> Result<Self, String> {
        let pid = std::process::id();
        let names = [
            format!("ipclane-{tag}-{pid}-a"),
            format!("ipclane-{tag}-{pid}-b"),
        ];
        let mut made = Self {
            names: [String::new(), String::new()],
            subnet: pid % 250,
        };
        for (i, name) in names.into_iter().enumerate() {
            ip(&["netns", "add", &name])?;
            made.names[i] = name;
        }
        let [a, b] = &made.names;
        ip(&[
            "link", "add", DEVICES[0], "netns", a, "type", "veth", "peer", "name", DEVICES[1],
            "netns", b,
        ])?;
        for (i, dev) in DEVICES.into_iter().enumerate() {
            let ns = &made.names[i];
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/24", made.addr(i)),
                "dev",
                dev,
            ])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(made)
    }

    /// The address of namespace `i` (0 or 1) on the pair.
    pub fn addr(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.subnet, i + 1)
    }

    /// The name of namespace `i`, for `ip netns exec`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// A command that runs `program` in namespace `i`.
    pub fn command(&self, i: usize, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.name(i), program]);
        command
    }

    /// Moves the calling thread into namespace `i` (network namespaces are per thread).
    ///
    /// # Panics
    ///
    /// When the namespace cannot be entered.
    pub fn enter(&self, i: usize) {
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
        for name in self.names.iter().filter(|n| !n.is_empty()) {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
