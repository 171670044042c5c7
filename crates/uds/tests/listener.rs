//! Listener lifecycle, peer credentials and the access policy, across real processes.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;

use ipclane_testkit::{Deadline, Peer, TempDir, WAIT_LIMIT, is_root, listen, say, unique};
use ipclane_uds::{AccessPolicy, FramedStream, Listener, UdsAddr, UdsError, connect};

/// Entry point of the peer processes these tests start.
#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "bind_with_umask_000" => {
            rustix::process::umask(rustix::fs::Mode::empty());
            let _l = Listener::bind(&args[0].parse().unwrap()).unwrap();
            say("bound");
            ipclane_testkit::hold();
        }
        "race_to_bind" => {
            let addr: UdsAddr = args[0].parse().unwrap();
            assert_eq!(listen().as_deref(), Some("go"));
            match Listener::bind(&addr) {
                Ok(l) => {
                    say("won");
                    ipclane_testkit::hold();
                    drop(l);
                }
                Err(UdsError::AddrInUse { .. }) => say("lost"),
                Err(other) => say(format!("error {other}")),
            }
        }
        "connect_and_report" => {
            let mut framed = FramedStream::new(connect(&args[0].parse().unwrap()).unwrap());
            let me = format!(
                "{} {} {}",
                std::process::id(),
                rustix::process::getuid().as_raw(),
                rustix::process::getgid().as_raw()
            );
            framed.write_frame(me.as_bytes()).unwrap();
            let _ = framed.read_frame();
        }
        "connect_as_nobody" => {
            ipclane_testkit::become_nobody();
            let mut framed = FramedStream::new(connect(&args[0].parse().unwrap()).unwrap());
            let _ = framed.write_frame(b"let me in");
            match framed.read_frame() {
                Ok(None) | Err(UdsError::Disconnected) => say("closed"),
                other => say(format!("unexpected {other:?}")),
            }
        }
        "bind_0666_under_umask" => {
            // args: path, "private" (a private umask is available) or "no-unshare".
            if args[1] == "no-unshare" {
                refuse_unshare();
            }
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
            match Listener::builder()
                .mode(0o666)
                .bind(&args[0].parse().unwrap())
            {
                Ok(_l) => {
                    let md = std::path::Path::new(&args[0]).symlink_metadata().unwrap();
                    say(format!("bound {:03o}", md.permissions().mode() & 0o777));
                }
                Err(UdsError::ModeNotApplied {
                    requested, actual, ..
                }) => say(format!("refused {requested:03o} {actual:03o}")),
                Err(other) => say(format!("error {other}")),
            }
            // The default mode is exact even without a private umask (0600 & ~077).
            let l = Listener::bind(&format!("{}.default", args[0]).parse().unwrap()).unwrap();
            let md = l.local_addr().path().unwrap().symlink_metadata().unwrap();
            say(format!("default {:03o}", md.permissions().mode() & 0o777));
        }
        "swap_in_symlinks" => swap_in_symlinks(&args[0], &args[1]),
        other => panic!("unknown peer role {other}"),
    });
}

/// The attacker of `a_mode_never_reaches_a_file_swapped_in_at_the_path`: whenever a socket
/// file appears at `dir/s.sock`, atomically replaces it with a symbolic link to `target`,
/// until `dir/stop` exists.
fn swap_in_symlinks(dir: &str, target: &str) {
    let dir = std::path::Path::new(dir);
    let (path, link, stop) = (dir.join("s.sock"), dir.join("link"), dir.join("stop"));
    std::os::unix::fs::symlink(target, &link).unwrap();
    say("ready");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for i in 0u64.. {
        if i % 1024 == 0 && (stop.exists() || std::time::Instant::now() > deadline) {
            break;
        }
        if path
            .symlink_metadata()
            .is_ok_and(|md| md.file_type().is_socket())
            && std::fs::rename(&link, &path).is_ok()
        {
            std::os::unix::fs::symlink(target, &link).unwrap();
        }
    }
    let _ = std::fs::remove_file(&link);
}

/// Installs a seccomp filter on this thread (inherited by threads it starts) that fails
/// `unshare` with `EPERM`, as Docker's default profile does.
fn refuse_unshare() {
    let filter = [
        // A = seccomp_data.nr (offset 0)
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_unshare as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: plain prctl calls; `prog` and `filter` outlive the call, which copies them.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog),
            0
        );
    }
}

