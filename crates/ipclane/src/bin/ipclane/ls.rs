//! `ipclane ls`.

use ipclane::segment::{self, Segment, SegmentInfo, SegmentState};
use serde::Serialize;

/// One listed segment, as printed.
#[derive(Debug, Serialize)]
struct Entry {
    name: String,
    path: String,
    /// `spsc`, `mpmc`, `broadcast`, `untyped`, `other`; `null` when the header is not ready.
    kind: Option<&'static str>,
    /// `ready`, `initializing`, `failed`, `invalid`, `unreadable`.
    state: &'static str,
    /// Why it is invalid or unreadable.
    reason: Option<String>,
    file_size: u64,
    mode: String,
    uid: u32,
    owner_alive: Option<bool>,
    attached: Option<usize>,
    persistent: Option<bool>,
    creator_pid: Option<u32>,
    creator_command: Option<String>,
    /// For a listener's record: the URL it listens on.
    url: Option<String>,
}

impl From<SegmentInfo> for Entry {
    fn from(info: SegmentInfo) -> Self {
        let (kind, state, reason, persistent, creator) = match info.state {
            SegmentState::Ready {
                kind,
                persistent,
                creator,
                ..
            } => (
                Some(super::kind::name(kind)),
                "ready",
                None,
                Some(persistent),
                Some(creator),
            ),
            SegmentState::Initializing => (None, "initializing", None, None, None),
            SegmentState::Failed => (None, "failed", None, None, None),
            SegmentState::Invalid { reason } => (None, "invalid", Some(reason), None, None),
            SegmentState::Unreadable { reason } => (None, "unreadable", Some(reason), None, None),
            _ => (None, "unknown", None, None, None),
        };
        Self {
            name: info.name,
            path: info.path.display().to_string(),
            kind,
            state,
            reason,
            file_size: info.file_size,
            mode: format!("{:03o}", info.mode & 0o7777),
            uid: info.uid,
            owner_alive: info.owner_alive,
            attached: info.attached,
            persistent,
            creator_pid: creator.as_ref().map(|c| c.pid),
            creator_command: creator.map(|c| c.command),
            url: None,
        }
    }
}

/// A yes/no/unknown column.
fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

pub(crate) fn run(json: bool) -> Result<(), ipclane::Error> {
    let mut entries: Vec<Entry> = segment::list()?.into_iter().map(Entry::from).collect();
    for e in &mut entries {
        if e.kind == Some("listener") {
            e.url = Segment::named(&e.name)
                .kind(ipclane::LISTENER_KIND)
                .open()
                .ok()
                .and_then(|record| ipclane::announced_url(&record));
        }
    }
    if json {
        return super::print_json(&entries);
    }
    if entries.is_empty() {
        println!("no ipclane segments or listeners");
        return Ok(());
    }
    println!(
        "{:<32} {:<10} {:<12} {:>12} {:>6} {:>8}  creator",
        "NAME", "KIND", "STATE", "SIZE", "OWNER", "ATTACHED"
    );
    for e in &entries {
        println!(
            "{:<32} {:<10} {:<12} {:>12} {:>6} {:>8}  {}",
            e.name,
            e.kind.unwrap_or("-"),
            e.state,
            e.file_size,
            yes_no(e.owner_alive),
            e.attached.map_or("?".into(), |n| n.to_string()),
            match (&e.url, &e.creator_command, e.creator_pid) {
                (Some(url), Some(cmd), Some(pid)) => format!("{cmd} ({pid}) listens on {url}"),
                (None, Some(cmd), Some(pid)) => format!("{cmd} ({pid})"),
                _ => e.reason.clone().unwrap_or_default(),
            }
        );
    }
    Ok(())
}
