//! Resource exhaustion through the facade: a full `/dev/shm`, `memfd_create` refused, the
//! descriptor limit reached while connecting and while accepting, the address-space limit
//! reached while a large message arrives, and an accept loop at the descriptor limit.
//!
//! Each case must end in a typed error (an [`Error`] variant, or an OS error whose number
//! says what ran out), leave nothing half-made behind (no `/dev/shm` entry, no socket
//! file, no descriptor, no mapping of a ring), and leave the server serving the clients
//! it already has. The limits are set inside peer processes (`setrlimit`, a seccomp
//! filter, a private mount namespace), never in the test process, so a case that goes
//! wrong cannot starve the test harness itself.

use std::collections::BTreeSet;
use std::io;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use ipclane::segment::SegmentError;
use ipclane::uds::UdsError;
use ipclane::{Connection, Error, Options, PublishOptions, Publisher, Subscriber};
use ipclane_testkit::{Peer, ShmName, TempDir, bounded, hold, is_root, listen, say, skip};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The facade's transports (`unix:@name` shares `unix:`'s code past the address).
const SCHEMES: [&str; 4] = ["unix", "seqpacket", "shm", "tcp"];

/// The address of a listener of `scheme` (its socket file, if any, in `dir`).
fn url(scheme: &str, dir: &TempDir) -> String {
    match scheme {
        "tcp" => "tcp://127.0.0.1:0".into(),
        other => format!(
            "{other}://{}",
            dir.path().join(format!("{other}.sock")).display()
        ),
    }
}

/// Sends `msg` and expects it back (the other end echoes).
fn exchange(conn: &mut Connection, msg: &[u8]) {
    conn.send(msg)
        .expect("send on a connection that must still work");
    let got = conn
        .recv()
        .expect("receive on a connection that must still work");
    assert_eq!(&got[..], msg, "the echo came back changed");
}

/// Echoes every message on `conn` until its peer leaves.
fn echo(mut conn: Connection) {
    while let Ok(msg) = conn.recv() {
        if conn.send(&msg).is_err() {
            return;
        }
    }
}

/// This process's open descriptors as `"<fd> -> <target>"`, without the one the listing
/// itself uses.
fn open_fds() -> Vec<String> {
    let mut fds: Vec<(u32, String)> = std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .flatten()
        .filter_map(|entry| {
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?.display().to_string();
            let listing = target.starts_with("/proc/") && target.ends_with("/fd");
            (!listing).then_some((fd, target))
        })
        .collect();
    fds.sort();
    fds.into_iter()
        .map(|(fd, target)| format!("{fd} -> {target}"))
        .collect()
}

/// What a failed call must not leave behind in this process: its descriptors, and its
/// mappings of memfds (a ring mapped and never unmapped shows there without a
/// descriptor).
#[derive(Debug, PartialEq)]
struct Holdings {
    fds: Vec<String>,
    memfd_mappings: usize,
}

fn holdings() -> Holdings {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    Holdings {
        fds: open_fds(),
        memfd_mappings: maps.lines().filter(|l| l.contains("/memfd:")).count(),
    }
}

/// Lowers this process's soft descriptor limit so that exactly `free` more descriptors
/// can be opened (the lowest free numbers below the limit); returns the limit to restore.
fn leave_free_fds(free: usize) -> Rlimit {
    let old = getrlimit(Resource::Nofile);
    let open: BTreeSet<u64> = open_fds()
        .iter()
        .filter_map(|fd| fd.split(' ').next()?.parse().ok())
        .collect();
    let limit = (0u64..)
        .filter(|n| !open.contains(n))
        .nth(free)
        .expect("a free descriptor number");
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: old.maximum,
        },
    )
    .expect("lower RLIMIT_NOFILE");
    old
}

/// Puts back a limit that [`leave_free_fds`] (or the address-space case) lowered.
fn restore(resource: Resource, old: Rlimit) {
    setrlimit(resource, old).expect("raise the limit again");
}

/// The OS error number in `err`'s chain of sources, if any.
fn errno_of(err: &Error) -> Option<i32> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(n) = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(n);
        }
        next = e.source();
    }
    None
}

/// The operation an OS error names, at whichever layer reported it.
fn op_of(err: &Error) -> &'static str {
    match err {
        Error::Io { op, .. }
        | Error::Uds(UdsError::Io { op, .. })
        | Error::Segment(SegmentError::Io { op, .. }) => op,
        _ => "-",
    }
}