fn addr_in(dir: &TempDir, name: &str) -> UdsAddr {
    dir.path().join(name).into()
}

#[test]
fn socket_file_is_0600_under_umask_000_and_removed_on_drop() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "socket_file_is_0600_under_umask_000_and_removed_on_drop: its accepts and socket reads",
    );
    let dir = TempDir::new("umask");
    let path = dir.path().join("l.sock");
    let mut peer = Peer::spawn("bind_with_umask_000", &[path.to_str().unwrap()]);
    assert_eq!(peer.recv(), "bound");
    let md = path.symlink_metadata().unwrap();
    assert!(md.file_type().is_socket());
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
    assert!(peer.finish().success());
    assert!(!path.exists(), "the listener removed its file");
}

#[test]
fn a_wider_mode_is_exact_under_a_strict_umask() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "a_wider_mode_is_exact_under_a_strict_umask: its accepts and socket reads",
    );
    let dir = TempDir::new("umask077");
    let path = dir.path().join("w.sock");
    let mut peer = Peer::spawn(
        "bind_0666_under_umask",
        &[path.to_str().unwrap(), "private"],
    );
    assert_eq!(peer.recv(), "bound 666");
    assert_eq!(peer.recv(), "default 600");
    assert!(peer.finish().success());
}

#[test]
fn without_a_private_umask_a_mode_the_umask_narrows_is_refused() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "without_a_private_umask_a_mode_the_umask_narrows_is_refused: its accepts and socket reads",
    );
    let dir = TempDir::new("nounshare");
    let path = dir.path().join("w.sock");
    let mut peer = Peer::spawn(
        "bind_0666_under_umask",
        &[path.to_str().unwrap(), "no-unshare"],
    );
    assert_eq!(peer.recv(), "refused 666 600");
    assert_eq!(peer.recv(), "default 600");
    assert!(peer.finish().success());
    assert!(!path.exists(), "the narrowed socket file was removed");
}

#[test]
fn mode_is_configurable() {
    let dir = TempDir::new("mode");
    let addr = addr_in(&dir, "m.sock");
    let _l = Listener::builder().mode(0o660).bind(&addr).unwrap();
    let mode = addr
        .path()
        .unwrap()
        .metadata()
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn a_stale_socket_is_reclaimed_and_a_live_one_is_not() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "a_stale_socket_is_reclaimed_and_a_live_one_is_not: its accepts and socket reads",
    );
    let dir = TempDir::new("stale");
    let path = dir.path().join("s.sock");
    // std's listener leaves its file behind, like a crashed server.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let addr: UdsAddr = path.clone().into();
    let live = Listener::bind(&addr).unwrap();
    assert!(matches!(
        Listener::bind(&addr),
        Err(UdsError::AddrInUse { .. })
    ));
    // The live one still works.
    let client = std::thread::spawn({
        let addr = addr.clone();
        move || {
            FramedStream::new(connect(&addr).unwrap())
                .write_frame(b"x")
                .unwrap()
        }
    });
    // The failed bind's liveness probe shows up first, as a connection closed at once.
    let (probe, _) = live.accept().unwrap();
    assert_eq!(FramedStream::new(probe).read_frame().unwrap(), None);
    let (s, _) = live.accept().unwrap();
    assert_eq!(
        FramedStream::new(s).read_frame().unwrap().as_deref(),
        Some(&b"x"[..])
    );
    client.join().unwrap();
}

