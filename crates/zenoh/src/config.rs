//! The Zenoh session a bridge opens: from flags, from a file, or from a `zenoh::Config`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// How the bridge's Zenoh session takes part in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A peer (the default): talks to other peers directly, through the endpoints it
    /// connects to and listens on; no router needed.
    Peer,
    /// A client of a Zenoh router (give the router's endpoint to connect to).
    Client,
}

/// The bridge's Zenoh session: peer mode, no multicast scouting, and the endpoints given.
///
/// Without a file, a session is a peer that finds others only through the endpoints it is
/// given (multicast scouting is off unless asked for: a bridge should not discover, and be
/// discovered by, whatever else runs on the network). With [`from_file`](Self::from_file),
/// the file is Zenoh's own JSON5 configuration: the methods here override it where they
/// are called, and where the file is silent the bridge's defaults hold, not Zenoh's (peer
/// mode, no multicast scouting, no listening but on the endpoints given, an open that
/// fails after the connect timeout).
///
/// ```
/// let config = ipclane_zenoh::Config::peer()
///     .listen("tcp/0.0.0.0:7447")?
///     .connect("tcp/192.0.2.10:7447")?;
/// assert!(ipclane_zenoh::Config::peer().connect("tcp/no-port").is_err());
/// # let _ = config;
/// # Ok::<(), ipclane_zenoh::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// A file's configuration, and the file.
    base: Option<(zenoh::Config, Option<PathBuf>)>,
    /// What the base sets itself (all of it for a `zenoh::Config` given whole).
    given: Given,
    mode: Option<Mode>,
    connect: Vec<String>,
    listen: Vec<String>,
    multicast_scouting: Option<bool>,
    connect_timeout: Duration,
}

/// The settings a base configuration makes itself, where the bridge's defaults yield.
#[derive(Debug, Clone, Default)]
struct Given {
    mode: bool,
    multicast_scouting: bool,
    listen: Vec<String>,
    connect: Vec<String>,
    connect_timeout: bool,
    exit_on_failure: bool,
    /// Whether it sets listen endpoints (possibly none).
    listens: bool,
}

