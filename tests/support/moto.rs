//! A moto server for tests that want real HTTP: started on a free loopback port, killed on drop.
//!
//! Needs moto >= 5.2.3 with its server extra (`scripts/install-moto.sh`). When it is missing,
//! [`MotoServer::start`] fails the test if `CI` is set, and otherwise prints a notice and returns
//! `None` so the caller can skip.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The oldest moto that works (5.2.1 is broken for Step Functions).
pub const MIN_VERSION: (u32, u32, u32) = (5, 2, 3);
const STARTUP: Duration = Duration::from_secs(90);

/// moto's own server (`python3 -m moto.server`) handles each request on a thread of its own,
/// and its DynamoDB backend does not lock a conditional write's check and write together: two
/// writers from the same version can then both win, which real DynamoDB never allows. This
/// starts the same application with one request at a time, so a conditional write is atomic
/// as it is on AWS (Step Functions executions still run on moto's own threads).
///
/// It also gives moto's ASL interpreter one JSONPath parser per process: moto parses every
/// path anew and jsonpath-ng builds its LALR table for every parse, which was about 70 % of the
/// server's CPU in a py-spy profile of a release execution. Parsed paths are memoized, the
/// shared parser is used under a lock (executions run on threads), and a parsed path is only
/// read: the tests wait less, and see the same results. A moto without these modules is left
/// as it is.
const SERVER: &str = "
import functools, importlib, os, sys, threading
def shared(parser):
    lock = threading.Lock()
    @functools.lru_cache(maxsize=4096)
    def parse(path):
        with lock:
            return parser.parse(path)
    return parse
for name, parser in (
    ('moto.stepfunctions.parser.asl.utils.json_path', 'jsonpath_ng.ext.parser.ExtendedJsonPathParser'),
    ('moto.stepfunctions.parser.asl.component.common.path.result_path', 'jsonpath_ng.parser.JsonPathParser'),
):
    try:
        module = importlib.import_module(name)
        parser_module, parser_class = parser.rsplit('.', 1)
        module.parse = shared(getattr(importlib.import_module(parser_module), parser_class)())
    except (ImportError, AttributeError):
        pass
from werkzeug.serving import run_simple
from moto.server import DomainDispatcherApplication, create_backend_app, MotoRequestHandler
host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault('MOTO_PORT', str(port))
app = DomainDispatcherApplication(create_backend_app)
run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)
";

/// A running moto server ([`SERVER`]), killed when dropped.
pub struct MotoServer {
    child: Child,
    endpoint: String,
    log: tempfile::NamedTempFile,
}

impl MotoServer {
    /// Starts a server, or returns `None` (after printing why) when moto is not installed and
    /// `CI` is not set. Panics when moto is missing under CI, or when it does not come up.
    pub fn start() -> Option<Self> {
        let python = python();
        if let Err(why) = check_installed(&python) {
            let message =
                format!("{why}: run scripts/install-moto.sh to install moto[server]>=5.2.3");
            if ci() {
                panic!("{message}");
            }
            // Straight to the process's stderr: libtest captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: skipping a moto test (CI is not set): {message}"
            );
            return None;
        }
        let mut last_failure = String::new();
        for _ in 0..3 {
            match Self::spawn(&python) {
                Ok(server) => return Some(server),
                Err(failure) => last_failure = failure,
            }
        }
        panic!("moto server did not start: {last_failure}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn spawn(python: &str) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let log = tempfile::NamedTempFile::new().map_err(|e| format!("no log file: {e}"))?;
        let stdout = log.reopen().map_err(|e| e.to_string())?;
        let stderr = log.reopen().map_err(|e| e.to_string())?;
        let child = Command::new(python)
            .args(["-c", SERVER, "127.0.0.1", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("it exited with {status}:\n{}", server.log_text()));
            }
            if answers(address) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "it did not answer on {address} within {STARTUP:?}:\n{}",
            server.log_text()
        ))
    }

    /// What the server printed so far.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        let _ = File::open(self.log.path()).and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// The body of a plain `GET` (e.g. `/moto-api/data.json`, moto's view of its state).
    pub fn get(&self, path: &str) -> String {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect to moto");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            head.starts_with("HTTP/1.") && head.contains(" 200 "),
            "GET {path}: {head}"
        );
        body.to_owned()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    std::env::var("PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".to_owned())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Ok when moto >= [`MIN_VERSION`] and the server's dependencies import.
fn check_installed(python: &str) -> Result<(), String> {
    let output = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m, flask, flask_cors, moto.server; print(m.version('moto'))",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {python} ({e})"))?;
    if !output.status.success() {
        return Err(format!(
            "moto[server] is not installed for {python} ({})",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("import failed")
        ));
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let parsed: Vec<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .take(3)
        .filter_map(|p| p.parse().ok())
        .collect();
    let found = (
        parsed.first().copied().unwrap_or(0),
        parsed.get(1).copied().unwrap_or(0),
        parsed.get(2).copied().unwrap_or(0),
    );
    if found < MIN_VERSION {
        return Err(format!(
            "moto {version} is installed, but these tests need moto >= {}.{}.{}",
            MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2
        ));
    }
    Ok(())
}

/// A port nobody listens on right now (the OS picks it; the listener is closed at once).
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether an HTTP server answers on `address`.
fn answers(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}