/// `err` for the test to check, one line: `variant=V op=O errno=N kind=K text=...` (op
/// with `_` for spaces; errno -1 when there is none; text the messages of the whole
/// chain).
fn describe(err: &Error) -> String {
    let debug = format!("{err:?}");
    let variant: String = debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let mut text = err.to_string();
    let mut next = std::error::Error::source(err);
    while let Some(e) = next {
        text.push_str(&format!(": {e}"));
        next = e.source();
    }
    format!(
        "variant={variant} op={} errno={} kind={:?} text={text}",
        op_of(err).replace(' ', "_"),
        errno_of(err).unwrap_or(-1),
        err.io_kind()
    )
}

/// The value of `key` in a line of `describe`'s form (`text` is the rest of the line).
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    if key == "text" {
        return line.split_once(" text=").map_or("", |(_, t)| t);
    }
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

/// Whether a report says the call ran out of descriptors and said so: `EMFILE` or
/// `ENFILE` in its chain, or descriptors passed with `SCM_RIGHTS` that the kernel could
/// not install (it truncates the ancillary data rather than fail the receive, which the
/// socket layer reports as [`UdsError::ControlTruncated`]).
fn out_of_descriptors(report: &str) -> bool {
    let errno: i32 = field(report, "errno").parse().unwrap();
    errno == libc::EMFILE
        || errno == libc::ENFILE
        || (field(report, "variant") == "Uds" && field(report, "text").contains("truncated"))
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "full_dev_shm" => full_dev_shm(&args[0], &args[1], &args[2]),
        "memfd_refused" => memfd_refused(&args[0], &args[1], args[2].parse().unwrap()),
        "connect_at_the_limit" => connect_at_the_limit(&args[0]),
        "accept_at_the_limit" => accept_at_the_limit(&args[0]),
        "accept_loop_at_the_limit" => accept_loop_at_the_limit(&args[0]),
        "receive_under_an_address_space_limit" => {
            receive_under_an_address_space_limit(&args[0], args[1].parse().unwrap())
        }
        other => panic!("unknown peer role {other}"),
    });
}

// ---------------------------------------------------------------------------------------
// 1. /dev/shm full
// ---------------------------------------------------------------------------------------

/// Moves the calling thread (the peer's role runs on one) into a private mount namespace
/// (what it mounts is invisible outside and goes away with it) and mounts a tmpfs with
/// `options` over `/dev/shm`. `Err` says why not.
fn private_dev_shm(options: &std::ffi::CStr) -> Result<(), String> {
    // SAFETY: CLONE_NEWNS (with the CLONE_FS it implies) only gives the calling thread its
    // own copy of the mount table and of its root and working directory; no memory or
    // descriptor is involved.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(format!(
            "cannot enter a mount namespace: {}",
            io::Error::last_os_error()
        ));
    }
    // SAFETY: NUL-terminated strings that outlive the call; null pointers where mount(2)
    // takes none (a propagation change has no source, type or data).
    let private = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    assert_eq!(
        private,
        0,
        "make the mounts private: {}",
        io::Error::last_os_error()
    );
    // SAFETY: as above; the data is the tmpfs's option string.
    let mounted = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev/shm".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            options.as_ptr().cast(),
        )
    };
    assert_eq!(
        mounted,
        0,
        "mount a tmpfs over /dev/shm: {}",
        io::Error::last_os_error()
    );
    Ok(())
}

