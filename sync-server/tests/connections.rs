//! Hostile connections against the real binary: idle sockets, a half-sent header, more
//! sockets than the process has descriptors. Meanwhile `/healthz`, `/readyz` and an honest
//! device (enroll, sync, push, ack) are served. Attackers connect from other loopback
//! addresses (127.0.0.2 and up), the honest device and the probes from 127.0.0.1.
//!
//! Kept a binary of its own: it holds 1,100 sockets open from this process, which must not
//! compete with other tests for the process's descriptors.

mod common;
mod net;

use common::{NOW, signal_header, signal_record};
use futures_util::StreamExt;
use net::{Served, admin, connect_from, enroll, get, push_acked, session};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,m1,Mentor Een,,,,mentor,,g6
pupil,p1,Pupil Een,g6,po_5_8,true,,m1,
";

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn set_up(data: &Path) -> String {
    admin(data, &["create-school", "--id", "s1", "--name", "De Linde"]);
    let csv = data.with_extension("csv");
    std::fs::write(&csv, ROSTER).unwrap();
    admin(
        data,
        &["import-roster", "--school", "s1", csv.to_str().unwrap()],
    );
    admin(data, &["enroll", "--school", "s1", "--user", "m1"])
        .trim()
        .to_string()
}

/// `/healthz` and `/readyz` answer 200 while the attack holds its sockets. The bound is
/// liveness, not speed (a starved probe never answers; a busy CI machine answers late):
/// the time it took is printed.
fn probes_answer(s: &Served) {
    for path in ["/healthz", "/readyz"] {
        let t = Instant::now();
        let answer = get(s.addr, None, path).unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer:?}");
        println!("{path} answered in {:?}", t.elapsed());
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{path} took {:?}",
            t.elapsed()
        );
    }
}

/// An honest device enrolls, catches up, pushes a signal and gets its ack.
async fn honest_device(s: &Served, code: &str) -> net::Device {
    let t = Instant::now();
    let dev = enroll(&s.enroll_url(), code, "m1", 1).await;
    let mut ws = session(&s.sync_url(), &dev).await;
    let d = doc::create(
        dev.actor.clone(),
        NOW,
        &signal_header("m1", "p1"),
        &signal_record(1, "welbevinden", "viel stil in de pauze"),
    )
    .unwrap();
    push_acked(&mut ws, DocumentId::random(), d.save()).await;
    println!("the honest device was served in {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the device took {:?}",
        t.elapsed()
    );
    dev
}

/// Open `n` connections from `from` that send nothing.
fn idle_sockets(s: &Served, from: IpAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| connect_from(s.addr, Some(from)).expect("connect"))
        .collect()
}

