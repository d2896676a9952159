//! The `omkijken-server` binary: admin commands against the data directory of a running
//! server, and `serve` with a graceful stop on SIGTERM.

use futures_util::{SinkExt, StreamExt};
use omkijken_core::sync::{Frame, PROTOCOL_VERSION};
use omkijken_server::server::{Settings, start};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,m1,Mentor Een,,,,mentor,,g6
pupil,p1,Pupil Een,g6,po_5_8,false,,m1,
";

fn admin(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_omkijken-server"))
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn recv(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Option<Frame> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("answer")
        {
            Some(Ok(Message::Binary(b))) => return Some(Frame::decode(&b).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn admin_commands_take_effect_on_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // A data directory must be private; a temporary one is 0755 under the usual umask.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let h = start(Settings::for_test(data)).await.unwrap();
    // 1. Set up the school and issue a code with the CLI.
    admin(data, &["create-school", "--id", "s1", "--name", "De Linde"]);
    let csv = data.join("roster.csv");
    std::fs::write(&csv, ROSTER).unwrap();
    let out = admin(
        data,
        &["import-roster", "--school", "s1", csv.to_str().unwrap()],
    );
    assert!(out.contains("1 pupils, 1 staff"), "{out}");
    let out = admin(data, &["lease", "--school", "s1", "--days", "7"]);
    assert!(out.contains("7 days; changed: true"), "{out}");
    // A later roster import keeps the school's lease.
    admin(
        data,
        &["import-roster", "--school", "s1", csv.to_str().unwrap()],
    );
    let out = admin(data, &["lease", "--school", "s1", "--days", "7"]);
    assert!(out.contains("changed: false"), "{out}");
    let code = admin(data, &["enroll", "--school", "s1", "--user", "m1"])
        .trim()
        .to_string();
    assert_eq!(code.len(), 14);

    // 2. The running server accepts the code.
    let (mut ws, _) = tokio_tungstenite::connect_async(h.enroll_url())
        .await
        .unwrap();
    let enroll = Frame::Enroll {
        code,
        actor: "11".repeat(16),
        label: "telefoon".into(),
    };
    ws.send(Message::Binary(enroll.encode().into()))
        .await
        .unwrap();
    let Some(Frame::Enrolled { token, device, .. }) = recv(&mut ws).await else {
        panic!("not enrolled");
    };
    let listed = admin(data, &["devices"]);
    assert!(
        listed.contains(&device) && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "tokens are never shown again");

    // 3. A live session is dropped within a second of `admin revoke`.
    let mut req = h.sync_url().into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = Frame::Hello {
        outbox: None,
        epoch: None,
        protocol: PROTOCOL_VERSION,
        cursor: 0,
    };
    ws.send(Message::Binary(hello.encode().into()))
        .await
        .unwrap();
    assert!(matches!(recv(&mut ws).await, Some(Frame::Catalog { .. })));
    let t = Instant::now();
    admin(data, &["revoke", &device]);
    loop {
        match recv(&mut ws).await {
            Some(Frame::Revoked {}) => break,
            Some(_) => {}
            None => panic!("closed without revoked"),
        }
    }
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());

    // 4. The audit trail of the staff member: ids only.
    let json = admin(data, &["audit", "--staff", "m1", "--format", "json"]);
    let actions: Vec<String> = json
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(actions, vec!["code_issued", "enroll", "revoke"]);
    assert!(!json.contains("Mentor Een"));
    let csv = admin(data, &["audit", "--pupil", "p1"]);
    assert!(csv.starts_with("seq,at,school,action"), "{csv}");
    h.shutdown().await.unwrap();
}

#[test]
fn serve_answers_healthz_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_omkijken-server"))
        .args(["serve", "--log-json", "--listen", &addr, "--data"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let body = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            use std::io::{Read, Write};
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut buf = String::new();
            s.read_to_string(&mut buf).unwrap();
            break buf;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "server did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        body.starts_with("HTTP/1.1 200") && body.ends_with("ok"),
        "{body}"
    );
    assert!(data.join("omkijken.db").exists(), "serve creates the store");
    // A fresh server already shows its metrics (at zero).
    let metrics = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        buf
    };
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("omkijken_connected_devices 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("omkijken_acked_changes_total 0"),
        "{metrics}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no graceful stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut logs = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let first = logs.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "JSON logs: {first}"
    );
}

#[tokio::test]
async fn backup_runs_beside_the_server_and_restore_waits_until_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let h = start(Settings::for_test(&data)).await.unwrap();
    admin(
        &data,
        &["create-school", "--id", "s1", "--name", "De Linde"],
    );
    let file = dir.path().join("backup.db");
    let file_arg = file.to_str().unwrap();
    let out = admin(&data, &["backup", "--to", file_arg]);
    assert!(
        out.starts_with("backed up 1 documents"),
        "the roster: {out}"
    );
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_omkijken-server"))
            .arg("admin")
            .arg("--data")
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    // Never over an existing file; never a restore under a running server.
    let again = run(&["backup", "--to", file_arg]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let busy = run(&["restore", "--from", file_arg]);
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("another omkijken-server is running"));
    // Nor a second server on the same directory.
    let second = Command::new(env!("CARGO_BIN_EXE_omkijken-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another omkijken-server is running"));
    h.shutdown().await.unwrap();
    let out = admin(&data, &["restore", "--from", file_arg]);
    assert!(out.contains("restored 1 documents"), "{out}");
    assert!(out.contains("the replaced store is kept as"), "{out}");
    // The restored store serves, with the school it held.
    let h = start(Settings::for_test(&data)).await.unwrap();
    let exists = run(&["create-school", "--id", "s1", "--name", "De Linde"]);
    assert!(!exists.status.success(), "s1 is in the restored store");
    // The audit rows carried over from the replaced store continue its hash chain.
    let verified = admin(&data, &["audit", "verify"]);
    assert!(verified.contains("every link holds"), "{verified}");
    h.shutdown().await.unwrap();
}

