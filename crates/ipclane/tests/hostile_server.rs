//! A hostile server on the shared-memory handshake: a fake `shm:` server (a peer process
//! speaking the handshake by hand over a plain Unix socket) that answers a client's hello
//! with anything but two sealed SPSC rings. Whatever it passes, `ipclane::connect` returns a
//! typed error naming what was wrong; the client maps nothing it was not sure of, and
//! closes every descriptor it received and its socket.
//!
//! How "refused before mapping" is proven: every memfd of a fault the segment layer must
//! find before mapping is also sealed against writing (`F_SEAL_WRITE`; a plain unsealed
//! one cannot be, and has a write-sealed twin), so a shared writable mapping of it fails
//! with `EPERM`. A client that mapped before it validated would report that failure
//! instead of the fault the case plants, and the message checks catch it (a control case
//! shows the failure is real). The faults found only once mapped (a ring side already
//! claimed, an impossible queue layout) are not write-sealed. After each case
//! `/proc/self/maps` must name no memfd of the fake server's, so nothing stays mapped, and
//! `/proc/self/fd` must be what it was before the connect.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};

use ipclane::Error;
use ipclane::queue::{MpmcQueue, Producer, SpscRing};
use ipclane_testkit::{Peer, TempDir, WAIT_LIMIT, bounded, listen, say};
use rustix::fs::{MemfdFlags, SealFlags};

/// The prefix of every memfd the fake server makes: `/proc/self/maps` shows a mapping of
/// one as `/memfd:ipclane-hostile-... (deleted)`.
const MEMFD_PREFIX: &str = "ipclane-hostile-";

/// Bytes of the rings the fake server offers.
const RING: usize = 4096;

/// The reply of a server of handshake `version` with `status` (0 accepted, 1 wrong
/// version), as in the module docs of `ipclane::shm`.
fn reply(version: u8, status: u8) -> [u8; 8] {
    [b'I', b'P', b'C', b'L', version, status, 0, 0]
}

/// The client's last handshake message: it attached both rings.
const ATTACHED: [u8; 8] = [
    b'I',
    b'P',
    b'C',
    b'L',
    ipclane::shm::HANDSHAKE_VERSION,
    2,
    0,
    0,
];

/// The file of a new, valid SPSC ring segment of [`RING`] bytes, as a server makes one.
fn ring_file() -> Vec<u8> {
    let segment = SpscRing::create_memfd(RING).expect("create a ring");
    file_bytes(segment.as_fd())
}

/// The whole content of the file behind `fd`.
fn file_bytes(fd: BorrowedFd<'_>) -> Vec<u8> {
    let file = std::fs::File::from(fd.try_clone_to_owned().expect("dup"));
    let len = file.metadata().expect("fstat").len() as usize;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, 0).expect("read the segment");
    bytes
}

/// A memfd `ipclane-hostile-<name>` holding `bytes`, `len` bytes long (cut or extended
/// with zeroes), with `seals` added (`None`: it allows no seals at all).
fn memfd(name: &str, bytes: &[u8], len: usize, seals: Option<SealFlags>) -> OwnedFd {
    let flags = match seals {
        Some(_) => MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        None => MemfdFlags::CLOEXEC,
    };
    let fd = rustix::fs::memfd_create(format!("{MEMFD_PREFIX}{name}"), flags).expect("memfd");
    let mut file = std::fs::File::from(fd);
    file.write_all(&bytes[..bytes.len().min(len)])
        .expect("fill the memfd");
    file.set_len(len as u64).expect("size the memfd");
    let fd = OwnedFd::from(file);
    if let Some(seals) = seals {
        rustix::fs::fcntl_add_seals(&fd, seals).expect("seal the memfd");
    }
    fd
}

/// Seals of a proper ring: it can neither shrink nor grow, and the seals are final.
const RING_SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// A proper ring's seals, and sealed against writing (see the module docs): any shared
/// writable mapping of it fails.
const SEALED: Option<SealFlags> = Some(RING_SEALS.union(SealFlags::WRITE));

/// Only a proper ring's seals: for the cases found once mapped.
const MAPPABLE: Option<SealFlags> = Some(RING_SEALS);

/// What the fake server answers in case `name`: its reply, the descriptors attached, and
/// what it keeps alive until the client has gone (a ring side it holds).
struct Offer {
    reply: [u8; 8],
    fds: Vec<OwnedFd>,
    _held: Option<Producer<ipclane::queue::Segment>>,
}

impl Offer {
    fn accept(fds: Vec<OwnedFd>) -> Self {
        Self {
            reply: reply(ipclane::shm::HANDSHAKE_VERSION, 0),
            fds,
            _held: None,
        }
    }