/// The names in `/dev/shm`.
fn dev_shm() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .expect("list /dev/shm")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// In a private mount namespace with a 64 KiB tmpfs over `/dev/shm`: a feed that does not
/// fit is `NoSpace` and leaves nothing (a keyed feed's table, made first, included); a
/// feed that fits works. Then, with `/dev/shm` filled to the last byte, a `shm:` listener
/// on `url` still listens (its record for `ipclane ls` is best effort) and serves a
/// client of the test process with 1 MiB rings: they are memfds, which `/dev/shm` does
/// not hold.
fn full_dev_shm(feed: &str, keyed: &str, url: &str) {
    if let Err(reason) = private_dev_shm(c"size=64k") {
        say(format!("skip: {reason}"));
        return;
    }
    for (name, options) in [
        (feed, PublishOptions::default()),
        (keyed, PublishOptions::default().keys(8)),
    ] {
        match Publisher::create(name, options) {
            Err(err @ Error::Segment(SegmentError::NoSpace { .. })) => {
                assert_eq!(err.io_kind(), io::ErrorKind::StorageFull);
                assert!(err.to_string().contains(name), "names the feed: {err}");
            }
            other => panic!("a feed of {options:?} in 64 KiB: {other:?}"),
        }
        assert_eq!(dev_shm(), Vec::<String>::new(), "nothing left in /dev/shm");
    }
    let small = PublishOptions::default().slots(4).max_message_len(64);
    let mut publisher = Publisher::create(feed, small).expect("a small feed fits");
    let mut subscriber = Subscriber::open(feed).expect("subscribe");
    publisher.publish(b"fits").unwrap();
    assert_eq!(&subscriber.recv().unwrap()[..], b"fits");
    drop((subscriber, publisher));
    assert_eq!(dev_shm(), Vec::<String>::new(), "the small feed went");

    // Fill /dev/shm to its last byte.
    let mut filler = std::fs::File::create("/dev/shm/filler").unwrap();
    let block = [0u8; 4096];
    loop {
        match io::Write::write(&mut filler, &block) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("fill /dev/shm: {e}"),
        }
    }
    let listener = Options::default()
        .listen(url)
        .expect("a full /dev/shm does not stop a listener");
    assert_eq!(
        dev_shm(),
        ["filler"],
        "no record for ipclane ls, nothing else"
    );
    say("listening");
    let mut conn = listener.accept().expect("accept a shm client");
    let msg = conn.recv().expect("receive through the rings");
    conn.send(&msg).expect("send through the rings");
    assert_eq!(conn.recv().unwrap(), &b"bye"[..]);
    drop((conn, listener));
    assert_eq!(dev_shm(), ["filler"], "nothing else left in /dev/shm");
    say("ok");
    hold();
}

/// A message of `len` bytes that says where each of its bytes belongs.
fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|k| (k ^ (k >> 11)) as u8).collect()
}

