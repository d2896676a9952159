//! What the server refuses, seen from a real client: no token, an unknown or revoked token,
//! a bad enrollment code, a document without access, a forged actor, an oversized frame,
//! garbage bytes. After each, the server keeps serving.

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use omkijken_core::model::{Header, Kind, SCHEMA_VERSION};
use omkijken_core::store::StoreOptions;
use omkijken_core::sync::{ErrorCode, Frame, MAX_FRAME_BYTES, RefusalReason};
use omkijken_core::transport::{self, SETTING_SERVER_URL, SETTING_TOKEN};
use omkijken_core::{DocumentId, Error, Store, doc};
use omkijken_tests::*;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http};

async fn school() -> Result<(tempfile::TempDir, TestServer)> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    Ok((tmp, server))
}

fn core_error(e: &anyhow::Error) -> Option<&Error> {
    e.downcast_ref::<Error>()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket to `/v1/sync` with the device's token.
async fn raw_sync_socket(server: &TestServer, device: &Device) -> Result<Ws> {
    let token = device.store.setting(SETTING_TOKEN)?.unwrap();
    let mut req = server.handle.sync_url().into_client_request()?;
    req.headers_mut().insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(ws)
}

/// The next frame, or None when the server closed the connection.
async fn next_frame(ws: &mut Ws) -> Option<Frame> {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => return Some(Frame::decode(&b).unwrap()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("the server neither answered nor closed"),
        }
    }
}