    /// The offer of case `name` (the fake server's side; `dir` for files it needs).
    fn make(name: &str, dir: &str) -> Self {
        let ring = ring_file();
        let len = ring.len();
        // The other ring, proper but for the write seal: never reached in these cases.
        let valid = || memfd(&format!("{name} (other)"), &ring, len, SEALED);
        match name {
            // Two proper rings, as a real server sends them: the control case.
            "two proper rings" => Self::accept(vec![
                SpscRing::create_memfd(RING)
                    .unwrap()
                    .as_fd()
                    .try_clone_to_owned()
                    .unwrap(),
                SpscRing::create_memfd(RING)
                    .unwrap()
                    .as_fd()
                    .try_clone_to_owned()
                    .unwrap(),
            ]),
            // The descriptors themselves.
            "a regular file" => {
                let path = format!("{dir}/ring.file");
                std::fs::write(&path, &ring).unwrap();
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .unwrap();
                Self::accept(vec![file.into(), valid()])
            }
            "a directory" => Self::accept(vec![std::fs::File::open(dir).unwrap().into(), valid()]),
            "a pty" => {
                let ptmx = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
                    .open("/dev/ptmx")
                    .unwrap();
                Self::accept(vec![ptmx.into(), valid()])
            }
            "a socket" => Self::accept(vec![UnixStream::pair().unwrap().0.into(), valid()]),
            "a pipe" => Self::accept(vec![std::io::pipe().unwrap().0.into(), valid()]),
            "an eventfd" => Self::accept(vec![
                rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap(),
                valid(),
            ]),
            // Memfds that are not sealed rings.
            "an unsealed memfd" => Self::accept(vec![memfd(name, &ring, len, None), valid()]),
            "a memfd sealed only against writing" => Self::accept(vec![
                memfd(name, &ring, len, Some(SealFlags::WRITE)),
                valid(),
            ]),
            "a sealed memfd too small for its header" => {
                Self::accept(vec![memfd(name, &ring, 100, SEALED), valid()])
            }
            "a sealed memfd shorter than its header says" => {
                Self::accept(vec![memfd(name, &ring, len / 2, SEALED), valid()])
            }
            "a sealed memfd longer than its header says" => {
                Self::accept(vec![memfd(name, &ring, len * 2, SEALED), valid()])
            }
            "an empty sealed memfd" => Self::accept(vec![memfd(name, &[], 0, SEALED), valid()]),
            "a sealed memfd of garbage" => {
                let garbage: Vec<u8> = (0..len as u64)
                    .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
                    .collect();
                Self::accept(vec![memfd(name, &garbage, len, SEALED), valid()])
            }
            "a sealed memfd of zeroes" => {
                Self::accept(vec![memfd(name, &[], len, SEALED), valid()])
            }
            "a sealed memfd of another kind" => {
                let mpmc = MpmcQueue::create_memfd(8, 64).unwrap();
                let bytes = file_bytes(mpmc.as_fd());
                Self::accept(vec![memfd(name, &bytes, bytes.len(), SEALED), valid()])
            }
            // The proof that the write seal works: a proper ring but for it.
            "a proper ring sealed against writing" => {
                Self::accept(vec![memfd(name, &ring, len, SEALED), valid()])
            }
            "a read-only sealed ring" => {
                let ring = memfd(name, &ring, len, SEALED);
                let read_only = std::fs::File::open(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&ring)
                ))
                .unwrap();
                Self::accept(vec![read_only.into(), valid()])
            }
            // How many descriptors.
            "no descriptors" => Self::accept(vec![]),
            "one descriptor" => Self::accept(vec![valid()]),
            "three descriptors" => Self::accept(vec![valid(), valid(), valid()]),
            "five descriptors" => Self::accept((0..5).map(|_| valid()).collect()),
            // Replies that do not accept, carrying rings all the same.
            "a refusal carrying rings" => Self {
                reply: reply(ipclane::shm::HANDSHAKE_VERSION, 1),
                fds: vec![valid(), valid()],
                _held: None,
            },
            "an acceptance of another version" => Self {
                reply: reply(ipclane::shm::HANDSHAKE_VERSION + 1, 0),
                fds: vec![valid(), valid()],
                _held: None,
            },
            "a reply that is no handshake" => Self {
                reply: *b"HTTP/1.1",
                fds: vec![valid(), valid()],
                _held: None,
            },
            // Valid segments whose ring cannot be used: found only once mapped (so
            // these are not write-sealed), and unmapped again.
            "a ring whose producer side the server holds" => {
                let fd = memfd(name, &ring, len, MAPPABLE);
                let held = SpscRing::open_fd(fd.try_clone().unwrap()).unwrap();
                let producer = Producer::attach(std::sync::Arc::new(held)).unwrap();
                Self {
                    _held: Some(producer),
                    ..Self::accept(vec![fd, memfd("other", &ring, len, MAPPABLE)])
                }
            }
            "a ring whose capacity is not a power of two" => {
                let mut bytes = ring.clone();
                // The queue's meta block starts the user region (file offset 4096); its
                // capacity is at 16 (docs/segment-layout.md, docs/queue-layout.md).
                bytes[4096 + 16..4096 + 24].copy_from_slice(&3000u64.to_ne_bytes());
                Self::accept(vec![
                    memfd(name, &bytes, len, MAPPABLE),
                    memfd("other", &ring, len, MAPPABLE),
                ])
            }
            other => panic!("no case {other}"),
        }
    }
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // A fake shm server at args[0]: for each case named on stdin, accepts one
        // connection, reads the hello, answers with the case's offer, and says what the
        // client did then ("attached", then "closed"; or "closed" at once).
        "fake_server" => {
            let listener = UnixListener::bind(&args[0]).unwrap();
            say("listening");
            while let Some(case) = listen() {
                let (mut socket, _) = listener.accept().unwrap();
                socket.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
                let mut hello = [0u8; 8];
                socket.read_exact(&mut hello).unwrap();
                let offer = Offer::make(&case, &args[1]);
                let fds: Vec<BorrowedFd<'_>> = offer.fds.iter().map(AsFd::as_fd).collect();
                ipclane::uds::send_fds(&socket, &offer.reply, &fds).unwrap();
                let mut rest = Vec::new();
                let _ = socket.read_to_end(&mut rest);
                let did = match rest.as_slice() {
                    [] => "closed".to_owned(),
                    attached if attached == ATTACHED => "attached, then closed".to_owned(),
                    other => format!("sent {other:02x?}"),
                };
                say(format!("{case}: {did}"));
            }
        }
        other => panic!("unknown role {other}"),
    });
}