/// A full `/dev/shm` refuses a feed with a typed `NoSpace` and leaves nothing of it, a
/// keyed feed's table included; it does not stop a `shm:` listener (whose record for
/// `ipclane ls` is best effort) nor its connections, whose rings are memfds outside
/// `/dev/shm`. Built with a private mount namespace and a 64 KiB tmpfs over `/dev/shm`
/// in the server peer (root only), the client in the test process, outside it.
#[test]
fn a_full_dev_shm_refuses_a_feed_cleanly_and_shm_connections_do_not_need_it() {
    let test = "a_full_dev_shm_refuses_a_feed_cleanly_and_shm_connections_do_not_need_it";
    if !is_root() {
        skip(test, "needs root to mount a tiny tmpfs over /dev/shm");
        return;
    }
    let dir = TempDir::new("exhaustion-full-shm");
    let (feed, keyed) = (ShmName::new("full-feed"), ShmName::new("full-keyed"));
    let url = url("shm", &dir);
    let mut peer = Peer::spawn("full_dev_shm", &[&feed.0, &keyed.0, &url]);
    let ready = peer.recv();
    if let Some(reason) = ready.strip_prefix("skip: ") {
        skip(test, reason);
        return;
    }
    assert_eq!(ready, "listening");
    bounded("a shm connection with /dev/shm full", || {
        let mut conn = Options::default().connect(&url).expect("connect");
        // Four times the ring: the message goes in fragments through both memfd rings.
        exchange(&mut conn, &patterned(4 << 20));
        conn.send(b"bye").unwrap();
    });
    assert_eq!(peer.recv(), "ok");
    assert!(peer.finish().success());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the socket file went with the listener"
    );
    for name in [&feed, &keyed] {
        assert!(
            !std::path::Path::new(&format!("/dev/shm/ipclane.{}", name.0)).exists(),
            "nothing reached the real /dev/shm"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. memfd_create refused
// ---------------------------------------------------------------------------------------

/// `AUDIT_ARCH_*` of this target, which a seccomp filter checks before trusting a
/// system call number.
const AUDIT_ARCH: Option<u32> = if cfg!(target_arch = "x86_64") {
    Some(0xc000_003e)
} else if cfg!(target_arch = "aarch64") {
    Some(0xc000_00b7)
} else {
    None
};

/// Installs a seccomp filter on every thread of this process that makes `memfd_create`
/// fail with `errno` (and allows everything else). `Err` says why not.
fn refuse_memfd_create(errno: i32) -> Result<(), String> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let arch = AUDIT_ARCH.ok_or("no seccomp filter for this architecture")?;
    let op = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let offset = |field: usize| field as u32;
    let filter = [
        op(
            BPF_LD | BPF_W | BPF_ABS,
            offset(std::mem::offset_of!(libc::seccomp_data, arch)),
            0,
            0,
        ),
        // Another architecture's numbers mean other calls: allow (jump to the end).
        op(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 3),
        op(
            BPF_LD | BPF_W | BPF_ABS,
            offset(std::mem::offset_of!(libc::seccomp_data, nr)),
            0,
            0,
        ),
        op(
            BPF_JMP | BPF_JEQ | BPF_K,
            libc::SYS_memfd_create as u32,
            0,
            1,
        ),
        op(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
            0,
            0,
        ),
        op(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW, 0, 0),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    rustix::thread::set_no_new_privs(true).map_err(|e| format!("no_new_privs: {e}"))?;
    // SAFETY: `program` points at `filter`, both alive for the call, which copies the
    // program into the kernel; the filter only makes one call fail.
    let installed = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &raw const program,
        )
    };
    if installed != 0 {
        return Err(format!(
            "seccomp refused the filter: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// A `shm:` server on `url` that serves one client, then has `memfd_create` fail with
/// `errno` and tries to accept the next: says its error, and whether it kept exactly
/// what it held; the first client is echoed all along. A feed (named, in `/dev/shm`) is
/// created under the filter too.
fn memfd_refused(url: &str, feed: &str, errno: i32) {
    let listener = Options::default().listen(url).unwrap();
    say("listening");
    let existing = listener.accept().unwrap();
    std::thread::spawn(move || echo(existing));
    if let Err(reason) = refuse_memfd_create(errno) {
        say(format!("skip: {reason}"));
        hold();
        return;
    }
    let mut publisher = Publisher::create(feed, PublishOptions::default())
        .expect("a feed needs no memfd: it is a named segment");
    publisher.publish(b"still").unwrap();
    drop(publisher);
    let before = holdings();
    say("filtered");
    let outcome = match listener.accept() {
        Ok(_) => "accepted".to_owned(),
        Err(err) => describe(&err),
    };
    let kept = if holdings() == before {
        "same".to_owned()
    } else {
        format!("changed: {before:?} -> {:?}", holdings())
    };
    say(format!("holdings={kept} {outcome}"));
    hold();
}

/// When the server cannot create a connection's rings (`memfd_create` refused, by a
/// seccomp filter in the server peer: ENOMEM as when memory runs out, then EPERM as a
/// sandbox would), its accept returns the segment layer's typed error for the memfd
/// (`Io` naming `memfd_create`, kind `OutOfMemory`; `PermissionDenied`), holds nothing
/// more than before, and the client is refused (`Error::Refused`), while the client it
/// already had goes on exchanging messages. A feed needs no memfd (named segments in
/// `/dev/shm`) and is made under the filter.
#[test]
fn a_server_refused_memfds_refuses_the_client_and_keeps_serving_the_others() {
    let test = "a_server_refused_memfds_refuses_the_client_and_keeps_serving_the_others";
    let dir = TempDir::new("exhaustion-memfd");
    // The segment layer's Io variant names the call; PermissionDenied has its own.
    for (errno, op, kind) in [
        (libc::ENOMEM, "memfd_create", io::ErrorKind::OutOfMemory),
        (libc::EPERM, "-", io::ErrorKind::PermissionDenied),
    ] {
        bounded(&format!("memfd_create failing with {errno}"), || {
            let url = url("shm", &dir);
            let feed = ShmName::new("memfd-feed");
            let mut peer = Peer::spawn("memfd_refused", &[&url, &feed.0, &errno.to_string()]);
            assert_eq!(peer.recv(), "listening");
            let mut existing = Options::default().connect(&url).unwrap();
            exchange(&mut existing, b"before");
            let filtered = peer.recv();
            if let Some(reason) = filtered.strip_prefix("skip: ") {
                skip(test, reason);
                return;
            }
            assert_eq!(filtered, "filtered");
            match Options::default().connect(&url) {
                Err(Error::Refused { reason, .. }) => {
                    // Told it was the server's failure, not its access policy.
                    assert!(
                        reason.contains("could not set up the connection"),
                        "errno {errno}: {reason}"
                    );
                }
                other => panic!("errno {errno}: the client got {other:?}"),
            }
            let report = peer.recv();
            assert!(report.starts_with("holdings=same "), "{report}");
            assert_eq!(field(&report, "variant"), "Segment", "{report}");
            assert_eq!(field(&report, "op"), op, "{report}");
            assert_eq!(field(&report, "errno"), errno.to_string(), "{report}");
            assert!(field(&report, "text").contains("memfd:"), "{report}");
            assert_eq!(field(&report, "kind"), format!("{kind:?}"), "{report}");
            exchange(&mut existing, b"after the refusal");
            drop(existing);
            assert!(peer.finish().success());
        });
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------------------
// 3. The descriptor limit while connecting and while accepting
// ---------------------------------------------------------------------------------------

/// A server in the test process: accepts on `listener` until stopped, echoing each
/// connection on a thread of its own; failed accepts (a client that left mid-handshake)
/// are skipped.
struct EchoServer {
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl EchoServer {
    fn start(listener: ipclane::Listener) -> Self {
        use std::sync::atomic::Ordering;
        let url = listener.url().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                loop {
                    let accepted = listener.accept();
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(conn) = accepted {
                        std::thread::spawn(move || echo(conn));
                    }
                }
            }
        });
        Self { url, stop, thread }
    }

    /// Stops accepting (a last connection wakes the accept) and drops the listener.
    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let waker = std::thread::spawn({
            let url = self.url.clone();
            move || drop(ipclane::connect(&url))
        });
        self.thread.join().unwrap();
        waker.join().unwrap();
    }
}

/// Attempts one call with exactly `free` descriptors left, then reports it as
/// `attempt free=F holdings=same|changed:.. outcome=ok|<describe>`.
fn at_the_limit<T>(free: usize, call: impl FnOnce() -> Result<T, Error>) -> (String, Option<T>) {
    let before = holdings();
    let old = leave_free_fds(free);
    let got = call();
    restore(Resource::Nofile, old);
    let (outcome, value) = match got {
        Ok(value) => ("outcome=ok".to_owned(), Some(value)),
        Err(err) => (format!("outcome=error {}", describe(&err)), None),
    };
    // A failed call must have given back all it took; a successful one holds its
    // connection, which the caller checks once it is dropped.
    let kept = match (&value, holdings()) {
        (Some(_), _) => "held".to_owned(),
        (None, after) if after == before => "same".to_owned(),
        (None, after) => format!("changed:{before:?}->{after:?}").replace(' ', ""),
    };
    (
        format!("attempt free={free} holdings={kept} {outcome}"),
        value,
    )
}

/// A client of the echo server at `url`: keeps one connection, then connects with 0, 1,
/// 2, ... descriptors left until a connect succeeds, reporting each attempt; between
/// attempts its first connection still exchanges messages; finally, with the limit
/// raised, a new connection works.
fn connect_at_the_limit(url: &str) {
    let mut existing = ipclane::connect(url).unwrap();
    exchange(&mut existing, b"before");
    for free in 0..16 {
        let before = holdings();
        let (report, conn) = at_the_limit(free, || ipclane::connect(url));
        let connected = conn.is_some();
        if let Some(mut conn) = conn {
            exchange(&mut conn, b"connected at the limit");
            drop(conn);
            assert_eq!(holdings(), before, "a dropped connection gives back all");
        }
        exchange(&mut existing, b"between attempts");
        say(report);
        if connected {
            break;
        }
    }
    let mut fresh = ipclane::connect(url).unwrap();
    exchange(&mut fresh, b"after the limit was raised");
    exchange(&mut existing, b"the first connection still works");
    say("done");
}

/// A server on `url` that accepts one client and echoes it on a thread; then for each
/// `try F` line accepts with `F` descriptors left and reports it, and for each `serve`
/// line accepts with the limit raised; an accepted connection is echoed once and dropped.
fn accept_at_the_limit(url: &str) {
    let listener = Options::default().listen(url).unwrap();
    say(format!("listening {}", listener.url()));
    let existing = listener.accept().unwrap();
    std::thread::spawn(move || echo(existing));
    let serve = |mut conn: Connection| {
        let ping = conn.recv().unwrap();
        conn.send(&ping).unwrap();
    };
    while let Some(line) = listen() {
        if let Some(free) = line.strip_prefix("try ") {
            let before = holdings();
            let (report, conn) = at_the_limit(free.parse().unwrap(), || listener.accept());
            if let Some(conn) = conn {
                serve(conn);
                assert_eq!(holdings(), before, "a dropped connection gives back all");
            }
            say(report);
        } else if line == "serve" {
            serve(listener.accept().unwrap());
            say("served");
        }
    }
}

/// Checks one report of an attempts sweep, as it comes (before anything waits on what a
/// failed attempt left): a failed attempt is a typed error saying the descriptors ran
/// out, and gave back all it took.
fn check_attempt(scheme: &str, side: &str, report: &str) {
    if report.contains("outcome=ok") {
        return;
    }
    assert!(
        report.contains("holdings=same "),
        "{scheme}: a failed {side} left something behind: {report}"
    );
    assert!(
        out_of_descriptors(report),
        "{scheme}: a failed {side} does not say the descriptors ran out: {report}"
    );
}

/// Checks a whole sweep: it failed with no descriptor left, and ended in a success.
fn check_sweep(scheme: &str, side: &str, attempts: &[String]) {
    assert!(
        attempts.first().is_some_and(|a| !a.contains("outcome=ok")),
        "{scheme}: a {side} with no descriptor left succeeded: {attempts:#?}"
    );
    assert!(
        attempts.last().is_some_and(|a| a.contains("outcome=ok")),
        "{scheme}: no {side} succeeded with up to 15 descriptors left: {attempts:#?}"
    );
}

/// A client at its descriptor limit gets a typed error from `connect` (EMFILE, or for
/// `shm:` the descriptors of the rings that could not be installed), at whichever step
/// the limit strikes (0, 1, 2, ... descriptors left, until one is enough), and holds
/// exactly what it held before; its existing connection and the server go on, and once
/// the limit is raised a new connection works. The client is a peer that sets its own
/// limit; the server is an echo server in the test process.
#[test]
fn a_client_at_its_descriptor_limit_gets_a_typed_error_and_leaks_nothing() {
    let dir = TempDir::new("exhaustion-connect");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let server = EchoServer::start(Options::default().listen(&url(scheme, &dir)).unwrap());
            let mut peer = Peer::spawn("connect_at_the_limit", &[&server.url]);
            let mut attempts = Vec::new();
            loop {
                let line = peer.recv();
                if line == "done" {
                    break;
                }
                eprintln!("{scheme}: connect {line}");
                check_attempt(scheme, "connect", &line);
                attempts.push(line);
            }
            assert!(peer.finish().success());
            server.stop();
            check_sweep(scheme, "connect", &attempts);
        });
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no socket file left"
    );
}