impl Given {
    /// What the JSON5 `text` sets.
    fn of_file(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = json5::from_str(text).map_err(|e| e.to_string())?;
        let at = |path: &str| value.pointer(path);
        let strings = |path: &str| -> Vec<String> {
            at(path)
                .and_then(serde_json::Value::as_array)
                .map(|all| {
                    all.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Self {
            mode: at("/mode").is_some(),
            multicast_scouting: at("/scouting/multicast/enabled").is_some(),
            listen: strings("/listen/endpoints"),
            connect: strings("/connect/endpoints"),
            connect_timeout: at("/connect/timeout_ms").is_some(),
            exit_on_failure: at("/connect/exit_on_failure").is_some(),
            listens: at("/listen/endpoints").is_some(),
        })
    }

    /// Everything: a `zenoh::Config` built in code is taken as meant.
    fn all(config: &zenoh::Config) -> Self {
        let strings = |key: &str| -> Vec<String> {
            config
                .get_json(key)
                .ok()
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default()
        };
        Self {
            mode: true,
            multicast_scouting: true,
            listen: strings("listen/endpoints"),
            connect: strings("connect/endpoints"),
            connect_timeout: true,
            exit_on_failure: true,
            listens: true,
        }
    }
}

/// How long opening a session waits for its endpoints to answer before it fails.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Config {
    fn default() -> Self {
        Self::peer()
    }
}

impl Config {
    /// A peer with no endpoints and no multicast scouting.
    pub fn peer() -> Self {
        Self {
            base: None,
            given: Given::default(),
            mode: None,
            connect: Vec::new(),
            listen: Vec::new(),
            multicast_scouting: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Zenoh's configuration from a JSON5 file (its format:
    /// <https://zenoh.io/docs/manual/configuration/>).
    ///
    /// # Errors
    ///
    /// [`Error::Config`], naming the file, when it cannot be read or parsed.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let invalid = |reason: String| Error::Config {
            at: Some(path.to_owned()),
            reason,
        };
        let config = zenoh::Config::from_file(path).map_err(|e| invalid(e.to_string()))?;
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            base: Some((config, Some(path.to_owned()))),
            given: Given::of_file(&text).map_err(invalid)?,
            ..Self::peer()
        })
    }

    /// A configuration built with Zenoh's own API; the methods here override it where
    /// called.
    pub fn from_zenoh(config: zenoh::Config) -> Self {
        Self {
            given: Given::all(&config),
            base: Some((config, None)),
            ..Self::peer()
        }
    }

    /// Sets the mode ([`Mode::Peer`] unless a file says otherwise).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Adds an endpoint to connect to, such as `tcp/192.0.2.10:7447` or
    /// `unixsock-stream//run/zenoh.sock`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an endpoint Zenoh cannot parse.
    pub fn connect(mut self, endpoint: &str) -> Result<Self, Error> {
        self.connect.push(parse_endpoint(endpoint)?);
        Ok(self)
    }

    /// Adds an endpoint to listen on, such as `tcp/0.0.0.0:7447`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an endpoint Zenoh cannot parse.
    pub fn listen(mut self, endpoint: &str) -> Result<Self, Error> {
        self.listen.push(parse_endpoint(endpoint)?);
        Ok(self)
    }

    /// Turns multicast scouting on (discovering peers on the local network) or off.
    pub fn multicast_scouting(mut self, on: bool) -> Self {
        self.multicast_scouting = Some(on);
        self
    }

    /// How long opening the session waits for the endpoints it connects to
    /// ([`DEFAULT_CONNECT_TIMEOUT`]); past it, opening fails with [`Error::Open`]. Once
    /// open, Zenoh reconnects to an endpoint that went away, without a limit.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The endpoints it connects to.
    pub fn get_connect(&self) -> &[String] {
        &self.connect
    }

    /// The endpoints it listens on.
    pub fn get_listen(&self) -> &[String] {
        &self.listen
    }

    /// The configuration Zenoh opens a session with.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when Zenoh refuses a setting.
    pub fn to_zenoh(&self) -> Result<zenoh::Config, Error> {
        let (mut config, file) = match &self.base {
            Some((config, file)) => (config.clone(), file.clone()),
            None => (zenoh::Config::default(), None),
        };
        let given = &self.given;
        let mut set = |key: &str, value: String| {
            config.insert_json5(key, &value).map_err(|e| Error::Config {
                at: file.clone(),
                reason: format!("{key} = {value}: {e}"),
            })
        };
        match self.mode {
            Some(Mode::Client) => set("mode", "\"client\"".into())?,
            Some(Mode::Peer) => set("mode", "\"peer\"".into())?,
            None if !given.mode => set("mode", "\"peer\"".into())?,
            None => {}
        }
        match self.multicast_scouting {
            Some(on) => set("scouting/multicast/enabled", on.to_string())?,
            None if !given.multicast_scouting => {
                set("scouting/multicast/enabled", "false".into())?;
            }
            None => {}
        }
        if !self.listen.is_empty() || !given.listens {
            set("listen/endpoints", json_strings(&self.listen))?;
        }
        if !self.connect.is_empty() {
            set("connect/endpoints", json_strings(&self.connect))?;
        }
        if !self.connect.is_empty() || !given.connect.is_empty() {
            // Fail the open, with the endpoints named, rather than wait in the background
            // for a peer that may never come; once connected, Zenoh retries by itself.
            if !self.connect.is_empty() || !given.connect_timeout {
                let ms = i64::try_from(self.connect_timeout.as_millis()).unwrap_or(i64::MAX);
                set("connect/timeout_ms", ms.to_string())?;
            }
            if !self.connect.is_empty() || !given.exit_on_failure {
                set("connect/exit_on_failure", "true".into())?;
            }
        }
        Ok(config)
    }

    /// The endpoints, for an error that names them.
    pub(crate) fn open_error(&self, reason: String) -> Error {
        let or_given =
            |mine: &[String], given: &[String]| if mine.is_empty() { given } else { mine }.to_vec();
        Error::Open {
            connect: or_given(&self.connect, &self.given.connect),
            listen: or_given(&self.listen, &self.given.listen),
            reason,
        }
    }
}

/// The transports this crate's Zenoh is built with.
pub const TRANSPORTS: [&str; 2] = ["tcp", "unixsock-stream"];

