//! `/v1/automerge-repo`: an automerge-repo peer with a device token reads what its user may
//! read, gets `doc-unavailable` alike for a document it may not read and one that does not
//! exist, writes a signal that a native device receives, is refused like a native device
//! (rules, actors), gets others' changes live, and is audited like one. The peer here is
//! the small Rust one of `omkijken_tests::repo_peer`; scripts/automerge-repo-interop.sh runs
//! the real JavaScript automerge-repo (and samod) against the same endpoint.

use anyhow::{Context, Result};
use automerge::ActorId;
use automerge::sync;
use omkijken_core::doc;
use omkijken_core::model::{FollowUp, FollowUpKind, Signal};
use omkijken_core::transport::SETTING_TOKEN;
use omkijken_core::{DocumentId, Store};
use omkijken_server::storage::{AuditAction, AuditFilter};
use omkijken_tests::repo_peer::{self, Outcome, RepoPeer};
use omkijken_tests::{COORDINATOR, Device, MENTOR, OTHER_PUPIL, PUPIL, PUPIL_IN_CARE};
use omkijken_tests::{TEACHER, TestServer};

fn token_of(store: &Store) -> String {
    store.setting(SETTING_TOKEN).unwrap().expect("enrolled")
}

async fn device_id(server: &TestServer, label: &str) -> Result<String> {
    let devices = server.handle.admin().devices().await?;
    Ok(devices
        .into_iter()
        .find(|d| d.label == label)
        .map(|d| d.id)
        .expect("enrolled"))
}