/// A server at its descriptor limit gets a typed error from `accept` (at `accept(2)`
/// itself, or at the `dup`, memfd or reopening step after it: 0, 1, 2, ... descriptors
/// left, until one is enough), holds exactly what it held before, and goes on: its
/// existing client exchanges messages after each failure; a client refused by
/// `accept(2)` itself waits in the backlog and is served once the limit is raised; one
/// refused after it is closed, and told so. The server is a peer that sets its own
/// limit; the clients are in the test process.
#[test]
fn a_server_at_its_descriptor_limit_gets_a_typed_error_and_keeps_serving() {
    let dir = TempDir::new("exhaustion-accept");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let mut peer = Peer::spawn("accept_at_the_limit", &[&url(scheme, &dir)]);
            let url = peer
                .recv()
                .strip_prefix("listening ")
                .expect("the peer's URL")
                .to_owned();
            let mut existing = ipclane::connect(&url).unwrap();
            exchange(&mut existing, b"before");
            let client = |url: &str| {
                let url = url.to_owned();
                std::thread::spawn(move || -> Result<(), Error> {
                    let mut conn = ipclane::connect(&url)?;
                    conn.send(b"ping")?;
                    assert_eq!(conn.recv()?, &b"ping"[..]);
                    Ok(())
                })
            };
            let mut attempts = Vec::new();
            for free in 0..16 {
                let waiting = client(&url);
                peer.send(&format!("try {free}"));
                let report = peer.recv();
                eprintln!("{scheme}: accept {report}");
                check_attempt(scheme, "accept", &report);
                let accepted = report.contains("outcome=ok");
                let in_backlog = !accepted && field(&report, "op").starts_with("accept");
                attempts.push(report);
                if in_backlog {
                    peer.send("serve");
                    assert_eq!(peer.recv(), "served");
                }
                let served = waiting.join().unwrap();
                assert_eq!(
                    served.is_ok(),
                    accepted || in_backlog,
                    "{scheme}: with {free} descriptors left, the client got {served:?}"
                );
                exchange(&mut existing, b"after an accept at the limit");
                if accepted {
                    break;
                }
            }
            let fresh = client(&url);
            peer.send("serve");
            assert_eq!(peer.recv(), "served");
            fresh
                .join()
                .unwrap()
                .expect("a new client once the limit is raised");
            drop(existing);
            assert!(peer.finish().success());
            check_sweep(scheme, "accept", &attempts);
        });
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no socket file left"
    );
}