/// A signal about `pupil` authored by `author`, written with `actor`, put straight into the
/// device's store (bypassing the store's own access checks, as a tampered app would).
// core::Error is large (AutomergeError inside); the closure's signature is the store's.
#[allow(clippy::result_large_err)]
fn plant_signal(
    device: &Device,
    author: &str,
    pupil: &str,
    actor: automerge::ActorId,
) -> Result<DocumentId> {
    let now = device.store.now();
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: SCHOOL.into(),
        pupil: Some(pupil.into()),
        author: author.into(),
        created_at: now,
        schema: SCHEMA_VERSION,
    };
    let record = omkijken_core::testing::signal_record(now, "gang", 1, "planted");
    let d = doc::create(actor, now, &header, &record)?;
    let id = device.store.new_id();
    device.store.transact(id, |slot| {
        *slot = d;
        Ok(())
    })?;
    Ok(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_without_a_token_is_refused_before_the_upgrade() -> Result<()> {
    let (_tmp, server) = school().await?;
    match tokio_tungstenite::connect_async(server.handle.sync_url()).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_token_is_forbidden_and_never_echoed() -> Result<()> {
    let (tmp, server) = school().await?;
    let store = Store::open_with(tmp.path().join("d.db"), KEY, StoreOptions::default())?;
    store.set_setting(SETTING_SERVER_URL, Some(&server.url()))?;
    store.set_setting(SETTING_TOKEN, Some("unknown-token-XYZ"))?;
    let err = transport::sync_once(&store).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    assert!(!err.to_string().contains("XYZ"));
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_enrollment_code_is_forbidden_and_a_code_works_once() -> Result<()> {
    let (tmp, server) = school().await?;
    let store = Store::open_with(tmp.path().join("d.db"), KEY, StoreOptions::default())?;
    let err = transport::enroll(&server.url(), "not-a-code", "phone", &store)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    assert!(store.identity()?.is_none());

    let code = server.handle.admin().issue_code(SCHOOL, TEACHER).await?;
    transport::enroll(&server.url(), &code, "phone", &store).await?;
    let other = Store::open_with(tmp.path().join("e.db"), KEY, StoreOptions::default())?;
    let err = transport::enroll(&server.url(), &code, "phone 2", &other)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "a spent code: {err:?}");
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_device_is_wiped_on_next_sync() -> Result<()> {
    let (tmp, server) = school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    teacher.record_trip_signal(PUPIL, 1, "feiten")?;
    teacher.sync().await?;
    server.revoke_device_of(TEACHER).await?;
    let err = teacher.sync().await.unwrap_err();
    assert!(matches!(core_error(&err), Some(Error::Revoked)), "{err:?}");
    assert!(teacher.store.is_wiped());
    assert!(!teacher.path.exists());
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_without_access_is_refused_and_not_kept() -> Result<()> {
    let (tmp, server) = school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    // A signal "by the mentor", written on the teacher's phone with its own actor: she may
    // not read it either, so once refused it is removed from her phone.
    let id = plant_signal(&teacher, MENTOR, PUPIL, teacher.store.actor().clone())?;
    let mine = teacher.record_trip_signal(PUPIL, 1, "eigen signaal")?;
    let report = teacher.sync().await?;
    assert_eq!(report.refused, vec![(id, RefusalReason::Forbidden)]);
    assert_eq!(report.pushed, 1, "the rest of the outbox went through");
    assert!(teacher.store.info(id)?.is_none());
    assert!(teacher.store.info(mine)?.is_some());
    assert!(teacher.store.outbox()?.is_empty());
    assert!(teacher.sync().await?.refused.is_empty());
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_actor_is_refused() -> Result<()> {
    let (tmp, server) = school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    let forged = automerge::ActorId::from(*b"someone-elses-id");
    let id = plant_signal(&teacher, TEACHER, PUPIL, forged)?;
    let report = teacher.sync().await?;
    assert_eq!(report.refused, vec![(id, RefusalReason::ForgedActor)]);
    assert!(teacher.store.info(id)?.is_some());
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_is_refused_and_the_server_keeps_running() -> Result<()> {
    let (tmp, server) = school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let mut ws = raw_sync_socket(&server, &teacher).await?;
    let _ = ws
        .send(Message::binary(vec![0u8; MAX_FRAME_BYTES + 1024]))
        .await;
    match next_frame(&mut ws).await {
        None => {}
        Some(Frame::Error { code, .. }) => {
            assert!(matches!(code, ErrorCode::TooLarge | ErrorCode::Malformed))
        }
        Some(other) => panic!("unexpected {}", other.type_name()),
    }
    // The server still serves this device.
    assert_eq!(teacher.sync().await?.fetched, 1);
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_are_an_error_and_the_server_keeps_running() -> Result<()> {
    let (tmp, server) = school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let mut ws = raw_sync_socket(&server, &teacher).await?;
    ws.send(Message::binary(vec![0xff, 0x00, 0x13, 0x37, 0xde, 0xad]))
        .await?;
    match next_frame(&mut ws).await {
        Some(Frame::Error { code, .. }) => assert_eq!(code, ErrorCode::Malformed),
        other => panic!(
            "expected an error frame, got {:?}",
            other.map(|f| f.type_name())
        ),
    }
    assert!(
        next_frame(&mut ws).await.is_none(),
        "then the server closes"
    );
    assert_eq!(teacher.sync().await?.fetched, 1);
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_document_with_bytes_after_its_end_is_refused_and_poisons_nothing() -> Result<()> {
    use omkijken_core::sync::{DocChanges, PROTOCOL_VERSION};
    let (tmp, server) = school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let coordinator = Device::enroll(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    teacher.sync().await?;
    // A valid signal of the teacher's own, with bytes after its end (a tampered app): it
    // loads leniently, but stored as it came it would never load again, and every later
    // write to it or fetch of it would fail.
    let id = plant_signal(&teacher, TEACHER, PUPIL, teacher.store.writer_actor())?;
    let mut bytes = teacher.store.document_bytes(id)?.unwrap();
    bytes.extend_from_slice(b"\x85\x6f\x4a\x83 and then some");
    let mut ws = raw_sync_socket(&server, &teacher).await?;
    ws.send(Message::binary(
        Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
        }
        .encode(),
    ))
    .await?;
    ws.send(Message::binary(
        Frame::Push {
            docs: vec![DocChanges::new(id, bytes)],
        }
        .encode(),
    ))
    .await?;
    let verdict = loop {
        match next_frame(&mut ws).await {
            Some(Frame::Refused { docs }) => break Some(docs[0].reason),
            Some(Frame::Ack { docs }) if !docs.is_empty() => break None,
            Some(_) => continue,
            None => panic!("the server closed the connection"),
        }
    };
    assert_eq!(verdict, Some(RefusalReason::Malformed));
    drop(ws);
    // Nothing of it reached the server: the coordinator (who may read every signal) gets
    // no such document, and the teacher's own sync then pushes the clean bytes.
    coordinator.sync().await?;
    assert!(coordinator.store.info(id)?.is_none());
    assert!(teacher.sync().await?.refused.is_empty());
    coordinator.sync().await?;
    assert_eq!(coordinator.store.signal(id)?.facts, "planted");
    server.handle.shutdown().await?;
    Ok(())
}
