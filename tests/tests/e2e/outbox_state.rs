//! The outbox state a device reports (docs/protocol.md, "Outbox state") as the school's IT
//! admin sees it, and what the server does with a report a script made up.
//!
//! 1. A mentor's phone writes three signals while the server is down. When the server is
//!    back, the phone's own sync engine connects over a real connection: its `hello` says
//!    three wait, and the admin API and the devices page say so, with the oldest's age,
//!    before anything is pushed. The engine goes on until idle: its pushes are acknowledged
//!    and it reports once that all is sent, which the API and page then show. A change the
//!    server refused for good shows as "niet geaccepteerd" after the next sync.
//! 2. A hostile device sends outbox values no phone has (counts of 2^64-1, an age of
//!    millennia, an age with nothing waiting): they are kept clamped, the session goes on.
//!    Negative or non-integer values are `malformed` and end the session; nothing of them
//!    is stored, and the server serves the next device.

use anyhow::{Context, Result, bail, ensure};
use ciborium::Value;
use omkijken_core::sync::{
    ClientEngine, ClientInput, ClientOutput, ErrorCode, Frame, MAX_OUTBOX_AGE_MS, MAX_OUTBOX_COUNT,
    RefusalReason,
};
use omkijken_core::testing;
use omkijken_server::server::Settings;
use omkijken_server::storage::{AdminRole, DeviceOutbox};
use omkijken_tests::console_client::{self, ConsoleClient};
use omkijken_tests::wire::Wire;
use omkijken_tests::*;
use serde_json::Value as Json;
use std::time::Duration;

const IT: (&str, &str) = ("anna", "wachtwoord-van-anna-1");
const DAY: i64 = 86_400_000;

/// A server with its console, the school set up, and an IT admin.
async fn console_server(dir: &std::path::Path) -> Result<(TestServer, Settings)> {
    console_client::console_server(dir, false, &[(IT.0, AdminRole::ItAdmin, IT.1)]).await
}

async fn admin_of(server: &TestServer) -> Result<ConsoleClient> {
    console_client::signed_in(server, IT.0, IT.1).await
}

/// The one device's row of `GET /api/devices`.
async fn device_row(admin: &ConsoleClient) -> Result<Json> {
    let list = admin.json("/api/devices").await?;
    let rows = list.as_array().context("a list")?;
    ensure!(rows.len() == 1, "one device: {list}");
    Ok(rows[0].clone())
}