// ---------------------------------------------------------------------------------------
// 4. The address-space limit while a large message arrives
// ---------------------------------------------------------------------------------------

/// The largest message of the connections of this case.
const LARGE_MAX: usize = 256 << 20;

/// This process's address space, in bytes (`VmSize`).
fn address_space() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    kib * 1024
}

/// A client of `url` (maximum message 256 MiB) that limits its address space to 64 MiB
/// over what it uses, then receives: says how the receive of a message of `len` bytes
/// ended; with the limit raised, receives that message whole, then `after`, and answers
/// `alive`.
fn receive_under_an_address_space_limit(url: &str, len: usize) {
    let options = Options::default().max_message_len(LARGE_MAX);
    let mut conn = options.connect(url).unwrap();
    assert_eq!(conn.recv().unwrap(), &b"ready"[..]);
    let old = getrlimit(Resource::As);
    let limit = address_space() + (64 << 20);
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(limit),
            maximum: old.maximum,
        },
    )
    .unwrap();
    say("limited");
    let first = conn.recv();
    restore(Resource::As, old);
    match first {
        Ok(msg) => say(format!("received {} bytes", msg.len())),
        Err(err) => say(format!("error {}", describe(&err))),
    }
    // Nothing was lost: the large message comes whole once memory is back.
    let msg = conn.recv().expect("the connection survives");
    assert!(msg == patterned(len)[..], "the large message, whole, next");
    assert_eq!(conn.recv().unwrap(), &b"after"[..]);
    conn.send(b"alive").unwrap();
    say("survived");
    hold();
}

