//! A hostile device against the real server: an enrolled device (a stolen token, or the
//! school's own app replaced by a script) that builds Automerge changes itself and speaks
//! the wire protocol directly (`omkijken_tests::wire`), bypassing the store and its checks.
//! It tries every write the record rules refuse (docs/protocol.md, "Rules per kind"), and
//! forged authors in every record kind. Each is refused with the documented reason,
//! nothing of it is stored or forwarded, the server's audit log records the refusal, and the
//! honest devices keep working. A document the hostile user may not read, or one erased,
//! answers exactly like one that never existed, across schools too.

use anyhow::{Context, Result};
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc};
use omkijken_core::doc;
use omkijken_core::model::{
    Agreement, Case, CaseStep, Conversation, Excursion, FollowUp, Header, Kind, ParentContact,
    ParentPresent, SCHEMA_VERSION, Signal, ThermometerEntry, ThermometerMonth,
};
use omkijken_core::store::{NewCaseStep, NewSignal};
use omkijken_core::sync::{Frame, RefusalReason};
use omkijken_core::{DocumentId, Store};
use omkijken_server::storage::{AuditAction, AuditFilter};
use omkijken_tests::wire::{Verdict, Wire};
use omkijken_tests::*;
use std::path::Path;

const FORBIDDEN: Verdict = Verdict::Refused(RefusalReason::Forbidden);
const INVALID: Verdict = Verdict::Refused(RefusalReason::InvalidRecord);

async fn school() -> Result<(tempfile::TempDir, TestServer)> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    Ok((tmp, server))
}

/// An honest device of `user`, enrolled and caught up (it holds the roster).
async fn enrolled(server: &TestServer, dir: &Path, user: &str, label: &str) -> Result<Device> {
    let device = Device::enroll(server, dir, user, label).await?;
    device.sync().await?;
    Ok(device)
}

/// A device enrolled for `user` whose app was replaced: its raw protocol session.
async fn hostile(server: &TestServer, dir: &Path, user: &str) -> Result<(Device, Wire)> {
    let label = format!("{user} hostile");
    let device = Device::enroll(server, dir, user, &label).await?;
    let wire = Wire::connect(server, &device).await?;
    Ok((device, wire))
}

/// `d` with `edit` applied by the hostile device, as one change.
// Edit closures return core's (large) error type.
#[allow(clippy::result_large_err)]
fn forge<R: omkijken_core::model::Record>(
    wire: &Wire,
    id: DocumentId,
    d: &Automerge,
    edit: impl FnOnce(&mut R),
) -> Automerge {
    let mut out = d.clone();
    doc::update(id, &mut out, &wire.actor, 1_790_000_000_000, |r: &mut R| {
        edit(r);
        Ok(())
    })
    .unwrap();
    out
}

fn follow_up(id: &str, author: &str, kind: &str) -> FollowUp {
    FollowUp {
        id: id.into(),
        author: author.into(),
        at: 1_790_000_000_000,
        kind: kind.into(),
        text: "ingevuld door een script".into(),
    }
}

/// The refusals the audit log holds for `device`'s id on `doc`.
async fn refusals_audited(server: &TestServer, device: &str, doc: DocumentId) -> Result<usize> {
    let rows = server.handle.admin().audit(AuditFilter::All).await?;
    Ok(rows
        .iter()
        .filter(|r| {
            r.action == AuditAction::Refuse
                && r.document == Some(doc)
                && r.device.as_deref() == Some(device)
        })
        .count())
}

/// The device id the server gave the device of `user` labelled `label`.
async fn device_id(server: &TestServer, user: &str, label: &str) -> Result<String> {
    let devices = server.handle.admin().devices().await?;
    Ok(devices
        .into_iter()
        .find(|d| d.user == user && d.label == label)
        .map(|d| d.id)
        .expect("enrolled"))
}

fn heads_of(store: &Store, id: DocumentId) -> Result<Vec<automerge::ChangeHash>> {
    Ok(store.info(id)?.map(|i| i.heads).unwrap_or_default())
}