/// This process's open descriptors, each as `fd -> target` (the listing's own left out).
fn descriptors() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            let target = target.display().to_string();
            (!target.ends_with("/fd")).then(|| format!("{:?} -> {target}", entry.file_name()))
        })
        .collect();
    fds.sort();
    fds
}

/// The lines of `/proc/self/maps` that map a memfd of the fake server's.
fn hostile_mappings() -> Vec<String> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|line| line.contains(MEMFD_PREFIX))
        .map(str::to_owned)
        .collect()
}

/// How `EPERM` reads in an error's chain: what mapping a write-sealed memfd gives.
const EPERM: &str = "Operation not permitted";

/// An error and its sources, as a user printing the chain sees them.
fn chain(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

/// A fake server, and a connection to it with two proper rings: it proves the fake speaks
/// the handshake, so the refusals that follow come from each case's fault.
fn fake_server(tag: &str) -> (TempDir, Peer, String) {
    let dir = TempDir::new(tag);
    let path = dir.path().join("fake.sock");
    let mut server = Peer::spawn(
        "fake_server",
        &[path.to_str().unwrap(), dir.path().to_str().unwrap()],
    );
    assert_eq!(server.recv(), "listening");
    let url = format!("shm://{}", path.display());
    server.send("two proper rings");
    let mut conn = bounded("connect to two proper rings", || ipclane::connect(&url))
        .expect("the fake server's proper rings are taken");
    // The client produces into the first ring and the fake attached nothing: the
    // message just waits there.
    conn.send(b"hello").unwrap();
    drop(conn);
    assert_eq!(server.recv(), "two proper rings: attached, then closed");
    (dir, server, url)
}

/// Runs each case against the fake server: the connect fails with an error for which
/// `expected(&error, &chain)` holds, and the words of `case.1` are in its chain; the client
/// closed the socket and every descriptor it received; nothing of the fake's stays mapped.
fn refused(tag: &str, cases: &[(&str, &[&str])], expected: fn(&Error) -> bool) {
    // The descriptor and mapping counts are the process's: under a harness that runs
    // tests as threads of one process (`cargo test`), one test at a time. (No lock file:
    // its descriptor would change the counts.)
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, mut server, url) = fake_server(tag);
    for &(case, words) in cases {
        let before = descriptors();
        server.send(case);
        let err = match bounded(case, || ipclane::connect(&url)) {
            Ok(_) => panic!("{case}: connected"),
            Err(e) => e,
        };
        let text = chain(&err);
        eprintln!("{case}: {text}");
        assert!(expected(&err), "{case}: {err:?}");
        for word in words {
            assert!(
                text.contains(word),
                "{case}: {text:?} does not say {word:?}"
            );
        }
        assert!(
            !text.contains("mmap"),
            "{case}: mapped before validating: {text}"
        );
        assert_eq!(
            server.recv(),
            format!("{case}: closed"),
            "the client closed its socket"
        );
        assert_eq!(descriptors(), before, "{case}: descriptors left open");
        assert_eq!(
            hostile_mappings(),
            Vec::<String>::new(),
            "{case}: left mapped"
        );
    }
}