/// `admin add-admin` reads the password from the environment (or standard input), never
/// from a flag, stores only its argon2id hash, refuses a short one, and writes the account
/// to the audit log.
#[test]
fn add_admin_stores_an_argon2id_hash_of_a_password_read_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password = "een-lang-wachtwoord-42";
    let run = |pw: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_omkijken-server"))
            .arg("admin")
            .arg("--data")
            .arg(&data)
            .args(["add-admin", "--name", "anna", "--role", "it-admin"])
            .args(extra)
            .env("OMKIJKEN_ADMIN_PASSWORD", pw)
            .output()
            .unwrap()
    };
    let short = run("kort", &[]);
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12"));
    let out = run(password, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("created admin account anna (it_admin)"),
        "{printed}"
    );
    assert!(!printed.contains(password));
    // From standard input, as a second run: the account is updated, not duplicated.
    let mut child = Command::new(env!("CARGO_BIN_EXE_omkijken-server"))
        .arg("admin")
        .arg("--data")
        .arg(&data)
        .args(["add-admin", "--name", "anna", "--role", "privacy-officer"])
        .env_remove("OMKIJKEN_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "nog-een-lang-wachtwoord").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("updated admin account anna (privacy_officer)")
    );
    use omkijken_server::storage::Storage;
    let mut st: Box<dyn Storage> = Settings::new(&data).open_storage().unwrap();
    let accounts = st.admin_accounts().unwrap();
    assert_eq!(accounts.len(), 1);
    assert!(accounts[0].password_hash.starts_with("$argon2id$"));
    assert!(omkijken_server::console::verify_password(
        "nog-een-lang-wachtwoord",
        &accounts[0].password_hash
    ));
    let log = admin(&data, &["audit", "--action", "console", "--format", "json"]);
    assert!(
        log.contains("account_added") && log.contains("account_changed"),
        "{log}"
    );
}