async fn audited(
    server: &TestServer,
    action: AuditAction,
    device: &str,
    doc: DocumentId,
) -> Result<usize> {
    let rows = server.handle.admin().audit(AuditFilter::All).await?;
    Ok(rows
        .iter()
        .filter(|r| {
            r.action == action && r.document == Some(doc) && r.device.as_deref() == Some(device)
        })
        .count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automerge_repo_peer_reads_writes_and_is_refused_like_a_device() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("server"), None).await?;
    server.set_up_school().await?;

    // 1. The teacher records two signals: about a pupil of the mentor, and about a pupil
    //    of another mentor.
    let teacher = Device::enroll(&server, dir.path(), TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    let mine =
        omkijken_tests::repo_peer::record_signal(&teacher, PUPIL, "Noor viel van het klimrek")?;
    let other = omkijken_tests::repo_peer::record_signal(&teacher, OTHER_PUPIL, "Daan zat alleen")?;
    teacher.sync().await?;

    // 2. The mentor's native phone reads the first and not the second: the oracle for what
    //    the mentor's automerge-repo app must see.
    let phone = Device::enroll(&server, dir.path(), MENTOR, "mentor phone").await?;
    phone.sync().await?;
    let held = phone.held()?;
    assert!(held.contains(&mine) && !held.contains(&other));

    // 3. The mentor's automerge-repo app, a device of her own, finds the first signal by
    //    its automerge-repo id and reads it word for word.
    let app = Device::enroll(&server, dir.path(), MENTOR, "mentor repo app").await?;
    let app_device = device_id(&server, "mentor repo app").await?;
    let actor = app.store.actor().clone();
    let mut peer = RepoPeer::connect(&server, &token_of(&app.store)).await?;
    let (found, _) = peer.find(&mine.to_automerge_repo()).await?;
    let (read, _) = found.expect("the mentor reads her pupil's signal");
    let s: Signal = doc::record(mine, &read)?;
    assert_eq!(s.facts, "Noor viel van het klimrek");
    assert_eq!(doc::header(mine, &read)?.author, TEACHER);
    assert!(audited(&server, AuditAction::Deliver, &app_device, mine).await? >= 1);

    // 4. The other pupil's signal is unavailable, exactly as an id nobody ever used.
    let (none, forbidden) = peer.find(&other.to_automerge_repo()).await?;
    assert!(none.is_none());
    let (none, unknown) = peer.find(&DocumentId::random().to_automerge_repo()).await?;
    assert!(none.is_none());
    assert_eq!(forbidden.kind(), "doc-unavailable");
    assert_eq!(forbidden.without_id(), unknown.without_id());
    assert_eq!(
        audited(&server, AuditAction::Deliver, &app_device, other).await?,
        0
    );

    // 5. The app writes a signal about a pupil in care (a new document with its device's
    //    actor and an automerge-repo id); the care coordinator's native tablet receives it.
    let created = DocumentId::random();
    let facts = "Sam vertelde dat hij niet meer naar huis wil 😟";
    let mut signal = repo_peer::new_signal(&actor, MENTOR, PUPIL_IN_CARE, facts);
    let mut state = sync::State::new();
    let outcome = peer
        .sync_until_taken(&created.to_automerge_repo(), &mut signal, &mut state)
        .await?;
    assert_eq!(outcome, Outcome::Taken);
    let tablet = Device::enroll(&server, dir.path(), COORDINATOR, "coordinator tablet").await?;
    tablet.sync().await?;
    let received = tablet
        .store
        .signal(created)
        .context("the coordinator's tablet holds the app's signal")?;
    assert_eq!(received.facts, facts);
    assert!(audited(&server, AuditAction::Write, &app_device, created).await? == 1);

    // 6. The coordinator answers the signaller on her tablet; the app, still syncing the
    //    signal, gets the change live.
    tablet.store.append_follow_up(
        created,
        FollowUpKind::ToSignaller,
        "Dank je, ik bel vandaag met Sam.",
    )?;
    tablet.sync().await?;
    let mut live: Signal = doc::record(created, &signal)?;
    while live.follow_ups.is_empty() {
        peer.receive_change(&created.to_automerge_repo(), &mut signal, &mut state)
            .await?;
        live = doc::record(created, &signal)?;
    }
    assert_eq!(live.follow_ups[0].author, COORDINATOR);
    assert_eq!(live.follow_ups[0].text, "Dank je, ik bel vandaag met Sam.");
    assert_eq!(live.facts, facts);

    // 7. What the rules refuse a native device they refuse the app: a follow-up on
    //    another's signal (`forbidden`: notes go elsewhere) ...
    let (found, _) = peer.find(&mine.to_automerge_repo()).await?;
    let (mut theirs, mut their_state) = found.expect("still readable");
    doc::update(
        mine,
        &mut theirs,
        &actor,
        repo_peer::now_ms(),
        |r: &mut Signal| {
            r.follow_ups.push(FollowUp {
                id: DocumentId::random().to_string(),
                author: MENTOR.into(),
                at: repo_peer::now_ms(),
                kind: FollowUpKind::FollowUp.as_str().into(),
                text: "Opgepakt door de mentor.".into(),
            });
            Ok(())
        },
    )?;
    let outcome = peer
        .sync_until_taken(&mine.to_automerge_repo(), &mut theirs, &mut their_state)
        .await?;
    assert_eq!(outcome, Outcome::Unavailable);
    assert!(audited(&server, AuditAction::Refuse, &app_device, mine).await? >= 1);
    teacher.sync().await?;
    assert!(teacher.store.signal(mine)?.follow_ups.is_empty());

    // ... and a document written with an actor that is not the device's (a forgery).
    let forged_id = DocumentId::random();
    let mut forged = repo_peer::new_signal(&ActorId::random(), MENTOR, PUPIL, "vervalst");
    let outcome = peer
        .sync_until_taken(
            &forged_id.to_automerge_repo(),
            &mut forged,
            &mut sync::State::new(),
        )
        .await?;
    assert_eq!(outcome, Outcome::Unavailable);
    phone.sync().await?;
    assert!(!phone.held()?.contains(&forged_id));
    assert!(phone.held()?.contains(&created));

    // 8. The pupil's file is erased: the app, still syncing the signal, is told it is
    //    unavailable (as a native device is told to purge it).
    server
        .handle
        .admin()
        .erase_pupil(omkijken_tests::SCHOOL, PUPIL_IN_CARE)
        .await?;
    loop {
        let m = peer.next_for(&created.to_automerge_repo()).await?;
        if m.kind() == "doc-unavailable" {
            break;
        }
        assert_eq!(m.kind(), "sync", "{m:?}");
    }
    let (none, _) = peer.find(&created.to_automerge_repo()).await?;
    assert!(none.is_none(), "an erased document is unavailable");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_takes_only_device_tokens_and_survives_bad_peers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("server"), None).await?;
    server.set_up_school().await?;
    let app = Device::enroll(&server, dir.path(), MENTOR, "mentor repo app").await?;
    let token = token_of(&app.store);

    // 1. No token, an unknown token: 401 before the upgrade.
    assert_eq!(repo_peer::open(&server, None).await.err(), Some(401));
    assert_eq!(
        repo_peer::open(&server, Some("Bearer 1111111111111111111111111111"))
            .await
            .err(),
        Some(401)
    );
    // 2. The token as the password of Basic (what URL credentials become) is taken.
    let basic = format!("device:{token}");
    let encoded = base64(basic.as_bytes());
    assert!(
        repo_peer::open(&server, Some(&format!("Basic {encoded}")))
            .await
            .is_ok()
    );

    // 3. A message before `join`, and bytes that are no CBOR, end that session with an
    //    `error` message; the server goes on serving.
    let mut peer = RepoPeer::connect(&server, &token).await?;
    peer.send_raw(b"\xa1\x64type\x64sync\xff\xff".to_vec())
        .await?;
    let m = peer.next_any().await?;
    assert_eq!(m.kind(), "error");
    assert!(peer.next_any().await.is_err(), "closed after the error");

    let ws = repo_peer::open(&server, Some(&format!("Bearer {token}"))).await;
    let mut ws = ws.map_err(|s| anyhow::anyhow!("HTTP {s}"))?;
    {
        use futures_util::{SinkExt, StreamExt};
        let early = repo_peer::encode(vec![
            ("type", "request".into()),
            (
                "documentId",
                DocumentId::random().to_automerge_repo().into(),
            ),
            ("data", ciborium::Value::Bytes(vec![0x42])),
        ]);
        ws.send(tokio_tungstenite::tungstenite::Message::binary(early))
            .await?;
        let reply = ws.next().await.expect("an answer")?;
        let v: ciborium::Value = ciborium::from_reader(&reply.into_data()[..])?;
        let text = format!("{v:?}");
        assert!(text.contains("error") && text.contains("join"), "{text}");
    }

    // 4. A sync message that is no Automerge sync message: unavailable (refused as
    //    malformed), and the session goes on.
    let mut peer = RepoPeer::connect(&server, &token).await?;
    let id = DocumentId::random().to_automerge_repo();
    peer.send_doc("sync", &id, vec![1, 2, 3]).await?;
    assert_eq!(peer.next_for(&id).await?.kind(), "doc-unavailable");
    // Our own id form (no checksum) names no automerge-repo document.
    let ours = DocumentId::random().to_string();
    let (none, m) = peer.find(&ours).await?;
    assert!(none.is_none());
    assert_eq!(m.kind(), "doc-unavailable");
    // Ephemeral messages are ignored.
    peer.send_raw(repo_peer::encode(vec![
        ("type", "ephemeral".into()),
        ("senderId", peer.peer_id.clone().into()),
        ("documentId", id.clone().into()),
        ("count", 1.into()),
        ("data", ciborium::Value::Bytes(vec![0xa0])),
    ]))
    .await?;
    let (none, _) = peer.find(&id).await?;
    assert!(none.is_none(), "the session still answers");

    // Too large: `data` over 4 MiB ends the session with an `error` message in
    // automerge-repo's form. A message over the WebSocket limit (16 MiB) is cut off (the
    // client may see a reset before the error); either way the server goes on serving.
    let mut big = RepoPeer::connect(&server, &token).await?;
    let id = DocumentId::random().to_automerge_repo();
    big.send_doc("sync", &id, vec![0u8; 5 << 20]).await?;
    let m = big.next_any().await?;
    assert_eq!(m.kind(), "error");
    let message = m.get("message").and_then(|v| v.as_text()).unwrap_or("");
    assert!(message.starts_with("too_large"), "{message}");
    let mut huge = RepoPeer::connect(&server, &token).await?;
    let _ = huge.send_doc("sync", &id, vec![0u8; 17 << 20]).await;
    let _ = huge.next_any().await;
    let mut peer = RepoPeer::connect(&server, &token).await?;
    let (none, _) = peer.find(&id).await?;
    assert!(none.is_none(), "the server still serves");

    // 5. The device is revoked while its session is open: `error`, and the server closes;
    //    its token opens no session any more.
    server.revoke_device_of(MENTOR).await?;
    let m = peer.next_any().await?;
    assert_eq!(m.kind(), "error");
    let message = m.get("message").and_then(|v| v.as_text()).unwrap_or("");
    assert!(message.starts_with("revoked"), "{message}");
    assert!(peer.next_any().await.is_err(), "closed after the error");
    assert!(RepoPeer::connect(&server, &token).await.is_err());
    Ok(())
}

fn base64(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}