fn shared_signal(pupil: &str, share: bool) -> NewSignal {
    NewSignal {
        share,
        ..omkijken_core::testing::signal(
            pupil,
            1_790_000_000_000,
            "gang",
            1,
            "zat alleen in de pauze",
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mentor_cannot_rewrite_or_forge_the_care_teams_follow_ups() -> Result<()> {
    let (tmp, server) = school().await?;
    let teacher = enrolled(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let tablet = enrolled(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    let mentor = enrolled(&server, tmp.path(), MENTOR, "mentor phone").await?;

    // 1. The teacher records a signal; the coordinator picks it up.
    let sig = teacher.store.record_signal(shared_signal(PUPIL, true))?;
    teacher.sync().await?;
    tablet.sync().await?;
    tablet
        .store
        .append_follow_up(sig, omkijken_core::model::FollowUpKind::PickedUp, "")?;
    tablet.sync().await?;
    mentor.sync().await?;

    // 2. The mentor's second phone, app replaced, tries what the issue found acknowledged.
    let (_, mut wire) = hostile(&server, tmp.path(), MENTOR).await?;
    let hostile_id = device_id(&server, MENTOR, &format!("{MENTOR} hostile")).await?;
    let stored = wire.fetch(sig).await?.expect("the mentor reads it");
    let picked = |s: &Signal| s.follow_ups[0].clone();
    let tries: Vec<(&str, Automerge, Verdict)> = vec![
        (
            "delete the coordinator's 'picked up', append 'closed' in her name",
            forge(&wire, sig, &stored, |s: &mut Signal| {
                s.follow_ups.clear();
                s.follow_ups
                    .push(follow_up("f-closed", COORDINATOR, "closed"));
            }),
            INVALID,
        ),
        (
            "append 'closed' in the coordinator's name",
            forge(&wire, sig, &stored, |s: &mut Signal| {
                s.follow_ups
                    .push(follow_up("f-closed", COORDINATOR, "closed"))
            }),
            FORBIDDEN,
        ),
        (
            "rewrite the coordinator's entry",
            forge(&wire, sig, &stored, |s: &mut Signal| {
                let mut f = picked(s);
                f.text = "niets aan de hand".into();
                s.follow_ups[0] = f;
            }),
            INVALID,
        ),
        (
            "append 'closed' in her own name (status is the care team's)",
            forge(&wire, sig, &stored, |s: &mut Signal| {
                s.follow_ups.push(follow_up("f-closed", MENTOR, "closed"))
            }),
            FORBIDDEN,
        ),
        (
            "a correction of someone else's signal",
            forge(&wire, sig, &stored, |s: &mut Signal| {
                s.follow_ups.push(follow_up("f-corr", MENTOR, "correction"))
            }),
            FORBIDDEN,
        ),
        (
            "rewrite the facts",
            forge(&wire, sig, &stored, |s: &mut Signal| {
                s.facts = "niets gebeurd".into()
            }),
            INVALID,
        ),
        (
            "a note of hers on the signal itself, which its author reads (notes go in the \
             signal's notes)",
            forge(&wire, sig, &stored, |s: &mut Signal| {
                s.follow_ups.push(follow_up("f-note", MENTOR, "follow_up"))
            }),
            FORBIDDEN,
        ),
    ];
    for (what, after, want) in &tries {
        let got = wire.push_changes(sig, &stored, after).await?;
        assert_eq!(&got, want, "{what}");
    }
    // 3. Nothing of it is stored: the server's copy is the one before, and every refusal is
    //    in the audit log under the hostile device.
    let now = wire.fetch(sig).await?.unwrap();
    assert_eq!(now.get_heads(), stored.get_heads());
    assert_eq!(
        refusals_audited(&server, &hostile_id, sig).await?,
        tries.len()
    );
    // 4. What a mentor may do goes through even from this device: a note to the signaller
    //    in her own name.
    let allowed = forge(&wire, sig, &stored, |s: &mut Signal| {
        s.follow_ups
            .push(follow_up("f-mentor", MENTOR, "to_signaller"))
    });
    assert!(matches!(
        wire.push_changes(sig, &stored, &allowed).await?,
        Verdict::Acked(_)
    ));

    // 5. The honest devices keep working and never saw a refused word.
    tablet.sync().await?;
    tablet
        .store
        .append_follow_up(sig, omkijken_core::model::FollowUpKind::Closed, "")?;
    tablet.sync().await?;
    for d in [&teacher, &mentor, &tablet] {
        let report = d.sync().await?;
        assert!(report.refused.is_empty(), "{}", d.label);
        let s = d.store.signal(sig)?;
        let entries: Vec<(String, String)> = s
            .follow_ups
            .iter()
            .map(|f| (f.author.clone(), f.kind.clone()))
            .collect();
        assert_eq!(s.facts, "zat alleen in de pauze", "{}", d.label);
        assert_eq!(entries.len(), 3, "{}: {entries:?}", d.label);
        for (author, kind) in [
            (COORDINATOR, "picked_up"),
            (MENTOR, "to_signaller"),
            (COORDINATOR, "closed"),
        ] {
            assert!(
                entries.contains(&(author.to_string(), kind.to_string())),
                "{}: {entries:?}",
                d.label
            );
        }
        assert!(d.store.outbox()?.is_empty(), "{}", d.label);
    }
    server.handle.shutdown().await?;
    Ok(())
}

/// Every string value a loaded document holds, at any depth (a signal's fields are plain
/// strings, no Automerge text).
fn strings_in(d: &Automerge) -> Vec<String> {
    use automerge::iter::DocItem;
    use automerge::{ScalarValueRef, ValueRef};
    let mut out = vec![];
    for item in d.iter() {
        let value = match &item.item {
            DocItem::Map(m) => &m.value,
            DocItem::List(l) => &l.value,
            DocItem::Text(_) => continue,
        };
        if let ValueRef::Scalar(ScalarValueRef::Str(v)) = value {
            out.push(v.to_string());
        }
    }
    out
}

/// DOMAIN.md: the signaller gets feedback that her signal was picked up; what the care team
/// knows is need-to-know. Their notes live in the signal's notes document, which she does
/// not read for being the author: a raw client of hers never receives a word of them, while
/// the status entries and a note addressed to her reach her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signaller_reads_the_status_and_what_is_addressed_to_her_never_the_care_notes()
-> Result<()> {
    use omkijken_core::model::FollowUpKind;
    const CARE_NOTE: &str = "zorgnotitie-canary: vader belt met het wijkteam";
    const MENTOR_NOTE: &str = "mentornotitie-canary: Noor huilde na de gym";
    const TO_HER: &str = "Dank je, we hebben het opgepakt met de ouders.";
    let (tmp, server) = school().await?;
    let teacher = enrolled(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let tablet = enrolled(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    let mentor = enrolled(&server, tmp.path(), MENTOR, "mentor phone").await?;

    // 1. The teacher (not the pupil's mentor) records a signal; the care coordinator picks
    //    it up, writes a note for the care team and one to the signaller; the mentor adds a
    //    note of her own.
    let sig = teacher.store.record_signal(shared_signal(PUPIL, true))?;
    teacher.sync().await?;
    tablet.sync().await?;
    mentor.sync().await?;
    tablet
        .store
        .append_follow_up(sig, FollowUpKind::PickedUp, "")?;
    tablet
        .store
        .append_follow_up(sig, FollowUpKind::FollowUp, CARE_NOTE)?;
    tablet
        .store
        .append_follow_up(sig, FollowUpKind::ToSignaller, TO_HER)?;
    mentor
        .store
        .append_follow_up(sig, FollowUpKind::FollowUp, MENTOR_NOTE)?;
    for d in [&tablet, &mentor, &tablet, &mentor] {
        let report = d.sync().await?;
        assert!(
            report.refused.is_empty(),
            "{}: {:?}",
            d.label,
            report.refused
        );
    }
    let signal = tablet.store.signal(sig)?;
    let notes = doc::signal_notes_id(SCHOOL, PUPIL, sig, &signal.category, signal.urgency);

    // 2. The care team and the mentor read every entry, their notes included.
    for d in [&tablet, &mentor] {
        let texts: Vec<String> = d
            .store
            .signal(sig)?
            .follow_ups
            .iter()
            .map(|f| f.text.clone())
            .collect();
        for t in [CARE_NOTE, MENTOR_NOTE, TO_HER] {
            assert!(texts.contains(&t.to_string()), "{}: {texts:?}", d.label);
        }
        assert!(d.held()?.contains(&notes), "{}", d.label);
    }
    // Their lists count what the signal shows each reader: the notes beside it as well for
    // the care team and the mentor; for the signaller the entries on the signal alone.
    teacher.sync().await?;
    let mut counts = vec![];
    for d in [&tablet, &mentor, &teacher] {
        let listed = d.store.list_signals(&omkijken_core::store::SignalFilter {
            pupil: Some(PUPIL.into()),
            ..Default::default()
        })?;
        let row = listed.iter().find(|s| s.id == sig).context("listed")?;
        let shown = d.store.signal(sig)?.follow_ups.len();
        assert_eq!(row.follow_ups as usize, shown, "{}", d.label);
        counts.push(shown);
    }
    assert!(
        counts[0] > counts[2],
        "the notes count for the care team only: {counts:?}"
    );

    // 3. The signaller's raw client: the catalog does not list the notes, a fetch of them
    //    answers like a document that does not exist, and the signal holds the status and
    //    the note to her, never a word of the notes.
    let (_, mut wire) = hostile(&server, tmp.path(), TEACHER).await?;
    assert!(wire.catalog.iter().any(|e| e.document_id == sig));
    assert!(!wire.catalog.iter().any(|e| e.document_id == notes));
    assert!(wire.fetch(notes).await?.is_none());
    // A `sync` frame for the notes is answered as for a document that does not exist.
    {
        use automerge::sync::{Message, State, SyncDoc};
        let first = Automerge::new()
            .generate_sync_message(&mut State::new())
            .expect("a first message");
        wire.send(Frame::Sync {
            document_id: notes,
            data: first.encode(),
        })
        .await?;
        // Answered in order: the fetch's answer comes after anything for the sync frame.
        wire.send(Frame::Fetch {
            docs: vec![omkijken_core::sync::FetchRequest {
                document_id: sig,
                have: vec![],
            }],
        })
        .await?;
        loop {
            match wire.next().await? {
                Frame::Sync { document_id, data } if document_id == notes => {
                    // Synced from nothing: no heads, and what it carries loads as nothing.
                    let m = Message::decode(&data)?;
                    assert!(m.heads.is_empty(), "{m:?}");
                    let mut d = Automerge::new();
                    d.receive_sync_message(&mut State::new(), m)?;
                    assert!(d.get_heads().is_empty());
                }
                Frame::Docs { cursor: 0, .. } => break,
                other => wire.other.push(other),
            }
        }
    }
    let stored = wire.fetch(sig).await?.expect("her own signal");
    let strings = strings_in(&stored);
    assert!(strings.iter().any(|s| s == TO_HER), "{strings:?}");
    for canary in [CARE_NOTE, MENTOR_NOTE] {
        assert!(
            !strings.iter().any(|s| s.contains(canary)),
            "{canary} reached the signaller"
        );
    }
    for f in &wire.other {
        let bytes = f.encode();
        for canary in [CARE_NOTE, MENTOR_NOTE] {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "a frame carried {canary}"
            );
        }
    }

    // 4. Her honest device: the status and the note to her, nothing else; it holds no notes.
    teacher.sync().await?;
    let entries: Vec<(String, String, String)> = teacher
        .store
        .signal(sig)?
        .follow_ups
        .into_iter()
        .map(|f| (f.author, f.kind, f.text))
        .collect();
    assert_eq!(
        entries,
        vec![
            (COORDINATOR.into(), "picked_up".into(), String::new()),
            (COORDINATOR.into(), "to_signaller".into(), TO_HER.into()),
        ]
    );
    assert!(!teacher.held()?.contains(&notes));

    // 5. The care team's own raw client cannot put a note where the signaller reads it: a
    //    note on the signal is refused, and so is a status with words of its own.
    let (_, mut care_wire) = hostile(&server, tmp.path(), COORDINATOR).await?;
    let on_server = care_wire.fetch(sig).await?.expect("the care team reads it");
    let mut note = follow_up("f-leak", COORDINATOR, "follow_up");
    note.text = CARE_NOTE.into();
    let mut status = follow_up("f-leak-2", COORDINATOR, "closed");
    status.text = CARE_NOTE.into();
    for (entry, want) in [(note, FORBIDDEN), (status, INVALID)] {
        let after = forge(&care_wire, sig, &on_server, |s: &mut Signal| {
            s.follow_ups.push(entry)
        });
        assert_eq!(care_wire.push_changes(sig, &on_server, &after).await?, want);
    }
    teacher.sync().await?;
    assert_eq!(teacher.store.signal(sig)?.follow_ups.len(), 2);

    // 6. A signal erased (the wrong pupil) takes its notes with it, everywhere.
    omkijken_core::transport::erase_record(&tablet.store, sig).await?;
    mentor.sync().await?;
    tablet.sync().await?;
    for d in [&tablet, &mentor] {
        assert!(!d.held()?.contains(&notes), "{}", d.label);
    }
    let rows = server.handle.admin().audit(AuditFilter::All).await?;
    assert!(
        rows.iter()
            .any(|r| r.action == AuditAction::Erase && r.document == Some(notes))
    );
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_and_a_working_note_are_their_authors_alone() -> Result<()> {
    let (tmp, server) = school().await?;
    let teacher = enrolled(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let mentor = enrolled(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let tablet = enrolled(&server, tmp.path(), COORDINATOR, "ib tablet").await?;

    // 1. An unshared draft signal (urgency 1: the coordinator reads it) and a private
    //    working note.
    let draft = teacher.store.record_signal(shared_signal(PUPIL, false))?;
    teacher.sync().await?;
    let note = mentor
        .store
        .start_conversation(PUPIL, "ik-jij-wij", "2026-11-02")?;
    mentor.store.edit_notes(note, 0, 0, "alleen voor mij")?;
    mentor.sync().await?;

    // 2. The coordinator's replaced app rewrites the draft, then adds to it.
    let (_, mut wire) = hostile(&server, tmp.path(), COORDINATOR).await?;
    let hostile_id = device_id(&server, COORDINATOR, &format!("{COORDINATOR} hostile")).await?;
    let stored = wire
        .fetch(draft)
        .await?
        .expect("urgency 1 reaches the care team");
    let rewritten = forge(&wire, draft, &stored, |s: &mut Signal| {
        s.facts = "anders opgeschreven".into()
    });
    assert_eq!(
        wire.push_changes(draft, &stored, &rewritten).await?,
        FORBIDDEN
    );
    let added = forge(&wire, draft, &stored, |s: &mut Signal| {
        s.follow_ups.push(follow_up("f", COORDINATOR, "follow_up"))
    });
    assert_eq!(wire.push_changes(draft, &stored, &added).await?, FORBIDDEN);

    // 3. The working note: the coordinator's device never gets it, and a copy that leaked
    //    (here: taken from the mentor's store) changed and pushed is answered as a
    //    document that does not exist would be.
    assert!(wire.fetch(note).await?.is_none());
    let leaked = mentor.store.load(note)?.unwrap();
    let changed = forge(&wire, note, &leaked, |c: &mut Conversation| {
        c.notes.splice(0, 0, "meegelezen: ").unwrap();
    });
    let (on_note, note_frames) = wire.push(note, changed.save()).await?;
    let elsewhere = DocumentId::random();
    let (on_unknown, unknown_frames) = wire.push(elsewhere, changed.save()).await?;
    assert_eq!(on_note, FORBIDDEN);
    assert_eq!(on_note, on_unknown);
    assert_eq!(shape(&note_frames, note), shape(&unknown_frames, elsewhere));

    // 4. Nothing stored; every refusal audited.
    assert_eq!(
        wire.fetch(draft).await?.unwrap().get_heads(),
        stored.get_heads()
    );
    assert_eq!(refusals_audited(&server, &hostile_id, draft).await?, 2);
    assert_eq!(refusals_audited(&server, &hostile_id, note).await?, 1);
    let before = heads_of(&mentor.store, note)?;
    mentor.sync().await?;
    assert_eq!(heads_of(&mentor.store, note)?, before);
    assert_eq!(
        mentor.store.conversation(note)?.notes.as_str(),
        "alleen voor mij"
    );

    // 5. The honest author edits and shares her draft; the coordinator sees her words.
    teacher
        .store
        .edit_signal_draft(draft, |s| s.facts = "zat alleen, huilde".into())?;
    teacher.store.share_signal(draft)?;
    assert!(teacher.sync().await?.refused.is_empty());
    tablet.sync().await?;
    assert_eq!(tablet.store.signal(draft)?.facts, "zat alleen, huilde");
    assert!(tablet.store.signal(draft)?.follow_ups.is_empty());
    server.handle.shutdown().await?;
    Ok(())
}

/// The frames of an answer about `id`, with `id` left out: what a device could compare.
fn shape(frames: &[Frame], id: DocumentId) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Refused { docs } => format!(
                "refused {:?}",
                docs.iter()
                    .map(|r| (r.document_id == id, r.reason))
                    .collect::<Vec<_>>()
            ),
            Frame::Purge { docs } => format!(
                "purge {:?}",
                docs.iter().map(|d| *d == id).collect::<Vec<_>>()
            ),
            other => other.type_name().to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_authors_are_refused_in_every_record_kind() -> Result<()> {
    let (tmp, server) = school().await?;
    let tablet = enrolled(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    let mentor = enrolled(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let (_, mut as_teacher) = hostile(&server, tmp.path(), TEACHER).await?;
    let (_, mut as_mentor) = hostile(&server, tmp.path(), MENTOR).await?;
    let (_, mut as_coordinator) = hostile(&server, tmp.path(), COORDINATOR).await?;
    let now = 1_790_000_000_000;
    let header = |kind: Kind, pupil: Option<&str>, author: &str| Header {
        kind: kind.as_str().into(),
        school: SCHOOL.into(),
        pupil: pupil.map(Into::into),
        author: author.into(),
        created_at: now,
        schema: SCHEMA_VERSION,
    };

    // 1. Honest documents to write into: a shared conversation, a case, a thermometer
    //    month.
    let sig = mentor
        .store
        .record_signal(shared_signal(PUPIL_IN_CARE, true))?;
    let conv = mentor
        .store
        .start_conversation(PUPIL_IN_CARE, "ik-jij-wij", "2026-11-02")?;
    mentor.store.share_conversation(conv)?;
    mentor
        .store
        .record_thermometer(omkijken_core::store::NewThermometerEntry {
            pupil: PUPIL.into(),
            at: mentor.store.now(),
            score: 4,
            emotions: vec![],
            wants_to_talk: false,
            note: None,
        })?;
    mentor.sync().await?;
    tablet.sync().await?;
    let case = tablet.store.open_case(PUPIL_IN_CARE, &[sig])?;
    tablet.sync().await?;
    let month = doc::thermometer_id(
        SCHOOL,
        PUPIL,
        &omkijken_core::model::month_of(mentor.store.now()),
        0,
    );

    let mut refused: Vec<(String, DocumentId, Verdict)> = vec![];
    // 2. Signal: a new one in the mentor's name, sent by the teacher.
    let id = DocumentId::random();
    let mut rec = as_teacher_signal();
    rec.facts = "in andermans naam".into();
    let d = doc::create(
        as_teacher.actor.clone(),
        now,
        &header(Kind::Signal, Some(PUPIL), MENTOR),
        &rec,
    )?;
    refused.push((
        "signal in the mentor's name".into(),
        id,
        as_teacher.push(id, d.save()).await?.0,
    ));
    // ... and one in her own name written with another device's actor.
    let id = DocumentId::random();
    let d = doc::create(
        ActorId::from(*b"another-devices!"),
        now,
        &header(Kind::Signal, Some(PUPIL), TEACHER),
        &as_teacher_signal(),
    )?;
    refused.push((
        "signal with another device's actor".into(),
        id,
        as_teacher.push(id, d.save()).await?.0,
    ));

    // 3. Thermometer: an entry in the mentor's name (the teacher teaches the group).
    let m = as_teacher
        .fetch(month)
        .await?
        .expect("the teacher of the group reads it");
    let forged = forge(&as_teacher, month, &m, |t: &mut ThermometerMonth| {
        t.entries.push(ThermometerEntry {
            id: "e-forged".into(),
            at: now,
            scale: "smileys-5".into(),
            score: 1,
            emotions: vec![],
            wants_to_talk: true,
            note: None,
            recorded_by: MENTOR.into(),
            source: None,
            session: None,
        })
    });
    refused.push((
        "thermometer entry in the mentor's name".into(),
        month,
        as_teacher.push_changes(month, &m, &forged).await?,
    ));

    // 4. Conversation: created in the mentor's name by the coordinator; an agreement in the
    //    coordinator's name added by the mentor.
    let id = DocumentId::random();
    let c = Conversation {
        held_on: "2026-11-02".into(),
        participants: vec![MENTOR.into(), "pupil".into()],
        template_id: "ik-jij-wij".into(),
        answers: Default::default(),
        notes: Default::default(),
        agreements: vec![],
        status: "draft".into(),
        visibility: "shared".into(),
    };
    let d = doc::create(
        as_coordinator.actor.clone(),
        now,
        &header(Kind::Conversation, Some(PUPIL_IN_CARE), MENTOR),
        &c,
    )?;
    refused.push((
        "conversation in the mentor's name".into(),
        id,
        as_coordinator.push(id, d.save()).await?.0,
    ));
    let stored = as_mentor.fetch(conv).await?.unwrap();
    let forged = forge(&as_mentor, conv, &stored, |c: &mut Conversation| {
        c.agreements.push(Agreement {
            id: "a-forged".into(),
            text: "de IB'er belt de ouders".into(),
            owner: COORDINATOR.into(),
            due: None,
            done: false,
            by: Some(COORDINATOR.into()),
        })
    });
    refused.push((
        "agreement in the coordinator's name".into(),
        conv,
        as_mentor.push_changes(conv, &stored, &forged).await?,
    ));

    // 5. Meldcode case: a step entry in the mentor's name, by the coordinator's device.
    let stored = as_coordinator.fetch(case).await?.unwrap();
    let forged = forge(&as_coordinator, case, &stored, |c: &mut Case| {
        c.steps.push(CaseStep {
            id: "s-forged".into(),
            step: 2,
            on: "2026-11-03".into(),
            participants: vec![],
            outcome: "overlegd".into(),
            skipped_because: None,
            parents: None,
            by: MENTOR.into(),
            at: now,
        })
    });
    refused.push((
        "case step in the mentor's name".into(),
        case,
        as_coordinator.push_changes(case, &stored, &forged).await?,
    ));

    // 6. Excursion: planned in the mentor's name by the teacher.
    let id = DocumentId::random();
    let trip = Excursion {
        name: "Schoolkamp".into(),
        place: "Ardennen".into(),
        starts_on: "2026-06-01".into(),
        ends_on: "2026-06-03".into(),
        participants: vec![PUPIL.into()],
        staff: vec![TEACHER.into()],
        contacts: vec![],
    };
    let d = doc::create(
        as_teacher.actor.clone(),
        now,
        &header(Kind::Excursion, None, MENTOR),
        &trip,
    )?;
    refused.push((
        "excursion in the mentor's name".into(),
        id,
        as_teacher.push(id, d.save()).await?.0,
    ));

    // 6b. Oudercontact: created in the mentor's name by the coordinator (who shares the
    //     dossier of a pupil in care); one in her own name by a teacher who is not the
    //     pupil's mentor.
    let contact = ParentContact {
        held_on: "2026-11-02".into(),
        channel: "phone".into(),
        staff: vec![MENTOR.into()],
        parents: vec![ParentPresent {
            role: "vader".into(),
            name: None,
        }],
        pupil_present: false,
        discussed: Default::default(),
        agreements: vec![],
        status: "draft".into(),
    };
    let id = DocumentId::random();
    let d = doc::create(
        as_coordinator.actor.clone(),
        now,
        &header(Kind::ParentContact, Some(PUPIL_IN_CARE), MENTOR),
        &contact,
    )?;
    refused.push((
        "parent contact in the mentor's name".into(),
        id,
        as_coordinator.push(id, d.save()).await?.0,
    ));
    let id = DocumentId::random();
    let d = doc::create(
        as_teacher.actor.clone(),
        now,
        &header(Kind::ParentContact, Some(PUPIL), TEACHER),
        &contact,
    )?;
    refused.push((
        "parent contact by a teacher who is not the mentor".into(),
        id,
        as_teacher.push(id, d.save()).await?.0,
    ));

    // 7. Roster: written by the server only.
    // Her own view of it (she never holds the whole roster).
    let rid = doc::roster_view_id(SCHOOL, TEACHER);
    let r = as_teacher.fetch(rid).await?.unwrap();
    let mut changed = r.clone();
    changed.set_actor(as_teacher.actor.clone());
    let mut tx = changed.transaction();
    let rec = tx.get(ROOT, "record")?.unwrap().1;
    let staff = tx.get(&rec, "staff")?.unwrap().1;
    let me = tx.get(&staff, TEACHER)?.unwrap().1;
    let roles = tx.put_object(&me, "roles", ObjType::List)?;
    tx.insert(&roles, 0, "care_coordinator")?;
    tx.commit();
    refused.push((
        "the roster".into(),
        rid,
        as_teacher.push_changes(rid, &r, &changed).await?,
    ));

    // Every one refused with its documented reason.
    let want = [
        FORBIDDEN,
        Verdict::Refused(RefusalReason::ForgedActor),
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
        FORBIDDEN,
    ];
    let got: Vec<Verdict> = refused.iter().map(|(_, _, v)| v.clone()).collect();
    assert_eq!(got, want, "{refused:?}");

    // 8. Nothing of it stored or forwarded, each refusal audited.
    let audit = server.handle.admin().audit(AuditFilter::All).await?;
    for (what, id, _) in &refused {
        assert!(
            audit
                .iter()
                .any(|r| r.action == AuditAction::Refuse && r.document == Some(*id)),
            "{what}: audited"
        );
    }
    for d in [&mentor, &tablet] {
        let report = d.sync().await?;
        assert!(report.refused.is_empty());
        for (what, id, _) in &refused {
            // Only the honest documents are there (their content is checked below).
            if d.store.info(*id)?.is_some() {
                assert!(
                    [month, conv, case, rid].contains(id),
                    "{what} reached {}",
                    d.label
                );
            }
        }
    }
    let m: ThermometerMonth = doc::record(month, &mentor.store.load(month)?.unwrap())?;
    assert!(
        m.entries
            .iter()
            .all(|e| e.recorded_by == MENTOR && e.id != "e-forged")
    );
    assert!(mentor.store.conversation(conv)?.agreements.is_empty());
    assert!(tablet.store.case(case)?.steps.is_empty());
    assert!(
        !mentor.store.roster()?.staff[TEACHER]
            .roles
            .contains(&"care_coordinator".to_string())
    );

    // 9. The honest devices keep working: a step by the coordinator, an agreement by the
    //    mentor.
    tablet.store.record_case_step(
        case,
        NewCaseStep {
            step: 1,
            on: "2026-11-03".into(),
            participants: vec![],
            outcome: "signalen in kaart".into(),
            skipped_because: None,
            parents: None,
        },
    )?;
    mentor
        .store
        .add_agreement(conv, "wekelijks gesprek", MENTOR, None)?;
    for d in [&mentor, &tablet, &mentor, &tablet] {
        assert!(d.sync().await?.refused.is_empty());
    }
    assert_eq!(tablet.store.case(case)?.steps.len(), 1);
    assert_eq!(tablet.store.conversation(conv)?.agreements.len(), 1);
    server.handle.shutdown().await?;
    Ok(())
}

/// A shared urgency-1 signal record about a pupil, as the teacher would write it.
fn as_teacher_signal() -> Signal {
    omkijken_core::testing::signal_record(1_790_000_000_000, "gang", 1, "zat alleen")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_push_that_loads_into_millions_of_objects_is_refused_unloaded() -> Result<()> {
    let (tmp, server) = school().await?;
    let tablet = enrolled(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    let (_, mut wire) = hostile(&server, tmp.path(), TEACHER).await?;
    let now = 1_790_000_000_000;
    // A valid signal of her own, with an extra list of two million items: 2 KB on the wire.
    let id = DocumentId::random();
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: SCHOOL.into(),
        pupil: Some(PUPIL.into()),
        author: TEACHER.into(),
        created_at: now,
        schema: SCHEMA_VERSION,
    };
    let mut d = doc::create(wire.actor.clone(), now, &header, &as_teacher_signal())?;
    let mut tx = d.transaction();
    let rec = tx.get(ROOT, "record")?.unwrap().1;
    let list = tx.put_object(&rec, "extra", ObjType::List)?;
    tx.splice(
        &list,
        0,
        0,
        std::iter::repeat_n(automerge::ScalarValue::Int(1), 2_000_000),
    )?;
    tx.commit();
    let bytes = d.save();
    assert!(bytes.len() < 16 * 1024, "{} bytes", bytes.len());
    let started = std::time::Instant::now();
    let (verdict, _) = wire.push(id, bytes).await?;
    assert_eq!(verdict, Verdict::Refused(RefusalReason::TooLarge));
    // Loading it takes seconds in release and far longer in a debug build; the server
    // answered without loading it (the bound is loose for a busy machine).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    tablet.sync().await?;
    assert!(tablet.store.info(id)?.is_none(), "never forwarded");
    // The same signal without the list goes through.
    let id2 = DocumentId::random();
    let fine = doc::create(wire.actor.clone(), now, &header, &as_teacher_signal())?;
    assert!(matches!(
        wire.push(id2, fine.save()).await?.0,
        Verdict::Acked(_)
    ));
    tablet.sync().await?;
    assert!(tablet.store.info(id2)?.is_some());
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_erased_and_other_schools_documents_answer_like_missing_ones() -> Result<()> {
    let (tmp, server) = school().await?;
    let admin = server.handle.admin();
    // A second school, with a pupil whose thermometer month exists, and a third that does
    // not exist at all.
    admin.create_school("bs-andere", "Andere School").await?;
    admin
        .import_roster(
            "bs-andere",
            &[
                "type,id,name,group,age_band,in_care,roles,mentors,teaches",
                "group,g1,Groep 1,,,,,,",
                "staff,m-andere,Juf Andere,,,,mentor,,g1",
                "pupil,eck-9001,Lotte,g1,po_5_8,false,,m-andere,",
                "pupil,eck-9002,Bram,g1,po_5_8,false,,m-andere,",
            ]
            .join("\n"),
        )
        .await?;
    let code = admin.issue_code("bs-andere", "m-andere").await?;
    let other = Store::open_with(
        tmp.path().join("andere.db"),
        KEY,
        omkijken_core::store::StoreOptions::default(),
    )?;
    omkijken_core::transport::enroll(&server.url(), &code, "andere phone", &other).await?;
    omkijken_core::transport::sync_once(&other).await?;
    let at = other.now();
    other.record_thermometer(omkijken_core::store::NewThermometerEntry {
        pupil: "eck-9001".into(),
        at,
        score: 3,
        emotions: vec![],
        wants_to_talk: false,
        note: None,
    })?;
    omkijken_core::transport::sync_once(&other).await?;
    let month = omkijken_core::model::month_of(at);

    // In this school: a private note of the mentor, and a signal that gets erased.
    let mentor = enrolled(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let teacher = enrolled(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let note = mentor
        .store
        .start_conversation(PUPIL, "ik-jij-wij", "2026-11-02")?;
    mentor.sync().await?;
    let erased = teacher
        .store
        .record_signal(shared_signal(OTHER_PUPIL, true))?;
    teacher.sync().await?;
    admin.erase_pupil(SCHOOL, OTHER_PUPIL).await?;

    let (_, mut wire) = hostile(&server, tmp.path(), TEACHER).await?;
    // Ids a device can compute or may have seen, each next to one that does not exist.
    let pairs = [
        ("private note", note, DocumentId::random()),
        ("erased signal", erased, DocumentId::random()),
        (
            "another school's thermometer month",
            doc::thermometer_id("bs-andere", "eck-9001", &month, 0),
            doc::thermometer_id("bs-andere", "eck-9002", &month, 0),
        ),
        (
            "another school's roster",
            doc::roster_id("bs-andere"),
            doc::roster_id("bs-bestaat-niet"),
        ),
        (
            "a staff member's view of another school's roster",
            doc::roster_view_id("bs-andere", "m-andere"),
            doc::roster_view_id("bs-andere", "niemand"),
        ),
    ];
    let note_bytes = mentor.store.load(note)?.unwrap().save();
    for (what, existing, missing) in pairs {
        // Garbage, and the bytes of a plausible document for each id (the same bytes, or
        // for singletons each id's own deterministic genesis).
        let plausible = |id: DocumentId| -> Result<Vec<u8>> {
            Ok(match what {
                "another school's thermometer month" => {
                    let pupil = if id == existing {
                        "eck-9001"
                    } else {
                        "eck-9002"
                    };
                    doc::thermometer_genesis("bs-andere", pupil, &month, 0)?
                        .1
                        .save()
                }
                "another school's roster" => {
                    let school = if id == existing {
                        "bs-andere"
                    } else {
                        "bs-bestaat-niet"
                    };
                    doc::roster_genesis(school)?.1.save()
                }
                "a staff member's view of another school's roster" => {
                    let user = if id == existing {
                        "m-andere"
                    } else {
                        "niemand"
                    };
                    doc::roster_view_genesis("bs-andere", user)?.1.save()
                }
                _ => note_bytes.clone(),
            })
        };
        for garbage in [true, false] {
            let bytes = |id| -> Result<Vec<u8>> {
                if garbage {
                    Ok(b"not automerge".to_vec())
                } else {
                    plausible(id)
                }
            };
            let (v1, f1) = wire.push(existing, bytes(existing)?).await?;
            let (v2, f2) = wire.push(missing, bytes(missing)?).await?;
            assert_eq!(v1, v2, "{what}");
            assert_eq!(shape(&f1, existing), shape(&f2, missing), "{what}");
            assert!(matches!(v1, Verdict::Refused(_)), "{what}: {v1:?}");
        }
        // Nor does a fetch tell them apart.
        assert!(wire.fetch(existing).await?.is_none(), "{what}");
    }
    // Need-to-know: in her own school too, the teacher's device gets neither the whole
    // roster nor anyone else's view of it, and her view holds no care-track flag and no
    // mentorship.
    assert!(wire.fetch(doc::roster_id(SCHOOL)).await?.is_none());
    assert!(
        wire.fetch(doc::roster_view_id(SCHOOL, COORDINATOR))
            .await?
            .is_none()
    );
    let (_, mut as_mentor) = hostile(&server, tmp.path(), MENTOR).await?;
    assert!(
        as_mentor
            .fetch(doc::roster_view_id(SCHOOL, TEACHER))
            .await?
            .is_none()
    );
    let view = teacher.store.roster()?;
    assert_eq!(view.viewer.as_deref(), Some(TEACHER));
    assert!(view.pupils.len() >= 3, "every pupil, for signals");
    assert!(
        view.pupils
            .values()
            .all(|p| !p.in_care && p.mentors.is_empty())
    );
    assert!(!teacher.held()?.contains(&doc::roster_id(SCHOOL)));
    // The other school's month is as its mentor wrote it.
    let m: ThermometerMonth = doc::record(
        doc::thermometer_id("bs-andere", "eck-9001", &month, 0),
        &other
            .load(doc::thermometer_id("bs-andere", "eck-9001", &month, 0))?
            .unwrap(),
    )?;
    assert_eq!(m.entries.len(), 1);
    assert!(
        omkijken_core::transport::sync_once(&other)
            .await?
            .refused
            .is_empty()
    );
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_of_a_type_the_server_does_not_know_is_ignored_and_the_session_goes_on()
-> Result<()> {
    let (tmp, server) = school().await?;
    let tablet = enrolled(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    let (_, mut wire) = hostile(&server, tmp.path(), TEACHER).await?;
    // A newer client's frame: a CBOR map with a text `type` this server does not know.
    let mut future = Vec::new();
    ciborium::into_writer(
        &serde_json::json!({"type": "leaseRenewed", "lease": 14, "nested": {"a": [1, 2]}}),
        &mut future,
    )?;
    wire.send_raw(future).await?;
    // The same session pushes a signal and has it acknowledged.
    let now = 1_790_000_000_000;
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: SCHOOL.into(),
        pupil: Some(PUPIL.into()),
        author: TEACHER.into(),
        created_at: now,
        schema: SCHEMA_VERSION,
    };
    let id = DocumentId::random();
    let d = doc::create(wire.actor.clone(), now, &header, &as_teacher_signal())?;
    let (verdict, _) = wire.push(id, d.save()).await?;
    assert!(matches!(verdict, Verdict::Acked(_)), "{verdict:?}");
    tablet.sync().await?;
    assert!(tablet.store.info(id)?.is_some(), "delivered");
    // A push of which nothing is taken is answered too: an empty ack, then the refusal.
    let (verdict, frames) = wire.push(DocumentId::random(), b"kapot".to_vec()).await?;
    assert_eq!(verdict, Verdict::Refused(RefusalReason::Malformed));
    assert!(
        matches!(&frames[..], [Frame::Ack { docs }, Frame::Refused { .. }] if docs.is_empty()),
        "{frames:?}"
    );
    // A known type whose fields do not parse is still malformed, and ends the session.
    let mut broken = Vec::new();
    ciborium::into_writer(
        &serde_json::json!({"type": "push", "docs": "none"}),
        &mut broken,
    )?;
    wire.send_raw(broken).await?;
    match wire.next().await? {
        Frame::Error { code, .. } => {
            assert_eq!(code, omkijken_core::sync::ErrorCode::Malformed)
        }
        other => panic!("{other:?}"),
    }
    server.handle.shutdown().await?;
    Ok(())
}

/// A pupil session's reading as a replaced app builds it: `source` pupil, in `session`'s
/// name, for the teacher who started it.
fn pupil_entry(id: &str, session: &str) -> ThermometerEntry {
    ThermometerEntry {
        id: id.into(),
        at: 1_790_000_000_000,
        scale: "smileys-5".into(),
        score: 2,
        emotions: vec![],
        wants_to_talk: true,
        note: None,
        recorded_by: TEACHER.into(),
        source: Some(omkijken_core::model::SOURCE_PUPIL.into()),
        session: Some(session.into()),
    }
}

/// Pupil mode with a replaced app: the pupil session's token (a device the server enrolled
/// with a scope) reads nothing (catalog, fetch, `sync` frames, requests) and writes nothing
/// but its group's pupils' own readings; every other write is refused with the documented
/// reason and audited, and the one it may make reaches the mentor, acknowledged with the
/// session's own heads only. A staff device may not claim a pupil entered a reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupil_session_device_reads_nothing_and_writes_only_its_pupils_own_readings() -> Result<()>
{
    let (tmp, server) = school().await?;
    let dir = tmp.path();
    let header = |kind: Kind, pupil: Option<&str>, author: &str| Header {
        kind: kind.as_str().into(),
        school: SCHOOL.into(),
        pupil: pupil.map(Into::into),
        author: author.into(),
        created_at: 1_790_000_000_000,
        schema: SCHEMA_VERSION,
    };
    // 1. The mentor wrote a reading for Noor this month and a signal about her.
    let teacher = enrolled(&server, dir, TEACHER, "teacher phone").await?;
    let mentor = enrolled(&server, dir, MENTOR, "mentor phone").await?;
    mentor
        .store
        .record_thermometer(omkijken_core::store::NewThermometerEntry {
            pupil: PUPIL.into(),
            at: mentor.store.now(),
            score: 4,
            emotions: vec![],
            wants_to_talk: false,
            note: Some("Ruzie gehad, daarna weer vrolijk".into()),
        })?;
    let sig = mentor.store.record_signal(shared_signal(PUPIL, true))?;
    mentor.sync().await?;
    let month_name = omkijken_core::model::month_of(mentor.store.now());
    let month = doc::thermometer_id(SCHOOL, PUPIL, &month_name, 0);
    let server_heads = heads_of(&mentor.store, month)?;

    // 2. The teacher starts a pupil session; its app is replaced by a script.
    let session_store = Store::open_with(
        dir.join("pupil-session.db"),
        KEY,
        omkijken_core::store::StoreOptions::default(),
    )?;
    let session =
        omkijken_core::transport::start_pupil_session(&teacher.store, "g6b", 2, session_store)
            .await?;
    let sid = session.session_id().to_string();
    let mut wire = Wire::connect_with(&server, session.store()).await?;
    let ps_device = server
        .handle
        .admin()
        .devices()
        .await?
        .into_iter()
        .find(|d| d.scope.is_some())
        .map(|d| d.id)
        .expect("the session's device");

    // 3. Reads: an empty catalog; the month, the signal and the roster views look unknown.
    assert!(wire.catalog.is_empty(), "{:?}", wire.catalog);
    for id in [
        month,
        sig,
        doc::roster_view_id(SCHOOL, TEACHER),
        doc::roster_id(SCHOOL),
    ] {
        assert!(wire.fetch(id).await?.is_none(), "{id} was sent");
    }
    // A `sync` frame is refused, with nothing synced.
    {
        use automerge::sync::{State, SyncDoc};
        let first = Automerge::new()
            .generate_sync_message(&mut State::new())
            .expect("a first message");
        wire.send(Frame::Sync {
            document_id: month,
            data: first.encode(),
        })
        .await?;
        loop {
            match wire.next().await? {
                Frame::Refused { docs } => {
                    assert_eq!(docs[0].document_id, month);
                    assert_eq!(docs[0].reason, RefusalReason::Forbidden);
                    break;
                }
                Frame::Sync { .. } => panic!("a pupil session was synced"),
                other => wire.other.push(other),
            }
        }
    }
    // The same token on the automerge-repo endpoint reads nothing either: the month, the
    // signal and the teacher's roster view are `doc-unavailable`, like an id nobody used.
    {
        let token = session
            .store()
            .setting(omkijken_core::transport::SETTING_TOKEN)?
            .expect("enrolled");
        let mut peer = omkijken_tests::repo_peer::RepoPeer::connect(&server, &token).await?;
        for id in [
            month,
            sig,
            doc::roster_view_id(SCHOOL, TEACHER),
            DocumentId::random(),
        ] {
            let (found, answer) = peer.find(&id.to_automerge_repo()).await?;
            assert!(found.is_none(), "{id} was synced to a pupil session");
            assert_eq!(answer.kind(), "doc-unavailable");
        }
    }
    // One-shot requests: refused (a pupil session asks nothing).
    assert!(matches!(
        omkijken_core::transport::set_care_track(session.store(), PUPIL, true, "signal").await,
        Err(omkijken_core::Error::Forbidden(_))
    ));

    // 4. Writes the session may not make, each built on the month's genesis.
    let (_, genesis) = doc::thermometer_genesis(SCHOOL, PUPIL, &month_name, 0)?;
    let add = |wire: &Wire, e: ThermometerEntry| {
        forge(wire, month, &genesis, |t: &mut ThermometerMonth| {
            t.entries.push(e)
        })
    };
    let mut refused: Vec<(&str, DocumentId, Verdict, Verdict)> = vec![];
    let staff_like = ThermometerEntry {
        source: None,
        session: None,
        ..pupil_entry("e-staff", &sid)
    };
    let d = add(&wire, staff_like);
    refused.push((
        "a staff reading",
        month,
        wire.push(month, d.save()).await?.0,
        FORBIDDEN,
    ));
    let d = add(&wire, pupil_entry("e-other", "ps-another-session"));
    refused.push((
        "a reading in another session's name",
        month,
        wire.push(month, d.save()).await?.0,
        FORBIDDEN,
    ));
    let d = add(
        &wire,
        ThermometerEntry {
            note: Some("Noor is een zeur".into()),
            ..pupil_entry("e-note", &sid)
        },
    );
    refused.push((
        "a reading with a note",
        month,
        wire.push(month, d.save()).await?.0,
        FORBIDDEN,
    ));
    let d = add(
        &wire,
        ThermometerEntry {
            scale: "cijfer-10".into(),
            score: 8,
            ..pupil_entry("e-scale", &sid)
        },
    );
    refused.push((
        "a reading on another age band's scale",
        month,
        wire.push(month, d.save()).await?.0,
        INVALID,
    ));
    let d = add(
        &wire,
        ThermometerEntry {
            recorded_by: MENTOR.into(),
            ..pupil_entry("e-name", &sid)
        },
    );
    refused.push((
        "a reading under another teacher's name",
        month,
        wire.push(month, d.save()).await?.0,
        FORBIDDEN,
    ));
    let asked = add(&wire, pupil_entry("e-asks", &sid));
    let d = forge(&wire, month, &asked, |t: &mut ThermometerMonth| {
        t.answers.push(omkijken_core::model::TalkAnswer {
            entry: "e-asks".into(),
            on: "2026-11-24".into(),
            by: TEACHER.into(),
            conversation: None,
        })
    });
    refused.push((
        "an answer to a request",
        month,
        wire.push(month, d.save()).await?.0,
        FORBIDDEN,
    ));
    // Daan is in groep 7a: his month, new or not, is not the session's.
    let daan = doc::thermometer_id(SCHOOL, OTHER_PUPIL, &month_name, 0);
    let (_, daan_genesis) = doc::thermometer_genesis(SCHOOL, OTHER_PUPIL, &month_name, 0)?;
    let d = forge(&wire, daan, &daan_genesis, |t: &mut ThermometerMonth| {
        t.entries.push(pupil_entry("e-daan", &sid))
    });
    refused.push((
        "a reading of a pupil of another group",
        daan,
        wire.push(daan, d.save()).await?.0,
        FORBIDDEN,
    ));
    // A signal in the teacher's name.
    let id = DocumentId::random();
    let mut s = as_teacher_signal();
    s.facts = "door de leerling ingevuld".into();
    let d = doc::create(
        wire.actor.clone(),
        1_790_000_000_000,
        &header(Kind::Signal, Some(PUPIL), TEACHER),
        &s,
    )?;
    refused.push((
        "a new signal",
        id,
        wire.push(id, d.save()).await?.0,
        FORBIDDEN,
    ));
    // A change to the mentor's signal is judged as a new document: forbidden.
    let d = doc::create(
        wire.actor.clone(),
        1_790_000_000_000,
        &header(Kind::Signal, Some(PUPIL), TEACHER),
        &as_teacher_signal(),
    )?;
    refused.push((
        "a write under the id of the mentor's signal",
        sig,
        wire.push(sig, d.save()).await?.0,
        FORBIDDEN,
    ));
    let mut failed = vec![];
    for (what, id, got, want) in &refused {
        if got != want {
            failed.push(format!("{what}: got {got:?}, want {want:?}"));
        }
        if refusals_audited(&server, &ps_device, *id).await? == 0 {
            failed.push(format!("{what}: no refusal in the audit log"));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
    assert_eq!(heads_of(&mentor.store, month)?, server_heads);

    // 5. The one write it may make: Noor's own reading. Acknowledged with the session's
    //    own heads, not the month's (which hold the mentor's reading too).
    let d = add(&wire, pupil_entry("e-noor", &sid));
    let (verdict, frames) = wire.push(month, d.save()).await?;
    assert_eq!(verdict, Verdict::Acked(d.get_heads()));
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f, Frame::Docs { docs, .. } if !docs.is_empty())),
        "nothing delivered to a pupil session: {frames:?}"
    );
    // The mentor's live push or next sync brings it; the session's session got nothing.
    mentor.sync().await?;
    let m = mentor.store.thermometer_month(PUPIL, &month_name)?.unwrap();
    let noor = m.entries.iter().find(|e| e.id == "e-noor").expect("merged");
    assert!(noor.by_pupil() && noor.session.as_deref() == Some(sid.as_str()));
    assert_eq!(m.entries.len(), 2);
    assert!(
        !wire
            .other
            .iter()
            .any(|f| matches!(f, Frame::Docs { docs, .. } if !docs.is_empty())),
        "a live push reached the pupil session"
    );

    // 6. A staff device may not claim the pupil entered a reading.
    let (_, mut as_teacher) = hostile(&server, dir, TEACHER).await?;
    let m = as_teacher
        .fetch(month)
        .await?
        .expect("the teacher reads it");
    let d = forge(&as_teacher, month, &m, |t: &mut ThermometerMonth| {
        t.entries.push(pupil_entry("e-claimed", &sid))
    });
    assert_eq!(as_teacher.push_changes(month, &m, &d).await?, FORBIDDEN);
    Ok(())
}

/// A mentor's pupil session with the group's sociogram round open, its app replaced: it
/// may add a pupil's own answers in its own name, and nothing else of a sociogram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupil_session_device_adds_only_its_pupils_own_sociogram_answers() -> Result<()> {
    use omkijken_core::model::{SociogramAnswer, SociogramAnswers, SociogramQuestion};
    let (tmp, server) = school().await?;
    let dir = tmp.path();
    // 1. The mentor of groep 6b opens a round and starts a pupil session.
    let mentor = enrolled(&server, dir, MENTOR, "mentor phone").await?;
    let round = mentor.store.open_sociogram_round(
        "g6b",
        "2026-12-07",
        vec![SociogramQuestion {
            id: "spelen_graag".into(),
            text: "Met wie speel je graag?".into(),
            polarity: "positive".into(),
        }],
    )?;
    mentor.sync().await?;
    let session_store = Store::open_with(
        dir.join("sociogram-session.db"),
        KEY,
        omkijken_core::store::StoreOptions::default(),
    )?;
    let session =
        omkijken_core::transport::start_pupil_session(&mentor.store, "g6b", 2, session_store)
            .await?;
    assert!(session.sociogram().is_some());
    let sid = session.session_id().to_string();
    let mut wire = Wire::connect_with(&server, session.store()).await?;
    assert!(wire.catalog.is_empty());
    assert!(wire.fetch(round).await?.is_none(), "the round is not sent");

    // 2. Noor's answers document, built on its genesis by the script.
    let (id, genesis) = doc::sociogram_answers_genesis(SCHOOL, round, "g6b", PUPIL)?;
    let given = |source: &str, session: Option<&str>, by: &str, named: &[&str]| SociogramAnswer {
        id: format!("a-{source}-{}", named.len()),
        question: "spelen_graag".into(),
        pupils: named.iter().map(|p| p.to_string()).collect(),
        at: 1_790_000_000_000,
        recorded_by: by.into(),
        source: source.into(),
        session: session.map(Into::into),
    };
    let with = |wire: &Wire, a: SociogramAnswer| {
        forge(wire, id, &genesis, |s: &mut SociogramAnswers| {
            s.answers.push(a)
        })
    };
    let cases = [
        (
            "answers entered as staff",
            with(&wire, given("staff", None, MENTOR, &[PUPIL_IN_CARE])),
            FORBIDDEN,
        ),
        (
            "answers in another session's name",
            with(
                &wire,
                given("pupil", Some("ps-else"), MENTOR, &[PUPIL_IN_CARE]),
            ),
            FORBIDDEN,
        ),
        (
            "answers in another teacher's name",
            with(&wire, given("pupil", Some(&sid), TEACHER, &[PUPIL_IN_CARE])),
            FORBIDDEN,
        ),
        (
            "a classmate of another group named",
            with(&wire, given("pupil", Some(&sid), MENTOR, &[OTHER_PUPIL])),
            INVALID,
        ),
    ];
    let mut failed = vec![];
    for (what, d, want) in cases {
        let got = wire.push(id, d.save()).await?.0;
        if got != want {
            failed.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }
    // The round itself: closing it is the mentor's, never the session's.
    let closed = doc::create(
        wire.actor.clone(),
        1_790_000_000_000,
        &doc::sociogram_answers_header(SCHOOL, PUPIL),
        &SociogramAnswers {
            round: round.to_string(),
            group: "g7a".into(),
            answers: vec![],
        },
    )?;
    let other = DocumentId::random();
    let got = wire.push(other, closed.save()).await?.0;
    if got == Verdict::Acked(closed.get_heads()) {
        failed.push("a document of its own making was admitted".into());
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));

    // 3. Noor's own answer: acknowledged, and the mentor gets it.
    let d = with(&wire, given("pupil", Some(&sid), MENTOR, &[PUPIL_IN_CARE]));
    assert_eq!(
        wire.push(id, d.save()).await?.0,
        Verdict::Acked(d.get_heads())
    );
    mentor.sync().await?;
    let held = mentor
        .store
        .sociogram_answers(round, PUPIL)?
        .expect("Noor's answers");
    assert_eq!(held.answers.len(), 1);
    assert_eq!(held.answers[0].source, "pupil");
    assert_eq!(held.answers[0].session.as_deref(), Some(sid.as_str()));
    Ok(())
}

/// A sociogram is the group's mentor's to write and the care team's to read. A hostile
/// teacher of the group opens no round and answers for no pupil; a hostile mentor names no
/// pupil of another group, changes no answer and writes none in another's name; the care
/// team writes nothing. Each is refused with its reason and none reaches the honest devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sociogram_is_written_by_the_groups_mentor_alone() -> Result<()> {
    use omkijken_core::model::{
        SociogramAnswer, SociogramAnswers, SociogramQuestion, SociogramRound,
    };
    use omkijken_core::store::{AnswerSource, NewSociogramAnswer};
    let (tmp, server) = school().await?;
    let mentor = enrolled(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let tablet = enrolled(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    let (_, mut as_teacher) = hostile(&server, tmp.path(), TEACHER).await?;
    let (_, mut as_mentor) = hostile(&server, tmp.path(), MENTOR).await?;
    let (_, mut as_coordinator) = hostile(&server, tmp.path(), COORDINATOR).await?;
    let now = 1_790_000_000_000;
    let question = |id: &str, polarity: &str| SociogramQuestion {
        id: id.into(),
        text: "Met wie speel je graag?".into(),
        polarity: polarity.into(),
    };
    let answer = |id: &str, by: &str, pupils: &[&str]| SociogramAnswer {
        id: id.into(),
        question: "spelen_graag".into(),
        pupils: pupils.iter().map(|p| p.to_string()).collect(),
        at: now,
        recorded_by: by.into(),
        source: "staff".into(),
        session: None,
    };

    // 1. The mentor opens a round for groep 6b and enters Noor's answer: she chose Sam.
    let round = mentor.store.open_sociogram_round(
        "g6b",
        "2026-11-02",
        vec![
            question("spelen_graag", "positive"),
            question("spelen_niet", "negative"),
        ],
    )?;
    let noor = mentor.store.add_sociogram_answers(
        round,
        PUPIL,
        vec![NewSociogramAnswer {
            question: "spelen_graag".into(),
            pupils: vec![PUPIL_IN_CARE.into()],
        }],
        AnswerSource::Staff,
    )?;
    assert!(mentor.sync().await?.refused.is_empty());
    tablet.sync().await?;

    let mut refused: Vec<(&str, DocumentId, Verdict)> = vec![];
    // 2. The teacher of the group: a round of her own, and an answer for Sam.
    let id = DocumentId::random();
    let d = doc::create(
        as_teacher.actor.clone(),
        now,
        &Header {
            kind: Kind::SociogramRound.as_str().into(),
            school: SCHOOL.into(),
            pupil: None,
            author: TEACHER.into(),
            created_at: now,
            schema: SCHEMA_VERSION,
        },
        &SociogramRound {
            group: "g6b".into(),
            opened_on: "2026-11-02".into(),
            questions: vec![question("spelen_graag", "positive")],
            status: "open".into(),
            closed_on: None,
        },
    )?;
    refused.push((
        "a teacher's round",
        id,
        as_teacher.push(id, d.save()).await?.0,
    ));
    let (sam, genesis) = doc::sociogram_answers_genesis(SCHOOL, round, "g6b", PUPIL_IN_CARE)?;
    let d = forge::<SociogramAnswers>(&as_teacher, sam, &genesis, |a| {
        a.answers.push(answer("x-teacher", TEACHER, &[PUPIL]))
    });
    refused.push((
        "a teacher's answer for Sam",
        sam,
        as_teacher.push(sam, d.save()).await?.0,
    ));
    // She reads nothing of it either: Noor's answers answer like a missing document.
    assert!(as_teacher.fetch(noor).await?.is_none());
    assert!(as_teacher.fetch(round).await?.is_none());

    // 3. The mentor's own device, scripted.
    let held = as_mentor
        .fetch(noor)
        .await?
        .expect("the mentor reads Noor's answers");
    for (what, forged) in [
        (
            "a pupil of another group named",
            forge::<SociogramAnswers>(&as_mentor, noor, &held, |a| {
                a.answers.push(answer("x-other", MENTOR, &[OTHER_PUPIL]))
            }),
        ),
        (
            "an answer changed",
            forge::<SociogramAnswers>(&as_mentor, noor, &held, |a| a.answers[0].pupils = vec![]),
        ),
        (
            "an answer in the teacher's name",
            forge::<SociogramAnswers>(&as_mentor, noor, &held, |a| {
                a.answers.push(answer("x-name", TEACHER, &[PUPIL_IN_CARE]))
            }),
        ),
    ] {
        refused.push((
            what,
            noor,
            as_mentor.push_changes(noor, &held, &forged).await?,
        ));
    }

    // 4. The care team reads; it does not answer.
    let held = as_coordinator
        .fetch(noor)
        .await?
        .expect("the care team reads it");
    let forged = forge::<SociogramAnswers>(&as_coordinator, noor, &held, |a| {
        a.answers
            .push(answer("x-care", COORDINATOR, &[PUPIL_IN_CARE]))
    });
    refused.push((
        "the care team answers",
        noor,
        as_coordinator.push_changes(noor, &held, &forged).await?,
    ));

    let got: Vec<Verdict> = refused.iter().map(|(_, _, v)| v.clone()).collect();
    assert_eq!(
        got,
        [FORBIDDEN, FORBIDDEN, INVALID, INVALID, FORBIDDEN, FORBIDDEN],
        "{refused:?}"
    );

    // 5. Nothing of it reached the honest devices: Noor's one answer, no answer for Sam,
    //    one round; the mentor goes on.
    for d in [&mentor, &tablet] {
        assert!(d.sync().await?.refused.is_empty());
        let a = d
            .store
            .sociogram_answers(round, PUPIL)?
            .expect("Noor's answers");
        assert_eq!(a.answers.len(), 1, "{}", d.label);
        assert_eq!(a.answers[0].pupils, [PUPIL_IN_CARE]);
        assert!(d.store.sociogram_answers(round, PUPIL_IN_CARE)?.is_none());
        assert_eq!(d.store.list_sociogram_rounds(None)?.len(), 1);
    }
    mentor.store.close_sociogram_round(round, "2026-11-06")?;
    assert!(mentor.sync().await?.refused.is_empty());
    server.handle.shutdown().await?;
    Ok(())
}
