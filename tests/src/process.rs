//! The real `omkijken-server` binary as a child process: the crash tests and the sync
//! benchmark drive it like an IT admin would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary next to the running test or bench, in the same profile. `cargo test
/// --workspace` builds it; a bench of this package does not, so in release Cargo is asked
/// once per process to bring it up to date (a stale binary would measure old code).
/// `OMKIJKEN_SERVER_BIN` names another binary (to compare two builds).
pub fn server_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        // A given binary (to compare two builds in one benchmark session).
        if let Some(bin) = std::env::var_os("OMKIJKEN_SERVER_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/<test> -> target/<profile>
        let dir = exe.parent().and_then(Path::parent).expect("target dir");
        let bin = dir.join("omkijken-server");
        if bin.exists() && !dir.ends_with("release") {
            return bin;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "omkijken-server",
            "--bin",
            "omkijken-server",
        ]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().is_ok_and(|s| s.success()),
            "building the server binary failed"
        );
        bin
    })
    .clone()
}

/// Run `omkijken-server admin --data DATA ARGS...` and return its stdout.
pub fn admin(data: &Path, args: &[&str]) -> String {
    let out = Command::new(server_bin())
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run the admin command");
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Create `school` and import `roster_csv` with the admin CLI, as an IT admin would.
pub fn set_up_school(data: &Path, school: &str, name: &str, roster_csv: &str) {
    admin(data, &["create-school", "--id", school, "--name", name]);
    let file = data.with_extension("roster.csv");
    std::fs::write(&file, roster_csv).expect("write the roster file");
    let path = file.to_str().expect("utf-8 path");
    admin(data, &["import-roster", "--school", school, path]);
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `omkijken-server serve` running on 127.0.0.1:`port`; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
}

/// Where a started server's output goes: `OMKIJKEN_SERVER_LOG` (appended) or nowhere.
fn log_file() -> Stdio {
    std::env::var_os("OMKIJKEN_SERVER_LOG")
        .and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        })
        .map_or_else(Stdio::null, Stdio::from)
}

impl ServerProcess {
    /// Start it and wait until it accepts connections.
    // The child is waited for in `kill9` or `Drop`.
    #[allow(clippy::zombie_processes)]
    pub fn start(data: &Path, port: u16) -> ServerProcess {
        let child = Command::new(server_bin())
            .args(["serve", "--data"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // `OMKIJKEN_SERVER_LOG=FILE`: the server's log there (appended), to see why a
            // benchmark's connection ended.
            .stdout(log_file())
            .stderr(log_file())
            .spawn()
            .expect("start the server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return ServerProcess { child };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server did not start");
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap it.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