/// Descriptors that are not memfds at all: each is named for what it is (no terminal,
/// socket or directory is ever reopened or mapped), and the regular file, which could be
/// mapped, is refused for the seals it cannot have.
#[test]
fn descriptors_that_are_not_memfds_are_refused_naming_what_they_are() {
    refused(
        "hostile-server-types",
        &[
            ("a regular file", &["not a sealed memfd"]),
            ("a directory", &["a directory", "not a regular file"]),
            ("a pty", &["a character device"]),
            ("a socket", &["a socket"]),
            ("a pipe", &["a FIFO"]),
            ("an eventfd", &["not a regular file"]),
        ],
        |e| {
            matches!(
                e,
                Error::Segment(ipclane::segment::SegmentError::Corrupted { .. })
            )
        },
    );
}

/// Memfds that are not sealed rings: unsealed (or sealed only against writing), of a size
/// their header does not say, of garbage, of zeroes, of another structure, or open only for
/// reading. Each is refused by the segment layer's checks, before any mapping.
#[test]
fn memfds_that_are_not_sealed_rings_are_refused_before_mapping() {
    use ipclane::segment::SegmentError;
    refused(
        "hostile-server-memfds",
        &[
            (
                "an unsealed memfd",
                &["not sealed against shrinking and growing"],
            ),
            (
                "a memfd sealed only against writing",
                &["not sealed against shrinking and growing"],
            ),
            (
                "a sealed memfd too small for its header",
                &["memfd:ipclane-hostile-"],
            ),
            (
                "a sealed memfd shorter than its header says",
                &["but the file is"],
            ),
            (
                "a sealed memfd longer than its header says",
                &["but the file is"],
            ),
            ("an empty sealed memfd", &["0 bytes, shorter than"]),
            ("a sealed memfd of garbage", &["magic"]),
            ("a sealed memfd of zeroes", &["not initialized"]),
            ("a sealed memfd of another kind", &["kind tag"]),
            ("a read-only sealed ring", &["reading and writing"]),
            // Not a fault of the ring: it shows that a mapping of the others would fail.
            ("a proper ring sealed against writing", &[EPERM]),
        ],
        |e| {
            matches!(
                e,
                Error::Segment(
                    SegmentError::Corrupted { .. }
                        | SegmentError::Incompatible { .. }
                        | SegmentError::NotInitialized { .. }
                        | SegmentError::PermissionDenied { .. }
                )
            )
        },
    );
}

/// A reply with the wrong number of descriptors (0, 1, 3, 5), or one that is no
/// acceptance, carrying rings all the same: refused, naming the count or the reply, and
/// every descriptor that came is closed (the kernel's truncation included).
#[test]
fn a_reply_without_exactly_two_rings_is_refused_and_its_descriptors_closed() {
    refused(
        "hostile-server-counts",
        &[
            ("no descriptors", &["0 descriptors"]),
            ("one descriptor", &["1 descriptors"]),
            ("three descriptors", &["3 descriptors"]),
            ("five descriptors", &["descriptors"]),
            ("a refusal carrying rings", &["version"]),
            ("an acceptance of another version", &["version"]),
            (
                "a reply that is no handshake",
                &["not an ipclane handshake"],
            ),
        ],
        |e| matches!(e, Error::Refused { .. } | Error::Uds(_)),
    );
}

/// Valid segments whose ring cannot be used: one whose producer side the server already
/// holds, one whose queue layout is impossible. These are known only once mapped: the
/// client unmaps them again, and closes them.
#[test]
fn a_valid_segment_whose_ring_is_unusable_is_refused_and_unmapped() {
    refused(
        "hostile-server-rings",
        &[
            (
                "a ring whose producer side the server holds",
                &["producer", "claimed"],
            ),
            (
                "a ring whose capacity is not a power of two",
                &["capacity 3000"],
            ),
        ],
        |e| matches!(e, Error::Queue(_)),
    );
}