/// Whether the server closed `sock` (EOF or reset) within `within`; what it said first.
fn closed_within(sock: &mut TcpStream, within: Duration) -> (bool, String) {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match sock.read(&mut chunk) {
            Ok(0) => return (true, String::from_utf8_lossy(&buf).into_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (false, String::from_utf8_lossy(&buf).into_owned());
            }
            Err(_) => return (true, String::from_utf8_lossy(&buf).into_owned()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_and_a_half_sent_header_stop_neither_probes_nor_an_honest_device() {
    omkijken_server::secure::raise_open_files_limit();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = Served::start(
        &data,
        &tmp.path().join("serve.log"),
        &[
            "--max-connections",
            "200",
            "--max-connections-per-address",
            "100",
            "--header-timeout",
            "3s",
            "--idle-timeout",
            "3s",
            "--hello-timeout",
            "1s",
        ],
    );
    let code = set_up(&data);

    // 1. One address opens 150 idle sockets: 100 are let in, the rest answered 503 at
    //    once, saying why.
    let mut a = idle_sockets(&s, ip(2), 150);
    let (closed, said) = closed_within(a.last_mut().unwrap(), Duration::from_secs(2));
    assert!(closed, "refused at once");
    assert!(
        said.starts_with("HTTP/1.1 503") && said.contains("too many connections from this address"),
        "{said}"
    );
    assert!(
        said.to_ascii_lowercase().contains("retry-after: 10"),
        "{said}"
    );

    // 2. A half-sent request head from another address.
    let mut half = connect_from(s.addr, Some(ip(3))).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let half_sent = Instant::now();

    // 3. Meanwhile the probes answer at once and an honest device syncs.
    probes_answer(&s);
    let dev = honest_device(&s, &code).await;
    probes_answer(&s);

    // 4. The half-sent head, and every idle socket, is cut off after the header timeout
    //    (3 s), not held; it shows in the metrics.
    let (closed, said) = closed_within(&mut half, Duration::from_secs(5));
    assert!(closed, "the half-sent head was not closed");
    assert!(!said.contains("200 OK"), "{said}");
    let held = half_sent.elapsed();
    assert!(held < Duration::from_secs(5), "held {held:?}");
    for sock in a.iter_mut().take(100) {
        let (closed, _) = closed_within(sock, Duration::from_secs(3));
        assert!(closed, "an idle socket stayed open");
    }
    let refused = s.metric("omkijken_connections_refused_total{reason=\"per_address\"}");
    assert_eq!(refused, 50.0);
    let timed_out = s.metric("omkijken_connections_closed_total{reason=\"header_timeout\"}");
    assert!(timed_out >= 101.0, "header timeouts {timed_out}");

    // 5. Four more addresses open 400 idle sockets, past the total cap of 200: the oldest
    //    are closed to make room for the newer, the probes and the device, which get in.
    let b: Vec<TcpStream> = (4..8).flat_map(|n| idle_sockets(&s, ip(n), 100)).collect();
    probes_answer(&s);
    let mut ws = session(&s.sync_url(), &dev).await;
    let d = doc::create(
        dev.actor.clone(),
        NOW,
        &signal_header("m1", "p1"),
        &signal_record(1, "welbevinden", "at niet"),
    )
    .unwrap();
    push_acked(&mut ws, DocumentId::random(), d.save()).await;
    drop(ws);
    let evicted = s.metric("omkijken_connections_closed_total{reason=\"evicted\"}");
    assert!(
        evicted >= 150.0,
        "evicted {evicted}: {}",
        net::get(s.addr, None, "/metrics").unwrap_or_default()
    );
    drop(b);

    // 8. A device that upgrades and then says nothing is closed after the hello timeout.
    let mut req = s.sync_url().into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", dev.token).parse().unwrap(),
    );
    let (mut mute, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let t = Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match mute.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "a mute session was kept");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert!(s.metric("omkijken_connections_closed_total{reason=\"hello_timeout\"}") >= 1.0);

    let t = Instant::now();
    while s.metric("omkijken_open_connections") > 1.0 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "connections left open"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "refused per address: {refused}, closed at the header timeout: {timed_out}, evicted to make room: {evicted}"
    );
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_sockets_than_descriptors_do_not_stop_the_server() {
    omkijken_server::secure::raise_open_files_limit();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let code = set_up(&data);
    // The numbers: the usual limit of 1,024 descriptors (soft and hard), 1,100
    // sockets that send nothing, from 11 addresses.
    let s = Served::start_limited(&data, &tmp.path().join("serve.log"), &[], Some(1024));
    let started = s.log_text();
    assert!(started.contains("max_connections=896"), "{started}");

    let held: Vec<TcpStream> = (2..13).flat_map(|n| idle_sockets(&s, ip(n), 100)).collect();
    assert_eq!(held.len(), 1100);
    probes_answer(&s);
    honest_device(&s, &code).await;
    probes_answer(&s);
    let open = s.metric("omkijken_open_connections");
    assert!(open <= 896.0, "open {open}");
    let no_fds = s.metric("omkijken_accept_errors_total{kind=\"no_descriptors\"}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let peak_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    println!(
        "open connections while attacked: {open}; accept errors for want of descriptors: \
         {no_fds}; peak server memory {:.1} MiB",
        peak_kib / 1024.0
    );
    assert!(peak_kib < 200.0 * 1024.0, "peak {peak_kib} KiB");
    drop(held);
    s.stop();
}