/// `endpoint`, checked by Zenoh's own parser, then for a transport this build has and,
/// over TCP, a `host:port` address.
fn parse_endpoint(endpoint: &str) -> Result<String, Error> {
    let invalid = |reason: String| Error::Config {
        at: None,
        reason: format!("endpoint {endpoint:?}: {reason}"),
    };
    let parsed = zenoh::config::EndPoint::from_str(endpoint).map_err(|e| invalid(e.to_string()))?;
    let protocol = parsed.protocol();
    if !TRANSPORTS.contains(&protocol.as_str()) {
        return Err(invalid(format!(
            "transport {:?} is not one of this build's: {}",
            protocol.as_str(),
            TRANSPORTS.join(", ")
        )));
    }
    let address = parsed.address();
    if protocol.as_str() == "tcp" {
        let port = address.as_str().rsplit_once(':').map(|(_, port)| port);
        if port.is_none_or(|port| port.parse::<u16>().is_err()) {
            return Err(invalid("a TCP endpoint is tcp/HOST:PORT".into()));
        }
    } else if address.as_str().is_empty() {
        return Err(invalid(
            "a Unix-socket endpoint is unixsock-stream/PATH".into(),
        ));
    }
    Ok(parsed.to_string())
}

/// `items` as a JSON array of strings (endpoints: parsed, so without quotes or escapes).
fn json_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_has_no_multicast_scouting_and_only_its_endpoints() {
        let config = Config::peer()
            .listen("tcp/127.0.0.1:7447")
            .unwrap()
            .to_zenoh()
            .unwrap();
        assert_eq!(config.get_json("mode").unwrap(), "\"peer\"");
        assert_eq!(
            config.get_json("scouting/multicast/enabled").unwrap(),
            "false"
        );
        assert_eq!(
            config.get_json("listen/endpoints").unwrap(),
            "[\"tcp/127.0.0.1:7447\"]"
        );
    }

    #[test]
    fn connecting_fails_the_open_after_the_timeout() {
        let config = Config::peer()
            .connect("tcp/127.0.0.1:9")
            .unwrap()
            .connect_timeout(Duration::from_millis(1500))
            .to_zenoh()
            .unwrap();
        assert_eq!(config.get_json("connect/timeout_ms").unwrap(), "1500");
        assert_eq!(config.get_json("connect/exit_on_failure").unwrap(), "true");
    }

    /// `text` as a configuration file, read.
    fn from_text(text: &str) -> Config {
        let dir = ipclane_testkit::TempDir::new("zenoh-config");
        let path = dir.path().join("z.json5");
        std::fs::write(&path, text).unwrap();
        Config::from_file(&path).unwrap()
    }

    #[test]
    fn where_a_file_is_silent_the_bridge_defaults_hold() {
        let file = from_text("{ connect: { endpoints: [\"tcp/127.0.0.1:9\"] } }");
        let config = file.to_zenoh().unwrap();
        assert_eq!(config.get_json("mode").unwrap(), "\"peer\"");
        // Zenoh's own defaults would scout and listen on every interface.
        let get = |key| config.get_json(key).unwrap();
        assert_eq!(get("scouting/multicast/enabled"), "false");
        assert_eq!(get("listen/endpoints"), "[]");
        assert_eq!(get("connect/endpoints"), "[\"tcp/127.0.0.1:9\"]");
        assert_eq!(get("connect/timeout_ms"), "10000");
        assert_eq!(get("connect/exit_on_failure"), "true");
        // An error names the file's endpoints.
        let err = file.open_error("timeout".into()).to_string();
        assert!(err.contains("tcp/127.0.0.1:9"), "{err}");
    }

    #[test]
    fn a_bad_endpoint_is_refused_by_name() {
        let err = Config::peer().connect("tcp/no-port").unwrap_err();
        assert!(err.to_string().contains("\"tcp/no-port\""), "{err}");
        let err = Config::peer().listen("carrier-pigeon/coop").unwrap_err();
        assert!(err.to_string().contains("carrier-pigeon"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Config::from_file("/nonexistent/zenoh.json5").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/zenoh.json5"),
            "{err}"
        );
    }

    #[test]
    fn a_file_keeps_its_settings_where_no_flag_overrides_them() {
        let dir = ipclane_testkit::TempDir::new("zenoh-config");
        let path = dir.path().join("z.json5");
        std::fs::write(
            &path,
            r#"{ mode: "client", scouting: { multicast: { enabled: true } } }"#,
        )
        .unwrap();
        let config = Config::from_file(&path).unwrap();
        let zenoh = config.to_zenoh().unwrap();
        assert_eq!(zenoh.get_json("mode").unwrap(), "\"client\"");
        assert_eq!(
            zenoh.get_json("scouting/multicast/enabled").unwrap(),
            "true"
        );
        let zenoh = config.multicast_scouting(false).to_zenoh().unwrap();
        assert_eq!(
            zenoh.get_json("scouting/multicast/enabled").unwrap(),
            "false"
        );
    }
}
