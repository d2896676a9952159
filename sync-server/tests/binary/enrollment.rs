//! Guessing enrollment codes against the real binary: a burst from one address is
//! answered, then slowed, then refused (429); every failure is logged without the code,
//! counted and audited; an honest device from another address enrolls meanwhile.

use crate::net;

use net::{Served, admin, connect_from, enroll, recv, send};
use omkijken_core::sync::{ErrorCode, Frame};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,m1,Mentor Een,,,,mentor,,g6
pupil,p1,Pupil Een,g6,po_5_8,true,,m1,
";

/// What became of one attempt.
#[derive(Debug, PartialEq)]
enum Outcome {
    Answered(Frame),
    Refused(u16),
}

/// Try to enroll with `code` from the local address `from`.
async fn attempt(addr: SocketAddr, from: IpAddr, code: &str, n: u8) -> Outcome {
    let tcp = connect_from(addr, Some(from)).unwrap();
    tcp.set_nonblocking(true).unwrap();
    let tcp = tokio::net::TcpStream::from_std(tcp).unwrap();
    let url = format!("ws://{addr}/v1/enroll");
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    match tokio_tungstenite::client_async(url, tcp).await {
        Ok((mut ws, _)) => {
            send(
                &mut ws,
                &Frame::Enroll {
                    code: code.into(),
                    actor: hex_actor(n),
                    label: "gok".into(),
                },
            )
            .await;
            Outcome::Answered(recv(&mut ws).await.expect("an answer"))
        }
        Err(tungstenite::Error::Http(resp)) => Outcome::Refused(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

fn hex_actor(n: u8) -> String {
    automerge::ActorId::from([n; 16].as_slice()).to_hex_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessed_codes_are_slowed_refused_counted_and_audited_without_the_code() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    admin(
        &data,
        &["create-school", "--id", "s1", "--name", "De Linde"],
    );
    let csv = data.with_extension("csv");
    std::fs::write(&csv, ROSTER).unwrap();
    admin(
        &data,
        &["import-roster", "--school", "s1", csv.to_str().unwrap()],
    );
    let code = admin(&data, &["enroll", "--school", "s1", "--user", "m1"]);
    let s = Served::start(&data, &tmp.path().join("serve.log"), &[]);

    // 1. 45 wrong codes from 127.0.0.2, one after the other (defaults: 30 attempts a
    //    minute per address, a failure costs three).
    let attacker = IpAddr::from([127, 0, 0, 2]);
    let t = Instant::now();
    let mut answered = 0;
    let mut refused = 0;
    for i in 0..45 {
        match attempt(s.addr, attacker, &format!("GEHEIM-GOK-{i:04}"), 2).await {
            Outcome::Answered(Frame::Error { code, .. }) => {
                assert_eq!(code, ErrorCode::BadEnrollmentCode);
                answered += 1;
            }
            Outcome::Refused(status) => {
                assert_eq!(status, 429);
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    let took = t.elapsed();
    println!("45 guesses: {answered} answered, {refused} refused (429), in {took:?}");
    // Ten at once, the eleventh after waiting for its turn (about 2 s), the rest refused
    // (a slow machine may earn back a token or two meanwhile).
    assert!((11..=13).contains(&answered), "answered {answered}");
    assert_eq!(refused, 45 - answered);
    assert!(took >= Duration::from_millis(1500), "not slowed: {took:?}");

    // 2. Meanwhile an honest device from 127.0.0.1 enrolls at once.
    let t = Instant::now();
    let dev = enroll(&format!("ws://{}/v1/enroll", s.addr), code.trim(), "m1", 1).await;
    assert!(!dev.token.is_empty());
    // Not throttled: an honest address is neither refused nor made to wait its turn (which
    // takes seconds per guess above); the bound is loose for a busy machine.
    println!("the honest device enrolled in {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // 3. Counted in /metrics.
    assert_eq!(
        s.metric("omkijken_enroll_failures_total{reason=\"bad_code\"}"),
        answered as f64
    );
    assert_eq!(s.metric("omkijken_enroll_throttled_total"), refused as f64);
    assert!(s.metric("omkijken_enroll_slowed_total") >= 1.0);

    // 4. In the audit log, one row per failure, without the code; in the log, with the
    //    address and without the code.
    let audit = admin(
        &data,
        &["audit", "--action", "enroll_failed", "--format", "json"],
    );
    let rows: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), answered, "{audit}");
    assert!(rows.iter().all(|r| r["kind"] == "bad_code"), "{audit}");
    let log = s.log_text();
    assert_eq!(
        log.matches("enrollment attempt failed").count(),
        answered,
        "{log}"
    );
    assert!(log.contains("127.0.0.2"));
    for text in [&audit, &log] {
        assert!(!text.contains("GEHEIM-GOK"), "a code was written down");
    }
    assert!(!log.contains(code.trim()));
    s.stop();
}