#[test]
fn what_is_not_a_socket_is_never_replaced_or_followed() {
    let dir = TempDir::new("notsock");
    let file = dir.path().join("file");
    std::fs::write(&file, b"precious").unwrap();
    match Listener::bind(&file.clone().into()) {
        Err(UdsError::NotASocket { found, .. }) => assert_eq!(found, "regular file"),
        other => panic!("expected NotASocket, got {other:?}"),
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");

    let link = dir.path().join("link");
    let target = dir.path().join("target.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    match Listener::bind(&link.clone().into()) {
        Err(UdsError::NotASocket { found, .. }) => assert_eq!(found, "symbolic link"),
        other => panic!("expected NotASocket, got {other:?}"),
    }
    assert!(!target.exists(), "nothing was created through the link");
    assert!(link.symlink_metadata().is_ok(), "the link is untouched");

    let sub = dir.path().join("dir");
    std::fs::create_dir(&sub).unwrap();
    assert!(matches!(
        Listener::bind(&sub.clone().into()),
        Err(UdsError::NotASocket {
            found: "directory",
            ..
        })
    ));
}

#[test]
fn racing_servers_get_exactly_one_winner() {
    let dir = TempDir::new("race");
    let path = dir.path().join("r.sock");
    // Start from a stale file, the hardest case: every racer tries to reclaim it.
    drop(UnixListener::bind(&path).unwrap());
    let mut racers: Vec<Peer> = (0..4)
        .map(|_| Peer::spawn("race_to_bind", &[path.to_str().unwrap()]))
        .collect();
    for r in &mut racers {
        r.send("go");
    }
    let verdicts: Vec<String> = racers.iter_mut().map(Peer::recv).collect();
    assert_eq!(
        verdicts.iter().filter(|v| *v == "won").count(),
        1,
        "{verdicts:?}"
    );
    assert_eq!(
        verdicts.iter().filter(|v| *v == "lost").count(),
        3,
        "{verdicts:?}"
    );
    for r in racers {
        assert!(r.finish().success());
    }
    assert!(!path.exists());
}

#[test]
fn abstract_addresses_need_no_file() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "abstract_addresses_need_no_file: its accepts and socket reads",
    );
    let addr: UdsAddr = format!("@{}", unique("abstract")).parse().unwrap();
    let listener = Listener::bind(&addr).unwrap();
    assert!(matches!(
        Listener::bind(&addr),
        Err(UdsError::AddrInUse { .. })
    ));
    let client = std::thread::spawn({
        let addr = addr.clone();
        move || {
            FramedStream::new(connect(&addr).unwrap())
                .write_frame(b"abstract")
                .unwrap()
        }
    });
    let (s, _) = listener.accept().unwrap();
    assert_eq!(
        FramedStream::new(s).read_frame().unwrap().as_deref(),
        Some(&b"abstract"[..])
    );
    client.join().unwrap();
    drop(listener);
    assert!(Listener::bind(&addr).is_ok(), "the name is free again");
}

#[test]
fn connecting_to_nothing_is_not_listening() {
    let dir = TempDir::new("nothing");
    assert!(matches!(
        connect(&addr_in(&dir, "none.sock")),
        Err(UdsError::NotListening { .. })
    ));
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(matches!(
        connect(&stale.into()),
        Err(UdsError::NotListening { .. })
    ));
}

#[test]
fn binding_under_a_missing_directory_names_the_directory() {
    let dir = TempDir::new("nodir");
    let missing = dir.path().join("myapp");
    let addr: UdsAddr = missing.join("feed.sock").into();
    match Listener::bind(&addr) {
        Err(UdsError::NoSuchDirectory { dir: named, .. }) => assert_eq!(named, missing),
        other => panic!("expected NoSuchDirectory for {missing:?}, got {other:?}"),
    }
    let err = Listener::bind(&addr).unwrap_err();
    assert_eq!(err.io_kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("myapp"), "{err}");
    // Connecting there is still "nothing listens": a client cannot tell the two apart.
    assert!(matches!(connect(&addr), Err(UdsError::NotListening { .. })));
}

#[test]
fn peer_credentials_are_the_peer_process() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "peer_credentials_are_the_peer_process: its accepts and socket reads",
    );
    let dir = TempDir::new("creds");
    let addr = addr_in(&dir, "c.sock");
    let listener = Listener::bind(&addr).unwrap();
    let peer = Peer::spawn("connect_and_report", &[&addr.to_string()]);
    let (stream, creds) = listener.accept().unwrap();
    let mut framed = FramedStream::new(stream);
    let reported = framed.read_frame().unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&reported),
        format!("{} {} {}", creds.pid, creds.uid, creds.gid)
    );
    assert_eq!(creds.pid, peer.pid());
    assert_eq!(
        ipclane_uds::peer_credentials(framed.get_ref()).unwrap(),
        creds
    );
    framed.write_frame(b"bye").unwrap();
    assert!(peer.finish().success());
}

