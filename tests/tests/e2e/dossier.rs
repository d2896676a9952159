//! The dossier a parent may ask to see (inzage), built by the server from what devices
//! wrote through it: every shared record of the pupil with the names of the staff who wrote
//! them, private working notes left out, as a PDF (rendered here to images with poppler's
//! pdftoppm and read back with pdftotext) and as JSON. The export is in the audit log.

use anyhow::{Context, Result};
use omkijken_core::defaults::DEFAULT_TEMPLATE;
use omkijken_core::model::FollowUpKind;
use omkijken_core::model::SociogramQuestion;
use omkijken_core::store::{AnswerSource, NewSociogramAnswer, NewThermometerEntry};
use omkijken_server::dossier;
use omkijken_server::server::Settings;
use omkijken_server::storage::{AuditAction, AuditFilter};
use omkijken_tests::*;
use std::process::Command;

const PRIVATE: &str = "PRIVE-werkaantekening-9d2";
const DRAFT: &str = "CONCEPT-signaal-4b7";

fn poppler() -> bool {
    let ok = Command::new("pdftotext").arg("-v").output().is_ok()
        && Command::new("pdftoppm").arg("-v").output().is_ok();
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty()),
            "poppler-utils (pdftotext, pdftoppm) must be installed under CI"
        );
        eprintln!("poppler-utils not installed: the dossier PDF test is skipped");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inzage_dossier_holds_every_shared_record_and_no_private_note() -> Result<()> {
    if !poppler() {
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("server");
    let server = TestServer::start(&data, None).await?;
    server.set_up_school().await?;
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let coordinator = Device::enroll(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    for d in [&mentor, &teacher, &coordinator] {
        d.sync().await?;
    }

    // 1. The mentor's shared kindgesprek (in Dutch, with an agreement) and a private
    //    working note; the teacher's shared signal, which the coordinator picks up, and a
    //    draft; a thermometer reading.
    let shared = mentor
        .store
        .start_conversation(PUPIL_IN_CARE, DEFAULT_TEMPLATE, "2026-11-16")?;
    mentor.store.set_notes(
        shared,
        "Sam vertelt over de verhuizing; goede ideeën voor de pauze.",
    )?;
    mentor.store.add_agreement(
        shared,
        "Elke maandag even bijpraten",
        "pupil",
        Some("2026-12-14"),
    )?;
    mentor.store.share_conversation(shared)?;
    let private = mentor
        .store
        .start_conversation(PUPIL_IN_CARE, DEFAULT_TEMPLATE, "2026-11-17")?;
    mentor.store.set_notes(private, PRIVATE)?;
    mentor.store.record_thermometer(NewThermometerEntry {
        pupil: PUPIL_IN_CARE.into(),
        at: mentor.store.now(),
        score: 2,
        emotions: vec![],
        wants_to_talk: true,
        note: Some("Voelt zich één beetje beter".into()),
    })?;
    let signal = teacher.record_trip_signal(PUPIL_IN_CARE, 2, "Huilde bij het slapengaan.")?;
    let mut draft = omkijken_core::store::NewSignal {
        share: false,
        ..teacher_signal(DRAFT)
    };
    draft.pupil = PUPIL_IN_CARE.into();
    teacher.store.record_signal(draft)?;
    // A sociogram round of groep 6b: Sam would rather not play with Noor; Noor chose Sam.
    let question = |id: &str, text: &str, polarity: &str| SociogramQuestion {
        id: id.into(),
        text: text.into(),
        polarity: polarity.into(),
    };
    let round = mentor.store.open_sociogram_round(
        "g6b",
        "2026-11-18",
        vec![
            question("spelen_graag", "Met wie speel je graag?", "positive"),
            question("spelen_niet", "Met wie speel je liever niet?", "negative"),
        ],
    )?;
    let answer = |question: &str, pupils: &[&str]| NewSociogramAnswer {
        question: question.into(),
        pupils: pupils.iter().map(|p| p.to_string()).collect(),
    };
    mentor.store.add_sociogram_answers(
        round,
        PUPIL_IN_CARE,
        vec![answer("spelen_graag", &[]), answer("spelen_niet", &[PUPIL])],
        AnswerSource::Staff,
    )?;
    mentor.store.add_sociogram_answers(
        round,
        PUPIL,
        vec![answer("spelen_graag", &[PUPIL_IN_CARE])],
        AnswerSource::Staff,
    )?;
    mentor.sync().await?;
    teacher.sync().await?;
    coordinator.sync().await?;
    // A status for the signaller, and the care team's note beside the signal (which the
    // signaller does not read: the dossier holds it all the same).
    coordinator
        .store
        .append_follow_up(signal, FollowUpKind::PickedUp, "")?;
    coordinator.store.append_follow_up(
        signal,
        FollowUpKind::FollowUp,
        "Opgepakt door de zorgcoördinator; gesprek met ouders gepland.",
    )?;
    coordinator.sync().await?;

    // 2. The admin exports the dossier, for a request of 20 November.
    let settings = Settings::for_test(&data);
    let mut st = settings.open_storage()?;
    let requested: jiff::civil::Date = "2026-11-20".parse()?;
    let d = dossier::export(st.as_mut(), 0, SCHOOL, PUPIL_IN_CARE, None, requested)?;
    let pdf_path = tmp.path().join("dossier.pdf");
    std::fs::write(&pdf_path, d.to_pdf())?;
    if let Ok(keep) = std::env::var("OMKIJKEN_KEEP_DOSSIER") {
        std::fs::copy(&pdf_path, keep)?; // to look at it
    }

    // 3. The PDF renders (one PNG per page) and reads back as a person would read it.
    let out = tmp.path().join("page");
    let status = Command::new("pdftoppm")
        .args(["-png", "-r", "40"])
        .arg(&pdf_path)
        .arg(&out)
        .status()
        .context("pdftoppm")?;
    assert!(status.success());
    let pngs: Vec<_> = std::fs::read_dir(tmp.path())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("page"))
        .collect();
    assert_eq!(pngs.len(), 7, "a cover page and six sections");
    for p in &pngs {
        assert!(std::fs::read(p.path())?.starts_with(b"\x89PNG"));
    }
    let text = Command::new("pdftotext")
        .arg(&pdf_path)
        .arg("-")
        .output()
        .context("pdftotext")?;
    let text = String::from_utf8(text.stdout)?;
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "Dossier leerling",
        "Leerling: Sam (eck-0001)",
        "Datum van het verzoek: 20 november 2026",
        "Kindgesprekken",
        "Kindgesprek van 16 november 2026, door Juf Jansen",
        "goede ideeën voor de pauze",
        "Afspraak: Elke maandag even bijpraten (leerling, uiterlijk 2026-12-14)",
        "Signalen",
        "door Meester Bakker",
        "Feiten: Huilde bij het slapengaan.",
        "Opgepakt (Mevr. de Vries",
        "Opgepakt door de zorgcoördinator",
        "Gevoelsthermometer",
        "Voelt zich één beetje beter",
        "Sociogram van 18 november 2026, door Juf Jansen",
        // Her own answers, by name; of her classmates' answers only how many named her.
        "Met wie speel je graag?: niemand",
        "Met wie speel je liever niet?: Noor",
        "Door klasgenoten: gekozen door 1 klasgenoot, afgewezen door niemand",
        "Meegedaan: 2 van de 2 leerlingen van de groep",
        "Meldcode",
        "Oudercontacten",
    ] {
        assert!(flat.contains(want), "PDF lacks {want:?}:\n{flat}");
    }
    for absent in [PRIVATE, DRAFT] {
        assert!(!flat.contains(absent), "PDF holds {absent}");
    }

    // 4. The JSON holds the same, and the export is in the audit log.
    let json = d.to_json();
    let v: serde_json::Value = serde_json::from_str(&json)?;
    assert_eq!(v["pupil_name"], "Sam");
    assert_eq!(v["requested_on"], "2026-11-20");
    assert!(json.contains("goede ideeën") && !json.contains(PRIVATE) && !json.contains(DRAFT));
    // Noor's answer (she chose Sam) is hers: neither her id nor her answer is in Sam's file.
    assert!(!json.contains(PUPIL), "a classmate's id in the dossier");
    let sociogram = &v["sections"][3];
    assert_eq!(sociogram["title"], "Sociogram");
    assert_eq!(sociogram["items"].as_array().map(Vec::len), Some(1));
    let rows = st.audit(&AuditFilter::Pupil(PUPIL_IN_CARE.into()))?;
    assert!(rows.iter().any(|r| r.action == AuditAction::Export));

    // 5. The care coordinator asks for it from her tablet (`/v1/request`): the server builds
    //    it on a connection of its own beside the hub, with what she may read, and writes
    //    the export through the hub, linked into the audit chain, before it answers.
    let (json, pdf) =
        omkijken_core::transport::request_dossier(&coordinator.store, PUPIL_IN_CARE, "2026-11-20")
            .await?;
    assert!(pdf.starts_with(b"%PDF"));
    assert!(json.contains("goede ideeën") && json.contains("Sociogram"));
    assert!(!json.contains(PRIVATE) && !json.contains(DRAFT) && !json.contains(PUPIL));
    let rows = st.audit(&AuditFilter::Pupil(PUPIL_IN_CARE.into()))?;
    assert!(
        rows.iter()
            .any(|r| r.action == AuditAction::Export && r.user.as_deref() == Some(COORDINATOR)),
        "the tablet's export is in the log"
    );
    let chain = omkijken_server::admin::verify_audit(st.as_mut())?;
    assert_eq!(chain.broken_at, None, "the export is linked into the chain");
    // A teacher asking for it is refused, and nothing is logged as exported.
    let exports = |rows: &[omkijken_server::storage::AuditRecord]| {
        rows.iter()
            .filter(|r| r.action == AuditAction::Export)
            .count()
    };
    let before = exports(&st.audit(&AuditFilter::Pupil(PUPIL_IN_CARE.into()))?);
    let refused =
        omkijken_core::transport::request_dossier(&teacher.store, PUPIL_IN_CARE, "2026-11-20")
            .await;
    assert!(
        matches!(refused, Err(omkijken_core::Error::Forbidden(_))),
        "{refused:?}"
    );
    assert_eq!(
        exports(&st.audit(&AuditFilter::Pupil(PUPIL_IN_CARE.into()))?),
        before
    );
    drop(st);
    server.handle.shutdown().await?;
    Ok(())
}

fn teacher_signal(facts: &str) -> omkijken_core::store::NewSignal {
    omkijken_core::testing::signal(PUPIL, 0, "gymzaal", 1, facts)
}