/// The next line of `peer` (given back with it), or a failure saying how it died.
fn line_or_death(mut peer: Peer, scheme: &str) -> Result<(String, Peer), String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| peer.recv())) {
        Ok(line) => Ok((line, peer)),
        Err(_) => {
            use std::os::unix::process::ExitStatusExt;
            let status = peer.finish();
            Err(format!(
                "{scheme}: the receiver died instead of returning an error ({status}, \
                 signal {:?}; 6 is SIGABRT, Rust's abort on a failed allocation)",
                status.signal()
            ))
        }
    }
}

/// A message larger than what the receiver may still allocate (`RLIMIT_AS` 64 MiB over
/// its use, a 128 MiB message, maximum 256 MiB) is a typed error
/// (`Error::OutOfMemory`, `io_kind() == OutOfMemory`), not an abort, and nothing is lost:
/// once memory is back, the next receive returns that message whole. The receiver is a
/// peer that limits itself; the sender is the test process.
///
/// Rust's `Vec` and `BytesMut` growth aborts the process on a failed allocation; every
/// receive path did (`unix:`/`tcp:` in `ipclane_uds::buffer::grow`, `seqpacket:` in
/// `Reassembly::absorb`, `shm:` in `Reassembly::spare`), each receiver dying of SIGABRT
/// here, until they allocated fallibly (`Vec::try_reserve_exact`) before taking any byte.
#[test]
fn a_message_larger_than_the_memory_left_is_a_typed_error_not_an_abort() {
    const LEN: usize = 128 << 20;
    let dir = TempDir::new("exhaustion-as");
    let mut failures = Vec::new();
    for scheme in ["unix", "seqpacket", "shm"] {
        let outcome = bounded(scheme, || -> Result<(), String> {
            let options = Options::default().max_message_len(LARGE_MAX);
            let listener = options.listen(&url(scheme, &dir)).unwrap();
            let url = listener.url().to_string();
            let mut peer = Peer::spawn(
                "receive_under_an_address_space_limit",
                &[&url, &LEN.to_string()],
            );
            let mut conn = listener.accept().unwrap();
            conn.send(b"ready").unwrap();
            assert_eq!(peer.recv(), "limited");
            let (mut tx, mut rx) = conn.split();
            let sender = std::thread::spawn(move || {
                tx.send(&patterned(LEN))?;
                tx.send(b"after")
            });
            let (report, peer) = line_or_death(peer, scheme)?;
            let _ = sender.join().unwrap();
            eprintln!("{scheme}: {report}");
            if report.starts_with("received ") {
                return Err(format!(
                    "{scheme}: the limit did not bite ({report}): the case proves nothing"
                ));
            }
            if field(&report, "kind") != "OutOfMemory" {
                return Err(format!(
                    "{scheme}: not a typed out-of-memory error: {report}"
                ));
            }
            let (survived, peer) = line_or_death(peer, scheme)?;
            assert_eq!(survived, "survived");
            assert_eq!(rx.recv().unwrap(), &b"alive"[..]);
            drop(rx);
            assert!(peer.finish().success());
            Ok(())
        });
        if let Err(failure) = outcome {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------
// 5. An accept loop at the descriptor limit does not spin
// ---------------------------------------------------------------------------------------

/// A server on `url` that, told `go`, calls `accept` in a loop for a second with no
/// descriptor left, and reports how many calls that made, the CPU time and the elapsed
/// time, and the first error; then, with the limit raised, serves the next client (one
/// message echoed).
fn accept_loop_at_the_limit(url: &str) {
    use rustix::time::{ClockId, clock_gettime};
    let listener = Options::default().listen(url).unwrap();
    say(format!("listening {}", listener.url()));
    assert_eq!(listen().as_deref(), Some("go"));
    let cpu = || {
        let t = clock_gettime(ClockId::ProcessCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    };
    let (mut calls, mut first, mut served) = (0u32, None, None);
    let old = leave_free_fds(0);
    let (start, cpu_start) = (Instant::now(), cpu());
    while start.elapsed() < Duration::from_secs(1) {
        calls += 1;
        match listener.accept() {
            Ok(conn) => {
                served = Some(conn);
                break;
            }
            Err(err) => {
                first.get_or_insert_with(|| describe(&err));
            }
        }
    }
    let (elapsed, used) = (start.elapsed(), cpu() - cpu_start);
    restore(Resource::Nofile, old);
    say(format!(
        "looped calls={calls} cpu_ms={} wall_ms={} accepted={} error {}",
        used.as_millis(),
        elapsed.as_millis(),
        served.is_some(),
        first.unwrap_or_default()
    ));
    let mut conn = served.map_or_else(|| listener.accept(), Ok).unwrap();
    let msg = conn.recv().unwrap();
    conn.send(&msg).unwrap();
    say("served");
    hold();
}

/// An accept loop whose process is at its descriptor limit does not spin: each `accept`
/// that finds no descriptor waits a backoff before it returns its error (the OS error,
/// naming the accept, with errno EMFILE: `Error::Uds` carrying the socket layer's on the
/// local schemes, `Error::Io` on TCP), so a second of calling it in a loop makes few
/// calls (under 50) and uses little CPU (under 30% of the second), and the client
/// waiting meanwhile stays in the kernel's backlog: once the limit is raised, the next
/// accept serves it and its message comes back. Every transport; the server is a peer at
/// its own limit, the client a thread of the test process.
///
/// Without the backoff (accept returning EMFILE at once, as before issue 13) the loop
/// spins, half a million to millions of calls and most of a CPU in the second, and this
/// test fails on every transport.
#[test]
fn an_accept_loop_at_the_descriptor_limit_backs_off_and_serves_the_waiting_client() {
    let dir = TempDir::new("exhaustion-accept-loop");
    let mut failures = Vec::new();
    for scheme in SCHEMES {
        bounded(scheme, || {
            let mut peer = Peer::spawn("accept_loop_at_the_limit", &[&url(scheme, &dir)]);
            let url = peer
                .recv()
                .strip_prefix("listening ")
                .expect("the peer's URL")
                .to_owned();
            let client = std::thread::spawn(move || -> Result<bytes::Bytes, Error> {
                let options = Options::default().handshake_timeout(Duration::from_secs(30));
                let mut conn = options.connect(&url)?;
                conn.send(b"waiting")?;
                conn.recv()
            });
            peer.send("go");
            let report = peer.recv();
            eprintln!("{scheme}: {report}");
            let number = |key: &str| -> u64 { field(&report, key).parse().unwrap() };
            let (calls, cpu, wall) = (number("calls"), number("cpu_ms"), number("wall_ms"));
            if field(&report, "accepted") == "true" {
                failures.push(format!("{scheme}: accepted at the limit: {report}"));
            } else if calls >= 50 {
                failures.push(format!(
                    "{scheme}: the accept loop spins: {calls} calls in {wall} ms ({cpu} ms of CPU)"
                ));
            } else if cpu * 10 >= wall * 3 {
                failures.push(format!(
                    "{scheme}: the accept loop burns CPU: {cpu} ms in {wall} ms"
                ));
            } else if !(field(&report, "op").contains("accept")
                && field(&report, "errno") == libc::EMFILE.to_string())
            {
                failures.push(format!(
                    "{scheme}: not an OS error naming the accept with EMFILE: {report}"
                ));
            }
            assert_eq!(peer.recv(), "served");
            let echoed = client
                .join()
                .unwrap()
                .expect("the waiting client is served");
            assert_eq!(&echoed[..], b"waiting", "{scheme}: nothing lost");
            assert!(peer.finish().success());
        });
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
