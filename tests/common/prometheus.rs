//! A real Prometheus server for the observed-health tests: the Debian package's binary, made available by
//! `tests/prometheus/ensure.sh` (installed with apt-get when missing), started with a test's own
//! configuration on a free loopback port with its storage in a temp dir, and killed when dropped. Also
//! the two endpoints it scrapes: one that answers `/metrics`, one that accepts connections and never
//! answers.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

static BIN: OnceLock<PathBuf> = OnceLock::new();

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `prometheus` binary, from `tests/prometheus/ensure.sh` (run once per test binary).
pub fn binary() -> &'static Path {
    BIN.get_or_init(|| {
        let script = repo_root().join("tests/prometheus/ensure.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            panic!(
                "{} failed ({}): a real Prometheus is needed for the observed-health tests; see its message above",
                script.display(),
                out.status
            );
        }
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("PROMETHEUS_BIN="))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{} printed no PROMETHEUS_BIN= line: {stdout}", script.display()))
    })
}

/// A port on 127.0.0.1 that nothing listens on for as long as the returned listener-less port is not
/// bound again: only for addresses a test names but never serves (a pod port nobody answers on).
pub fn unserved_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Numbers the data directories of the Prometheus processes of one test binary.
static INSTANCE: AtomicUsize = AtomicUsize::new(0);

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with `config` (prometheus.yml) and waits until it is ready. Blocking.
    pub fn start(config: &str) -> Prometheus {
        let bin = binary();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "prometheus-{}-{}",
            std::process::id(),
            INSTANCE.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            // Port 0: Prometheus binds and logs the port it got ("Listening on" address=...), so no
            // port is chosen here and bound later by someone else.
            .arg("--web.listen-address=127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut p = Prometheus {
            child,
            url: String::new(),
            dir,
        };
        let start = Instant::now();
        let port = loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!(
                    "Prometheus exited ({status}) before it listened:\n{}",
                    p.log()
                );
            }
            let text = std::fs::read_to_string(p.dir.join("prometheus.log")).unwrap_or_default();
            let port = text
                .lines()
                .filter(|l| l.contains("msg=\"Listening on\""))
                .find_map(|l| {
                    l.split("address=")
                        .nth(1)?
                        .split_whitespace()
                        .next()?
                        .rsplit(':')
                        .next()?
                        .parse::<u16>()
                        .ok()
                })
                .filter(|&port| port != 0);
            if let Some(port) = port {
                break port;
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "Prometheus logged no listening address after 60 s:\n{}",
                    p.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        p.url = format!("http://127.0.0.1:{port}");
        loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!(
                    "Prometheus exited ({status}) before it was ready:\n{}",
                    p.log()
                );
            }
            if get(port, "/-/ready")
                .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
            {
                return p;
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!("Prometheus not ready after 60 s:\n{}", p.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Its log, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The body of `GET path` (blocking; `None` when it does not answer).
    pub fn get(&self, path: &str) -> Option<String> {
        let port: u16 = self.url.rsplit(':').next()?.parse().ok()?;
        let resp = get(port, path)?;
        resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw HTTP/1.0 GET on loopback (the response, headers included).
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A loopback endpoint served by a thread of its own; dropping it closes the listener and every
/// connection it holds.
pub struct Endpoint {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Endpoint {
    fn serve(handle: impl Fn(TcpStream, &mut Vec<TcpStream>) + Send + 'static) -> Endpoint {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn {
                    handle(conn, &mut held);
                }
            }
        });
        Endpoint {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An endpoint on 127.0.0.1 that answers every request with valid exposition text.
pub fn metrics_endpoint() -> Endpoint {
    Endpoint::serve(|mut conn, _| {
        std::thread::spawn(move || {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            // Read the request head, then answer and close.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = "# HELP demo_requests_total Requests served.\n# TYPE demo_requests_total counter\ndemo_requests_total 7\n";
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes());
        });
    })
}

/// An endpoint on 127.0.0.1 that accepts connections and never answers (what a scrape through a
/// black-holing path, or to a stuck process, looks like). Holds at most 256 connections.
pub fn silent_endpoint() -> Endpoint {
    Endpoint::serve(|conn, held| {
        if held.len() >= 256 {
            held.remove(0);
        }
        held.push(conn);
    })
}
