//! The real server binary as a child process, and a device and plain HTTP spoken to it over
//! the network (tests of hostile connections and secure defaults).
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use omkijken_core::sync::{Frame, PROTOCOL_VERSION};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_omkijken-server")
}

/// `omkijken-server admin --data DATA ARGS...`: stdout, or panic with stderr.
pub fn admin(data: &Path, args: &[&str]) -> String {
    let out = admin_output(data, args);
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `omkijken-server admin --data DATA ARGS...` as it ran.
pub fn admin_output(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("OMKIJKEN_DB_KEY")
        .output()
        .unwrap()
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `omkijken-server serve` on 127.0.0.1 (all of 127.0.0.0/8 reaches it), its log captured
/// to a file; killed when dropped.
#[derive(Debug)]
pub struct Served {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Served {
    /// Start `serve --data DATA --listen 127.0.0.1:PORT EXTRA...` and wait for /healthz.
    pub fn start(data: &Path, log: &Path, extra: &[&str]) -> Served {
        Self::start_limited(data, log, extra, None)
    }

    /// [`Served::start`] with the open-files limit (soft and hard) set to `fd_limit`.
    pub fn start_limited(data: &Path, log: &Path, extra: &[&str], fd_limit: Option<u32>) -> Served {
        let port = free_port();
        let mut cmd = match fd_limit {
            None => Command::new(bin()),
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin());
                c
            }
        };
        let child = cmd
            .args(["serve", "--data"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env_remove("OMKIJKEN_DB_KEY")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(std::fs::File::create(log).unwrap()))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(log).unwrap(),
            ))
            .spawn()
            .unwrap();
        let s = Served {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log: log.to_path_buf(),
        };
        let t = Instant::now();
        while get(s.addr, None, "/healthz").is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "server did not come up: {}",
                s.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait for the exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(15), "no graceful stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn sync_url(&self) -> String {
        format!("ws://{}/v1/sync", self.addr)
    }

    pub fn enroll_url(&self) -> String {
        format!("ws://{}/v1/enroll", self.addr)
    }

    /// The value of a Prometheus series (labels included in `series`), 0 if absent.
    pub fn metric(&self, series: &str) -> f64 {
        let text = get(self.addr, None, "/metrics").expect("metrics");
        metric_in(&text, series)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `series` in a Prometheus text, 0 if absent.
pub fn metric_in(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// A TCP connection to `addr` from the local address `from` (any of 127.0.0.0/8), 5 s at
/// most to connect.
pub fn connect_from(addr: SocketAddr, from: Option<IpAddr>) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if let Some(ip) = from {
        sock.bind(&SocketAddr::new(ip, 0).into())?;
    }
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))?;
    Ok(sock.into())
}

/// `GET path` over a new connection from `from`; the whole response (status line,
/// headers, body), or None when the connection failed or gave no answer in 5 s.
pub fn get(addr: SocketAddr, from: Option<IpAddr>, path: &str) -> Option<String> {
    let mut s = connect_from(addr, from).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned())
}

pub async fn send(ws: &mut Ws, f: &Frame) {
    ws.send(Message::Binary(f.encode().into())).await.unwrap();
}

/// The next frame (10 s at most), or None when the server closed.
pub async fn recv(ws: &mut Ws) -> Option<Frame> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no answer within 10 s");
        match msg {
            Some(Ok(Message::Binary(b))) => return Some(Frame::decode(&b).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// An enrolled device: its token and actor.
#[derive(Debug, Clone)]
pub struct Device {
    pub token: String,
    pub device: String,
    pub actor: automerge::ActorId,
    pub user: String,
}

/// Enroll with `code` as actor `[n; 16]`.
pub async fn enroll(enroll_url: &str, code: &str, user: &str, n: u8) -> Device {
    let (mut ws, _) = tokio_tungstenite::connect_async(enroll_url).await.unwrap();
    let actor = automerge::ActorId::from([n; 16].as_slice());
    send(
        &mut ws,
        &Frame::Enroll {
            code: code.into(),
            actor: actor.to_hex_string(),
            label: "telefoon".into(),
        },
    )
    .await;
    match recv(&mut ws).await {
        Some(Frame::Enrolled { token, device, .. }) => Device {
            token,
            device,
            actor,
            user: user.into(),
        },
        other => panic!("enrollment failed: {other:?}"),
    }
}

/// Open `/v1/sync` with the device's token and catch up from 0 (the catalog read).
pub async fn session(sync_url: &str, dev: &Device) -> Ws {
    let mut req = sync_url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", dev.token).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    send(
        &mut ws,
        &Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
        },
    )
    .await;
    loop {
        match recv(&mut ws).await {
            Some(Frame::Catalog { complete: true, .. }) => return ws,
            Some(Frame::Catalog { .. }) => {}
            other => panic!("expected the catalog, got {other:?}"),
        }
    }
}

/// Push one document and wait for its acknowledgement.
pub async fn push_acked(ws: &mut Ws, id: omkijken_core::DocumentId, data: Vec<u8>) {
    send(
        ws,
        &Frame::Push {
            docs: vec![omkijken_core::sync::DocChanges::new(id, data)],
        },
    )
    .await;
    loop {
        match recv(ws).await {
            Some(Frame::Ack { docs }) if docs.iter().any(|a| a.document_id == id) => return,
            Some(Frame::Refused { docs }) => panic!("refused: {docs:?}"),
            Some(_) => {}
            None => panic!("closed before the ack"),
        }
    }
}