/// The devices page's outbox state of the one device (under its last sync), in `lang`,
/// without markup, followed by its title (when it was reported).
async fn outbox_cell(admin: &ConsoleClient, lang: &str) -> Result<String> {
    let (status, page) = admin.get("/devices", lang).await?;
    ensure!(status == 200, "devices page: {status}");
    let start = page
        .find("<div class=\"outbox")
        .context("an outbox state")?;
    let cell = &page[start..];
    let cell = &cell[..cell.find("</div>").context("end of the state")?];
    let title = cell
        .split_once("title=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(t, _)| t.to_string())
        .unwrap_or_default();
    let cell = format!("{} {title}", &cell[cell.find('>').context("tag")? + 1..]);
    let mut text = String::new();
    let mut in_tag = false;
    for c in cell.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Poll the API until the device's outbox satisfies `ok` (reports come as frames the
/// server stores in order; this waits out the hop to storage), at most 10 s.
async fn outbox_when(admin: &ConsoleClient, ok: impl Fn(&Json) -> bool) -> Result<Json> {
    for _ in 0..100 {
        let row = device_row(admin).await?;
        if ok(&row["outbox"]) {
            return Ok(row["outbox"].clone());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "the outbox never showed as expected: {}",
        device_row(admin).await?
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devices_table_shows_what_waits_on_a_phone_until_it_is_sent() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, settings) = console_server(tmp.path()).await?;

    // 1. The phone enrolls and syncs: nothing waits.
    let phone = Device::enroll(&server, tmp.path(), MENTOR, "telefoon juf Jansen").await?;
    let admin = admin_of(&server).await?;
    ensure!(
        device_row(&admin).await?["outbox"].is_null(),
        "no report before the first sync"
    );
    phone.sync().await?;
    let o = outbox_when(&admin, |o| o["pending"] == 0).await?;
    assert_eq!(
        (o["not_accepted"].as_u64(), o["oldest_pending_at"].is_null()),
        (Some(0), true)
    );
    assert_eq!(
        outbox_cell(&admin, "nl").await?.split(" bij ").next(),
        Some("alles verstuurd")
    );

    // 2. The server goes down; the phone writes three signals, and its sync fails.
    server.handle.shutdown().await?;
    let written_at = phone.store.now();
    for facts in [
        "Huilde in de pauze.",
        "Zat alleen bij het fruit.",
        "Wilde niet naar gym.",
    ] {
        phone
            .store
            .record_signal(testing::signal(PUPIL, written_at, "speelplaats", 1, facts))?;
    }
    ensure!(phone.sync().await.is_err(), "no server: no sync");
    assert_eq!(phone.store.outbox()?.len(), 3);

    // 3. The server is back. The phone's engine says hello over a real connection; once
    //    the catalog comes, the hello is stored: three wait, the oldest written just now.
    let server = TestServer::start_again_with(settings.clone()).await?;
    let admin = admin_of(&server).await?;
    let mut wire = Wire::open(&server, &phone.store).await?;
    let mut engine = ClientEngine::new(phone.store.clone());
    let mut reports = 0;
    let mut out = engine.handle(phone.store.now(), ClientInput::Connected)?;
    let first = loop {
        for o in out.drain(..) {
            if let ClientOutput::Send(f) = o {
                wire.send(f).await?;
            }
        }
        match wire.next().await? {
            f @ Frame::Catalog { .. } => break f,
            f => out = engine.handle(phone.store.now(), ClientInput::Received(f))?,
        }
    };
    let o = device_row(&admin).await?["outbox"].clone();
    assert_eq!(
        (o["pending"].as_u64(), o["not_accepted"].as_u64()),
        (Some(3), Some(0)),
        "{o}"
    );
    let oldest = o["oldest_pending_at"].as_i64().context("an oldest")?;
    let now = jiff::Timestamp::now().as_millisecond();
    ensure!(
        (written_at - 60_000..=now).contains(&oldest),
        "the oldest waiting change was made at {written_at}, not {oldest}"
    );
    let nl = outbox_cell(&admin, "nl").await?;
    ensure!(
        nl.starts_with("3 wachtend, oudste ") && nl.contains("bij laatste sync"),
        "{nl}"
    );
    let en = outbox_cell(&admin, "en").await?;
    ensure!(
        en.starts_with("3 waiting, oldest ") && en.contains("at last sync"),
        "{en}"
    );
    let (_, page) = admin.get("/devices", "nl").await?;
    ensure!(
        !page.contains("Huilde"),
        "never a word of a note on the page"
    );

    // 4. The engine goes on until idle: the pushes are acknowledged, and it reports once
    //    that nothing waits (not once per ack).
    let mut input = ClientInput::Received(first);
    loop {
        for o in engine.handle(phone.store.now(), input)? {
            if let ClientOutput::Send(f) = o {
                if matches!(f, Frame::Outbox { .. }) {
                    reports += 1;
                }
                wire.send(f).await?;
            }
        }
        if engine.is_idle() {
            break;
        }
        input = ClientInput::Received(wire.next().await?);
    }
    assert_eq!(reports, 1, "one report for the round");
    assert!(phone.store.outbox()?.is_empty());
    let o = outbox_when(&admin, |o| o["pending"] == 0).await?;
    assert!(o["oldest_pending_at"].is_null(), "{o}");
    let nl = outbox_cell(&admin, "nl").await?;
    ensure!(nl.starts_with("alles verstuurd bij laatste sync"), "{nl}");
    ensure!(
        outbox_cell(&admin, "en")
            .await?
            .starts_with("all sent at last sync")
    );
    drop(wire);

    // 5. A change refused for good is kept on the phone as a not-accepted item (set aside
    //    here as the engine does on `refused invalid_record`); the next sync says so.
    let late = phone.store.record_signal(testing::signal(
        PUPIL,
        phone.store.now(),
        "gang",
        1,
        "Rende weg.",
    ))?;
    phone
        .store
        .set_aside_refused(late, RefusalReason::InvalidRecord)?;
    phone.sync().await?;
    let o = outbox_when(&admin, |o| o["not_accepted"] == 1).await?;
    assert_eq!(o["pending"], 0);
    let nl = outbox_cell(&admin, "nl").await?;
    ensure!(nl.starts_with("1 niet geaccepteerd"), "{nl}");
    ensure!(
        outbox_cell(&admin, "en")
            .await?
            .starts_with("1 not accepted")
    );
    server.handle.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------- hostile values

fn cbor(pairs: Vec<(&str, Value)>) -> Vec<u8> {
    let v = Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect());
    let mut b = vec![];
    ciborium::into_writer(&v, &mut b).expect("to a Vec");
    b
}

fn int(i: i128) -> Value {
    Value::Integer(i.try_into().expect("a CBOR integer"))
}

fn hello_with(outbox: Value) -> Vec<u8> {
    cbor(vec![
        ("type", "hello".into()),
        ("protocol", int(1)),
        ("cursor", int(0)),
        ("outbox", outbox),
    ])
}

fn state(
    pending: Value,
    not_accepted: Value,
    oldest_age: Option<Value>,
) -> Vec<(&'static str, Value)> {
    let mut v = vec![("pending", pending), ("notAccepted", not_accepted)];
    if let Some(a) = oldest_age {
        v.push(("oldestAge", a));
    }
    v
}

fn state_value(s: Vec<(&str, Value)>) -> Value {
    Value::Map(s.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn outbox_frame(s: Vec<(&'static str, Value)>) -> Vec<u8> {
    let mut pairs = vec![("type", Value::from("outbox"))];
    pairs.extend(s);
    cbor(pairs)
}

async fn stored(server: &TestServer, user: &str) -> Result<Option<DeviceOutbox>> {
    let devices = server.handle.admin().devices().await?;
    let d = devices
        .into_iter()
        .find(|d| d.user == user)
        .context("the device")?;
    Ok(d.outbox)
}

/// Wait until the server answered everything sent so far on `wire` (an empty `readLog`
/// is answered with `logAck`, in order).
async fn barrier(wire: &mut Wire) -> Result<()> {
    wire.send(Frame::ReadLog { entries: vec![] }).await?;
    loop {
        match wire.next().await? {
            Frame::LogAck { .. } => return Ok(()),
            Frame::Error { code, message } => bail!("error {code:?}: {message}"),
            _ => {}
        }
    }
}

async fn refused_as_malformed(wire: &mut Wire) -> Result<()> {
    match wire.next().await? {
        Frame::Error {
            code: ErrorCode::Malformed,
            ..
        } => {}
        other => bail!("expected error malformed, got {}", other.type_name()),
    }
    ensure!(wire.closed().await, "the session ends after the error");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_outbox_reports_are_bounded_or_refused_and_the_server_stays_up() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let device = Device::enroll(&server, tmp.path(), TEACHER, "teacher hostile").await?;

    // 1. A hello with counts no phone has and an age of millennia: the catch-up goes on,
    //    the device row holds the bounds.
    let before = jiff::Timestamp::now().as_millisecond();
    let mut w = Wire::open(&server, &device.store).await?;
    w.send_raw(hello_with(state_value(state(
        int(u64::MAX.into()),
        int(1 << 40),
        Some(int(u64::MAX.into())),
    ))))
    .await?;
    loop {
        if let Frame::Catalog { complete: true, .. } = w.next().await? {
            break;
        }
    }
    let o = stored(&server, TEACHER).await?.context("stored")?;
    assert_eq!(
        (o.pending, o.not_accepted),
        (MAX_OUTBOX_COUNT, MAX_OUTBOX_COUNT)
    );
    let oldest = o.oldest_at.context("an oldest")?;
    assert!(
        oldest >= before - MAX_OUTBOX_AGE_MS as i64 && oldest <= o.reported_at,
        "at most ten years old: {oldest}"
    );

    // 2. `outbox` frames on the live session: an age with nothing waiting keeps no oldest;
    //    a sound report is kept as sent.
    w.send_raw(outbox_frame(state(int(0), int(0), Some(int(5)))))
        .await?;
    barrier(&mut w).await?;
    let o = stored(&server, TEACHER).await?.context("stored")?;
    assert_eq!((o.pending, o.not_accepted, o.oldest_at), (0, 0, None));
    w.send_raw(outbox_frame(state(int(2), int(1), Some(int(DAY as i128)))))
        .await?;
    barrier(&mut w).await?;
    let sound = stored(&server, TEACHER).await?.context("stored")?;
    assert_eq!((sound.pending, sound.not_accepted), (2, 1));
    assert_eq!(sound.oldest_at, Some(sound.reported_at - DAY));

    // 3. A negative count: malformed, the session ends, the row keeps the last report.
    w.send_raw(outbox_frame(state(int(-1), int(0), None)))
        .await?;
    refused_as_malformed(&mut w).await?;
    assert_eq!(stored(&server, TEACHER).await?, Some(sound));

    // 4. Values of the wrong kind, in hello and in the frame: each malformed, nothing
    //    stored.
    let bad_states: Vec<Value> = vec![
        state_value(state("3".into(), int(0), None)),
        state_value(state(int(3), int(0), Some(Value::Float(1.5)))),
        state_value(state(int(3), int(0), Some(int(-(1 << 62))))),
        state_value(state(int(3), int(-(1i128 << 64)), None)),
        state_value(vec![("pending", int(3))]),
        "alles".into(),
        Value::Bytes(vec![3, 0]),
    ];
    // (An array in place of the map is read as the fields in order, as serde reads the
    // structs of every frame; its values are bounded like any others.)
    for (i, bad) in bad_states.into_iter().enumerate() {
        let mut w = Wire::open(&server, &device.store).await?;
        w.send_raw(hello_with(bad)).await?;
        refused_as_malformed(&mut w)
            .await
            .with_context(|| format!("bad outbox {i}"))?;
    }
    let mut w = Wire::open(&server, &device.store).await?;
    w.send_raw(outbox_frame(state(int(1), int(1), None)))
        .await?;
    refused_as_malformed(&mut w)
        .await
        .context("an outbox frame before hello")?;
    assert_eq!(stored(&server, TEACHER).await?, Some(sound));

    // 5. The server is up: an honest phone enrolls and syncs, and reports nothing waits.
    let phone = Device::enroll(&server, tmp.path(), MENTOR, "telefoon").await?;
    phone.sync().await?;
    let o = stored(&server, MENTOR)
        .await?
        .context("the phone reported")?;
    assert_eq!((o.pending, o.not_accepted, o.oldest_at), (0, 0, None));
    server.handle.shutdown().await?;
    Ok(())
}
