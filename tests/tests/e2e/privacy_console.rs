//! The privacy officer's console pages (docs/admin-console.md):
//!
//! The check of the audit log's chain:
//! 1. A teacher's phone writes and syncs a signal while the server runs; the privacy
//!    officer's check on the audit page reads every row and says every link holds, with
//!    the last link to note down, in Dutch and in English.
//! 2. Someone with the database file changes one row in the middle (the user of a read),
//!    as the IT admin could with the SQLite tools: the next check names that row as where
//!    the chain breaks. Then a row is removed: the check names the row after the gap.
//! 3. The IT admin may not run the check (the privacy officer answers for the log).
//!
//! Legal holds: placed on the privacy page on a pupil's file, listed there, honoured by
//! retention's plan (her expired thermometer month is kept), lifted again; a pupil the
//! roster does not know is refused and holds nothing.

use anyhow::Result;
use omkijken_core::store::NewThermometerEntry;
use omkijken_server::retention;
use omkijken_server::server::Settings;
use omkijken_server::storage::AdminRole;
use omkijken_tests::console_client::{console_server, signed_in};
use omkijken_tests::*;

const PRIVACY: (&str, &str) = ("fatima", "wachtwoord-van-fatima-1");
const IT: (&str, &str) = ("anna", "wachtwoord-van-anna-1");

/// The `#N` the broken-chain message names.
fn broken_at(html: &str) -> Option<i64> {
    let at = html.find("id=\"audit-broken\"")?;
    let rest = &html[at..];
    let n = &rest[rest.find("<strong>#")? + "<strong>#".len()..];
    n[..n.find('<')?].parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privacy_officer_checks_the_audit_chain_and_finds_a_changed_row() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    // A plain store, so that this test can change a row with SQLite as an intruder would.
    let accounts = [
        (PRIVACY.0, AdminRole::PrivacyOfficer, PRIVACY.1),
        (IT.0, AdminRole::ItAdmin, IT.1),
    ];
    let (server, settings) = console_server(tmp.path(), true, &accounts).await?;

    // 1. Traffic, then the check.
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    teacher.record_trip_signal(
        PUPIL,
        2,
        "Daan zat alleen in de bus; ‘ze lachen me uit’, zei hij",
    )?;
    teacher.sync().await?;
    let officer = signed_in(&server, PRIVACY.0, PRIVACY.1).await?;
    // A search of the log (read beside the hub) finds the teacher's write, and is audited
    // itself, linked into the chain the check below reads.
    let found = officer.json("/api/audit?action=write").await?;
    assert!(found.as_array().is_some_and(|r| !r.is_empty()), "{found}");
    let exported: i64 = rusqlite::Connection::open(settings.db_path())?.query_row(
        "SELECT count(*) FROM audit WHERE action = 'audit_export' AND kind = 'action:write' \
         AND user = ?1",
        [format!("admin:{}", PRIVACY.0)],
        |r| r.get(0),
    )?;
    assert_eq!(exported, 1, "the search is in the log");
    let (status, page) = officer.get("/audit", "nl").await?;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"verify\""), "the page offers the check");
    let (status, nl) = officer.get("/audit?verify=1", "nl").await?;
    assert_eq!(status, 200, "{nl}");
    assert!(
        nl.contains("id=\"audit-verified\"") && nl.contains("Elke schakel klopt"),
        "{nl}"
    );
    assert!(
        nl.contains("id=\"audit-head\""),
        "the last link, to note down"
    );
    let (_, en) = officer.get("/audit?verify=1", "en").await?;
    assert!(en.contains("Every link holds"), "{en}");
    assert_eq!(broken_at(&en), None);

    // 2. A row in the middle changed, then one removed.
    let db = rusqlite::Connection::open(settings.db_path())?;
    let rows: i64 = db.query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?;
    assert!(rows >= 6, "the traffic was audited ({rows} rows)");
    let changed: i64 = db.query_row(
        "SELECT seq FROM audit ORDER BY seq LIMIT 1 OFFSET ?1",
        [rows / 2],
        |r| r.get(0),
    )?;
    db.execute(
        "UPDATE audit SET user = 'iemand-anders' WHERE seq = ?1",
        [changed],
    )?;
    let (status, html) = officer.get("/audit?verify=1", "en").await?;
    assert_eq!(status, 200);
    assert_eq!(broken_at(&html), Some(changed), "{html}");
    assert!(html.contains("was changed, removed or inserted"));
    assert!(!html.contains("id=\"audit-verified\""));

    let removed: i64 = db.query_row(
        "SELECT seq FROM audit WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
        [changed],
        |r| r.get(0),
    )?;
    db.execute("DELETE FROM audit WHERE seq = ?1", [removed])?;
    let (_, html) = officer.get("/audit?verify=1", "nl").await?;
    let next: i64 = db.query_row(
        "SELECT seq FROM audit WHERE seq > ?1 ORDER BY seq LIMIT 1",
        [removed],
        |r| r.get(0),
    )?;
    assert_eq!(broken_at(&html), Some(next), "{html}");
    assert!(html.contains("De keten is verbroken bij regel"));

    // 3. Not the IT admin's.
    let it = signed_in(&server, IT.0, IT.1).await?;
    let (status, html) = it.get("/audit?verify=1", "en").await?;
    assert_eq!(status, 403);
    assert!(!html.contains("audit-verified") && !html.contains("audit-broken"));
    server.handle.shutdown().await?;
    Ok(())
}

