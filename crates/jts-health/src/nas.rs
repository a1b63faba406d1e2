//! NAS reachability: a TCP connect to the NFS server's port (2049), no ICMP.
//!
//! The connect runs on a short-lived thread of its own (name resolution included) with
//! `TcpStream::connect_timeout`, so it ends by itself within the timeout plus the
//! resolver's own limits; the check waits for it only until its deadline.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The NFS port.
pub const NFS_PORT: u16 = 2049;

/// The server to reach, and on which port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NasTarget {
    /// Host name or address (without brackets for IPv6).
    pub host: String,
    /// TCP port, [`NFS_PORT`] unless told otherwise.
    pub port: u16,
}

impl NasTarget {
    /// The server of an NFS source `host:/export` (or `[v6addr]:/export`) on port 2049;
    /// `None` when the source names no host.
    pub fn from_nfs_source(source: &str) -> Option<Self> {
        let host = match source.strip_prefix('[') {
            Some(rest) => rest.split_once(']')?.0,
            None => source.split_once(':')?.0,
        };
        (!host.is_empty()).then(|| Self { host: host.to_owned(), port: NFS_PORT })
    }

    /// `host:port` for messages (`[v6]:port` for an IPv6 address).
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What the connect found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasResult {
    /// The server.
    pub host: String,
    /// The port connected to.
    pub port: u16,
    /// Whether a TCP connection was established within the timeout.
    pub reachable: bool,
    /// How long the connect (or the wait for it) took.
    pub connect_seconds: f64,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// A connect in flight.
pub(crate) struct PendingConnect {
    target: NasTarget,
    answer: Receiver<Result<(), String>>,
    start: Instant,
}

/// Starts connecting to `target`, giving up at `deadline`.
pub(crate) fn start_connect(target: &NasTarget, deadline: Instant) -> PendingConnect {
    let (send, answer) = mpsc::sync_channel(1);
    let theirs = target.clone();
    let start = Instant::now();
    let spawned = std::thread::Builder::new().name(format!("jts-health nas {}", target.host)).spawn(move || {
        let _ = send.send(connect(&theirs, deadline));
    });
    if let Err(err) = spawned {
        let (send, answer) = mpsc::sync_channel(1);
        let _ = send.send(Err(format!("could not start a thread: {err}")));
        return PendingConnect { target: target.clone(), answer, start };
    }
    PendingConnect { target: target.clone(), answer, start }
}

fn connect(target: &NasTarget, deadline: Instant) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|err| format!("cannot resolve {}: {err}", target.host))?
            .collect(),
    };
    let mut last = format!("{} resolves to no address", target.host);
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no answer within the timeout".to_owned());
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(_) => return Ok(()),
            Err(err) => last = format!("{addr}: {err}"),
        }
    }
    Err(last)
}

impl PendingConnect {
    /// Waits until `deadline` for the connect.
    pub(crate) fn wait(self, deadline: Instant) -> NasResult {
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = self.answer.recv_timeout(left).unwrap_or_else(|_| Err("no answer within the timeout".to_owned()));
        NasResult {
            host: self.target.host,
            port: self.target.port,
            reachable: answer.is_ok(),
            connect_seconds: self.start.elapsed().as_secs_f64(),
            error: answer.err(),
        }
    }
}

/// Connects to `target` within `timeout`; what [`crate::check()`] does for each NFS mount.
pub fn probe_nas(target: &NasTarget, timeout: Duration) -> NasResult {
    let deadline = Instant::now() + timeout;
    start_connect(target, deadline).wait(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_of_an_nfs_source() {
        let t = NasTarget::from_nfs_source("nas.internal:/volume1/jts").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("nas.internal", 2049));
        let v6 = NasTarget::from_nfs_source("[fd00::1]:/export").unwrap();
        assert_eq!((v6.host.as_str(), v6.display()), ("fd00::1", "[fd00::1]:2049".to_owned()));
        assert_eq!(NasTarget::from_nfs_source("/local"), None);
        assert_eq!(NasTarget::from_nfs_source(":/x"), None);
    }

    #[test]
    fn loopback_listener_is_reachable_and_a_closed_port_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = probe_nas(&NasTarget { host: "127.0.0.1".into(), port }, Duration::from_secs(5));
        assert!(open.reachable, "{open:?}");
        drop(listener);
        let closed = probe_nas(&NasTarget { host: "127.0.0.1".into(), port }, Duration::from_secs(5));
        assert!(!closed.reachable && closed.error.is_some(), "{closed:?}");
    }
}