#[test]
fn another_user_is_refused_by_the_default_policy() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "another_user_is_refused_by_the_default_policy: its accepts and socket reads",
    );
    if !is_root() {
        ipclane_testkit::skip(
            "another_user_is_refused_by_the_default_policy",
            "needs root to switch user",
        );
        return;
    }
    // An abstract address has no file permissions, so only the policy stands in the way.
    let addr: UdsAddr = format!("@{}", unique("policy")).parse().unwrap();
    let listener = Listener::bind(&addr).unwrap();
    let mut peer = Peer::spawn("connect_as_nobody", &[&addr.to_string()]);
    match listener.accept() {
        Err(UdsError::PeerRejected { credentials }) => {
            assert_eq!(credentials.uid, 65534);
            assert_eq!(credentials.pid, peer.pid());
        }
        other => panic!("expected PeerRejected, got {other:?}"),
    }
    assert_eq!(peer.recv(), "closed");
    assert!(peer.finish().success());

    let open = Listener::builder()
        .policy(AccessPolicy::same_user().allow_uid(65534))
        .bind(&format!("@{}", unique("policy-open")).parse().unwrap());
    let open = open.unwrap();
    let peer = Peer::spawn("connect_as_nobody", &[&open.local_addr().to_string()]);
    let (_, creds) = open.accept().unwrap();
    assert_eq!(creds.uid, 65534);
    drop(peer);
}

#[test]
fn a_mode_never_reaches_a_file_swapped_in_at_the_path() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "a_mode_never_reaches_a_file_swapped_in_at_the_path: its accepts and socket reads",
    );
    // A directory others can write (no sticky bit): another process swaps a symbolic link
    // to a private file in at the socket path the moment the socket file appears.
    let dir = TempDir::new("mode-race");
    let target = dir.path().join("private");
    std::fs::write(&target, b"secret").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = dir.path().join("s.sock");
    let addr: UdsAddr = path.clone().into();
    let mut attacker = Peer::spawn(
        "swap_in_symlinks",
        &[dir.path().to_str().unwrap(), target.to_str().unwrap()],
    );
    assert_eq!(attacker.recv(), "ready");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let (mut rounds, mut bound, mut swapped) = (0u32, 0u32, 0u32);
    let mut changed = None;
    while rounds < 4000 && std::time::Instant::now() < deadline {
        rounds += 1;
        match Listener::builder().mode(0o666).bind(&addr) {
            Ok(listener) => {
                bound += 1;
                drop(listener);
            }
            Err(UdsError::NotASocket { .. }) => swapped += 1,
            Err(UdsError::AddrInUse { .. } | UdsError::NotListening { .. }) => {}
            Err(other) => panic!("round {rounds}: unexpected {other:?}"),
        }
        let mode = target.metadata().unwrap().permissions().mode() & 0o777;
        if mode != 0o600 {
            changed = Some(format!("round {rounds}: mode {mode:03o}"));
            break;
        }
        if path.symlink_metadata().is_ok() {
            std::fs::remove_file(&path).unwrap(); // the link itself, never its target
        }
    }
    std::fs::write(dir.path().join("stop"), b"").unwrap();
    assert!(attacker.finish().success());
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        changed, None,
        "the private file's mode changed; {bound} binds succeeded"
    );
    assert!(
        bound > 0 && swapped > 0,
        "the race was not exercised: {rounds} rounds, {bound} bound, {swapped} swapped"
    );
}

/// A listener removes its socket file on drop only while the file is still its own: a
/// file put at the path after it (another server's socket, a regular file) stays.
#[test]
fn a_listener_leaves_a_file_that_replaced_its_own() {
    let dir = TempDir::new("replaced");
    let path = dir.path().join("l.sock");
    let addr: UdsAddr = path.as_path().into();
    // Another server's socket in its place.
    let listener = Listener::bind(&addr).unwrap();
    std::fs::remove_file(&path).unwrap();
    let other = UnixListener::bind(&path).unwrap();
    drop(listener);
    assert!(
        path.symlink_metadata().unwrap().file_type().is_socket(),
        "the other server's socket is still there"
    );
    drop(other);
    std::fs::remove_file(&path).unwrap();
    // A regular file in its place.
    let listener = Listener::bind(&addr).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"not a socket").unwrap();
    drop(listener);
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
}