/// Retention's verdict, two years from now, on document `id`: None if it is not due.
fn verdict(settings: &Settings, id: omkijken_core::DocumentId) -> Result<Option<Option<String>>> {
    let mut st = settings.open_storage()?;
    let later = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().years(2))?;
    Ok(retention::plan(st.as_mut(), SCHOOL, later)?
        .into_iter()
        .find(|e| e.id == id)
        .map(|e| e.held.map(str::to_string)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privacy_officer_places_and_lifts_a_legal_hold_that_retention_honours() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let accounts = [(PRIVACY.0, AdminRole::PrivacyOfficer, PRIVACY.1)];
    let (server, settings) = console_server(tmp.path(), false, &accounts).await?;
    // The mentor records a thermometer reading: its month goes after the school year.
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    mentor.sync().await?;
    let month = mentor.store.record_thermometer(NewThermometerEntry {
        pupil: PUPIL.into(),
        at: mentor.store.now(),
        score: 2,
        emotions: vec![],
        wants_to_talk: true,
        note: Some("‘Niemand wil naast me zitten’, zei ze in de kring".into()),
    })?;
    mentor.sync().await?;
    assert_eq!(
        verdict(&settings, month)?,
        Some(None),
        "due, and nothing keeps it"
    );

    // Placed on the privacy page.
    let officer = signed_in(&server, PRIVACY.0, PRIVACY.1).await?;
    let (status, page) = officer.get("/privacy", "nl").await?;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"no-holds\""), "{page}");
    let (status, page) = officer
        .post_form(
            "/privacy/hold",
            &page,
            &[("school", SCHOOL), ("pupil", PUPIL), ("action", "hold")],
            "nl",
        )
        .await?;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"hold-done\"") && page.contains("Bewaarblokkade geplaatst"));
    assert!(page.contains(&format!(
        "<tr class=\"hold\"><td>{SCHOOL}</td><td><code>{PUPIL}</code>"
    )));
    assert!(
        verdict(&settings, month)?.is_some_and(|held| held.is_some()),
        "kept by the hold"
    );
    let audited = server
        .handle
        .admin()
        .audit(omkijken_server::storage::AuditFilter::Pupil(PUPIL.into()))
        .await?;
    assert!(
        audited
            .iter()
            .any(|r| r.action == omkijken_server::storage::AuditAction::Hold)
    );

    // A pupil the roster does not know: refused, nothing held.
    let (status, refused) = officer
        .post_form(
            "/privacy/hold",
            &page,
            &[
                ("school", SCHOOL),
                ("pupil", "eck-9999"),
                ("action", "hold"),
            ],
            "en",
        )
        .await?;
    assert_eq!(status, 404, "{refused}");
    // Nor is a hold lifted that does not stand.
    let (status, refused) = officer
        .post_form(
            "/privacy/hold",
            &page,
            &[
                ("school", SCHOOL),
                ("pupil", OTHER_PUPIL),
                ("action", "release"),
            ],
            "en",
        )
        .await?;
    assert_eq!(status, 404, "{refused}");
    let audited = server
        .handle
        .admin()
        .audit(omkijken_server::storage::AuditFilter::Pupil(
            OTHER_PUPIL.into(),
        ))
        .await?;
    assert!(
        !audited
            .iter()
            .any(|r| r.action == omkijken_server::storage::AuditAction::Release)
    );
    let (_, page) = officer.get("/privacy", "en").await?;
    assert!(!page.contains("eck-9999"));
    assert_eq!(page.matches("<tr class=\"hold\">").count(), 1);

    // Lifted: retention takes the month again.
    let (status, page) = officer
        .post_form(
            "/privacy/hold",
            &page,
            &[("school", SCHOOL), ("pupil", PUPIL), ("action", "release")],
            "en",
        )
        .await?;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Legal hold lifted") && page.contains("id=\"no-holds\""));
    assert_eq!(verdict(&settings, month)?, Some(None));
    server.handle.shutdown().await?;
    Ok(())
}
