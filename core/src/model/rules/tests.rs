//! Every rule of [`admit`], table-driven: each row builds a document before a change, the
//! document after it (made as a device makes it: a typed edit reconciled by autosurgeon
//! under the writer's actor, or a raw Automerge change where a device would not write it),
//! and names the writer and the verdict.
// Edit closures return core's (large) error type.
#![allow(clippy::result_large_err)]

use super::*;
use crate::defaults::{NIET_PLUIS, PESTEN, STAFF_MISCONDUCT};
use crate::model::{
    Agreement, CaseStep, FollowUp, Group, Interpretation, MonitoringAgreement, ParentPresent,
    ParentsInvolved, Pupil, Record, Role, SCHEMA_VERSION, ThermometerEntry, TripContact, Weighing,
};
use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ROOT};

const SCHOOL: &str = "school-1";
const NOW: i64 = 1_790_000_000_000;
const P_CARE: &str = "p-care"; // in care, group a, mentor M_A
const P_PLAIN: &str = "p-plain"; // not in care, group b, mentor M_B
const M_A: &str = "mentor-a";
const M_B: &str = "mentor-b";
const T_A: &str = "teacher-a"; // teaches group a
const T_X: &str = "teacher-x"; // teaches no group
const IB: &str = "care";
const IB2: &str = "care-2";
const APC: &str = "anti-bullying";
const SL: &str = "leader";
const GONE: &str = "gone";

fn roster() -> Roster {
    let pupil = |id: &str, group: &str, in_care: bool, mentors: &[&str]| {
        let p = Pupil {
            id: id.into(),
            display_name: id.into(),
            group: group.into(),
            age_band: "po_5_8".into(),
            active: true,
            in_care,
            mentors: mentors.iter().map(|m| m.to_string()).collect(),
            erasures: 0,
        };
        (id.to_string(), p)
    };
    let group = |id: &str, teachers: &[&str]| {
        let g = Group {
            id: id.into(),
            name: id.into(),
            teachers: teachers.iter().map(|t| t.to_string()).collect(),
        };
        (id.to_string(), g)
    };
    let staff = |id: &str, roles: &[Role], active: bool| {
        let s = Staff {
            id: id.into(),
            display_name: id.into(),
            roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
            meldcode_duty: false,
            active,
        };
        (id.to_string(), s)
    };
    Roster {
        school: SCHOOL.into(),
        pupils: [
            pupil(P_CARE, "a", true, &[M_A]),
            pupil(P_PLAIN, "b", false, &[M_B]),
        ]
        .into(),
        groups: [group("a", &[M_A, T_A]), group("b", &[M_B])].into(),
        staff: [
            staff(M_A, &[Role::Mentor], true),
            staff(M_B, &[Role::Mentor], true),
            staff(T_A, &[Role::Teacher], true),
            staff(T_X, &[Role::Teacher], true),
            staff(IB, &[Role::CareCoordinator], true),
            staff(IB2, &[Role::CareCoordinator], true),
            staff(APC, &[Role::AntiBullyingCoordinator], true),
            staff(SL, &[Role::SchoolLeader], true),
            staff(GONE, &[Role::Mentor, Role::CareCoordinator], false),
        ]
        .into(),
        offline_lease_days: None,
        viewer: None,
        parent_names: false,
    }
}

/// The registered actor of `user`'s device: 16 bytes.
fn registered(user: &str) -> Vec<u8> {
    let mut b = [b'.'; 16];
    for (i, c) in user.bytes().take(16).enumerate() {
        b[i] = c;
    }
    b.to_vec()
}

/// A session actor of `user`'s device (registered bytes plus a suffix).
fn actor(user: &str) -> ActorId {
    let mut b = registered(user);
    b.extend_from_slice(b"session1");
    ActorId::from(b)
}

fn header(kind: Kind, pupil: Option<&str>, author: &str) -> Header {
    Header {
        kind: kind.as_str().into(),
        school: SCHOOL.into(),
        pupil: pupil.map(Into::into),
        author: author.into(),
        created_at: NOW,
        schema: SCHEMA_VERSION,
    }
}

/// A new document of `author`, written by `author`'s device.
fn create<R: Record>(h: Header, record: &R) -> (DocumentId, Automerge) {
    let d = doc::create(actor(&h.author), NOW, &h, record).unwrap();
    (DocumentId::random(), d)
}

/// `d` with `edit` applied by `user`'s device.
fn edit<R: Record>(id: DocumentId, d: &Automerge, user: &str, f: impl FnOnce(&mut R)) -> Automerge {
    let mut out = d.clone();
    doc::update(id, &mut out, &actor(user), NOW, |r: &mut R| {
        f(r);
        Ok(())
    })
    .unwrap();
    out
}

fn signal_record(urgency: u8, category: &str, shared: bool) -> Signal {
    Signal {
        category: category.into(),
        shared,
        ..crate::testing::signal_record(NOW, "gang", urgency, "feiten")
    }
}

fn signal(
    author: &str,
    pupil: &str,
    urgency: u8,
    category: &str,
    shared: bool,
) -> (DocumentId, Automerge) {
    create(
        header(Kind::Signal, Some(pupil), author),
        &signal_record(urgency, category, shared),
    )
}

fn entry(id: &str, author: &str, kind: &str) -> FollowUp {
    FollowUp {
        id: id.into(),
        author: author.into(),
        at: NOW,
        kind: kind.into(),
        // A status has no text of its own.
        text: if matches!(kind, "picked_up" | "closed") {
            String::new()
        } else {
            "tekst".into()
        },
    }
}

/// A shared urgency-1 signal by T_X about P_PLAIN, with a "picked up" by IB.
fn picked_up_signal() -> (DocumentId, Automerge) {
    let (id, d) = signal(T_X, P_PLAIN, 1, "welbevinden", true);
    let d = edit(id, &d, IB, |s: &mut Signal| {
        s.follow_ups.push(entry("f1", IB, "picked_up"))
    });
    (id, d)
}

fn conversation(author: &str, pupil: &str, visibility: &str) -> (DocumentId, Automerge) {
    create(
        header(Kind::Conversation, Some(pupil), author),
        &Conversation {
            held_on: "2026-11-02".into(),
            participants: vec![author.into(), "pupil".into()],
            template_id: "ik-jij-wij".into(),
            answers: Default::default(),
            notes: Default::default(),
            agreements: vec![],
            status: "draft".into(),
            visibility: visibility.into(),
        },
    )
}

fn agreement(id: &str, by: Option<&str>) -> Agreement {
    Agreement {
        id: id.into(),
        text: "elke week even bijpraten".into(),
        owner: "pupil".into(),
        due: None,
        done: false,
        by: by.map(Into::into),
    }
}

/// A pupil's thermometer month as a device makes it: the genesis, then an entry.
fn month(pupil: &str, writer: &str, recorded_by: &str) -> (DocumentId, Automerge) {
    let (id, g) = doc::thermometer_genesis(SCHOOL, pupil, "2026-11", 0).unwrap();
    let d = edit(id, &g, writer, |m: &mut ThermometerMonth| {
        m.entries.push(reading("e1", recorded_by, 3))
    });
    (id, d)
}

fn reading(id: &str, recorded_by: &str, score: u8) -> ThermometerEntry {
    ThermometerEntry {
        id: id.into(),
        at: NOW,
        scale: crate::defaults::SCALE_SMILEYS.into(),
        score,
        emotions: vec![],
        wants_to_talk: false,
        note: None,
        recorded_by: recorded_by.into(),
        source: None,
        session: None,
    }
}

fn step(id: &str, by: &str) -> CaseStep {
    CaseStep {
        id: id.into(),
        step: 1,
        on: "2026-11-02".into(),
        participants: vec![],
        outcome: "besproken".into(),
        skipped_because: None,
        parents: None,
        by: by.into(),
        at: NOW,
    }
}

fn case(author: &str) -> (DocumentId, Automerge) {
    create(
        header(Kind::Case, Some(P_CARE), author),
        &Case::new(NOW, vec!["s1".into()]),
    )
}

fn excursion(author: &str) -> (DocumentId, Automerge) {
    create(
        header(Kind::Excursion, None, author),
        &Excursion {
            name: "Schoolkamp".into(),
            place: "Ardennen".into(),
            starts_on: "2026-06-01".into(),
            ends_on: "2026-06-03".into(),
            participants: vec![P_PLAIN.into()],
            staff: vec![M_B.into()],
            contacts: vec![],
        },
    )
}

/// A raw change to `d` by `user`'s device: `f` writes into the root.
fn raw(
    d: &Automerge,
    user: &str,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> Automerge {
    let mut out = d.clone();
    out.set_actor(actor(user));
    let mut tx = out.transaction();
    f(&mut tx);
    tx.commit();
    out
}

/// One row: what is tried, the document id, before (None: new), after, the writer, and
/// the verdict.
struct Row {
    name: &'static str,
    id: DocumentId,
    before: Option<Automerge>,
    after: Automerge,
    user: &'static str,
    want: Result<(), Refusal>,
}

fn row(
    name: &'static str,
    (id, before): (DocumentId, Option<Automerge>),
    after: Automerge,
    user: &'static str,
    want: Result<(), Refusal>,
) -> Row {
    Row {
        name,
        id,
        before,
        after,
        user,
        want,
    }
}

fn run(rows: Vec<Row>) {
    run_with(&roster(), rows)
}

fn run_with(r: &Roster, rows: Vec<Row>) {
    let mut failed = vec![];
    for row in rows {
        let reg = registered(row.user);
        let w = Writer {
            roster: r,
            user: row.user,
            actor: &reg,
            pupil_session: None,
        };
        let got = admit(row.id, row.before.as_ref(), &row.after, &w).map(|_| ());
        if got != row.want {
            failed.push(format!("{}: got {got:?}, want {:?}", row.name, row.want));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

fn new(d: (DocumentId, Automerge)) -> ((DocumentId, Option<Automerge>), Automerge) {
    ((d.0, None), d.1)
}

fn from(id: DocumentId, d: &Automerge) -> (DocumentId, Option<Automerge>) {
    (id, Some(d.clone()))
}

#[test]
fn every_kind_is_created_in_its_writers_own_name_by_its_writers_device() {
    use Refusal::*;
    let (sid, sd) = signal(T_X, P_PLAIN, 1, "welbevinden", true);
    let mut rows = vec![];
    let (b, a) = new((sid, sd.clone()));
    rows.push(row("own signal", b, a, T_X, Ok(())));
    let (b, a) = new((sid, sd.clone()));
    rows.push(row(
        "a signal in another's name",
        b,
        a,
        M_B,
        Err(NotOwnName("header.author")),
    ));
    let (b, a) = new(conversation(M_A, P_CARE, "private"));
    rows.push(row(
        "a conversation in another's name",
        b,
        a,
        IB,
        Err(NotOwnName("header.author")),
    ));
    let (b, a) = new(case(IB));
    rows.push(row(
        "a case in another's name",
        b,
        a,
        IB2,
        Err(NotOwnName("header.author")),
    ));
    let (b, a) = new(excursion(T_A));
    rows.push(row(
        "an excursion in another's name",
        b,
        a,
        T_X,
        Err(NotOwnName("header.author")),
    ));
    let (b, a) = new(month(P_CARE, T_A, M_A));
    rows.push(row(
        "a thermometer entry in another's name",
        b,
        a,
        T_A,
        Err(NotOwnName("entry recorded_by")),
    ));
    // Another device's actor, even in the writer's own name.
    let forged = doc::create(
        ActorId::from(registered(M_B)),
        NOW,
        &header(Kind::Signal, Some(P_PLAIN), T_X),
        &signal_record(1, "welbevinden", true),
    )
    .unwrap();
    rows.push(row(
        "another device's actor",
        (sid, None),
        forged,
        T_X,
        Err(ForgedActor),
    ));
    // The registered actor itself (not a session actor) is the device's too.
    let registered_actor = doc::create(
        ActorId::from(registered(T_X)),
        NOW,
        &header(Kind::Signal, Some(P_PLAIN), T_X),
        &signal_record(1, "welbevinden", true),
    )
    .unwrap();
    rows.push(row(
        "the registered actor",
        (sid, None),
        registered_actor,
        T_X,
        Ok(()),
    ));
    let (rid, roster_doc) = doc::roster_genesis(SCHOOL).unwrap();
    let pushed = raw(&roster_doc, T_X, |tx| {
        tx.put(ROOT, "x", 1).unwrap();
    });
    rows.push(row(
        "the roster",
        (rid, Some(roster_doc)),
        pushed,
        T_X,
        Err(ServerOnly),
    ));
    let (rid2, roster2) = doc::roster_genesis(SCHOOL).unwrap();
    rows.push(row(
        "a new roster",
        (rid2, None),
        roster2,
        T_X,
        Err(ServerOnly),
    ));
    let changed_header = raw(&sd, T_X, |tx| {
        let h = tx.get(ROOT, "header").unwrap().unwrap().1;
        tx.put(&h, "pupil", P_CARE).unwrap();
    });
    rows.push(row(
        "a changed header",
        from(sid, &sd),
        changed_header,
        T_X,
        Err(HeaderChanged),
    ));
    let mut odd = header(Kind::Signal, Some(P_PLAIN), T_X);
    odd.kind = "dagboek".into();
    let unknown = doc::create(
        actor(T_X),
        NOW,
        &odd,
        &signal_record(1, "welbevinden", true),
    )
    .unwrap();
    rows.push(row(
        "an unknown kind",
        (sid, None),
        unknown,
        T_X,
        Err(Invalid("unknown kind")),
    ));
    let (b, a) = new(signal(GONE, P_PLAIN, 1, "welbevinden", true));
    rows.push(row("staff who left", b, a, GONE, Err(NoWriteAccess)));
    // A server restored from a backup lacks a signal its author's device still holds, with
    // the care team's follow-up in it: whose changes they are is answered first (the device
    // then sends its own alone), not the follow-up's author.
    let (id, s) = picked_up_signal();
    rows.push(row(
        "others' changes a restored server lacks",
        (id, None),
        s,
        T_X,
        Err(ForgedActor),
    ));
    run(rows);
}

#[test]
fn signal_rules() {
    use Refusal::*;
    let mut rows = vec![];
    // Drafts.
    let (id, draft) = signal(T_X, P_PLAIN, 1, "welbevinden", false);
    let a = edit(id, &draft, T_X, |s: &mut Signal| s.facts = "beter".into());
    rows.push(row(
        "the author edits a draft",
        from(id, &draft),
        a,
        T_X,
        Ok(()),
    ));
    let a = edit(id, &draft, IB, |s: &mut Signal| s.facts = "anders".into());
    rows.push(row(
        "the care team rewrites a draft",
        from(id, &draft),
        a,
        IB,
        Err(NotForRole("only its author changes a draft signal")),
    ));
    let a = edit(id, &draft, IB, |s: &mut Signal| {
        s.follow_ups.push(entry("f", IB, "follow_up"))
    });
    rows.push(row(
        "the care team adds to a draft",
        from(id, &draft),
        a,
        IB,
        Err(NotForRole("only its author changes a draft signal")),
    ));
    let a = edit(id, &draft, T_X, |s: &mut Signal| s.shared = true);
    rows.push(row("the author shares", from(id, &draft), a, T_X, Ok(())));
    let a = edit(id, &draft, T_X, |s: &mut Signal| {
        s.interpretation = Some(Interpretation {
            text: "denk ik".into(),
            by: M_B.into(),
        })
    });
    rows.push(row(
        "an interpretation in another's name",
        from(id, &draft),
        a,
        T_X,
        Err(NotOwnName("interpretation.by")),
    ));
    // Shared: append-only.
    let (id, shared) = picked_up_signal();
    let a = edit(id, &shared, T_X, |s: &mut Signal| s.facts = "anders".into());
    rows.push(row(
        "the author edits a shared original",
        from(id, &shared),
        a,
        T_X,
        Err(Changed("the original of a shared signal")),
    ));
    let a = edit(id, &shared, T_X, |s: &mut Signal| s.shared = false);
    rows.push(row(
        "the author unshares",
        from(id, &shared),
        a,
        T_X,
        Err(Changed("the original of a shared signal")),
    ));
    let a = edit(id, &shared, T_X, |s: &mut Signal| {
        s.follow_ups.push(entry("c", T_X, "correction"))
    });
    rows.push(row(
        "the author corrects",
        from(id, &shared),
        a,
        T_X,
        Ok(()),
    ));
    let a = edit(id, &shared, IB, |s: &mut Signal| {
        s.follow_ups.push(entry("c", IB, "correction"))
    });
    rows.push(row(
        "the care team corrects",
        from(id, &shared),
        a,
        IB,
        Err(NotForRole("a correction is its author's")),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| {
        s.follow_ups.push(entry("m", M_B, "follow_up"))
    });
    rows.push(row(
        "the mentor follows up on the signal, which its author reads",
        from(id, &shared),
        a,
        M_B,
        Err(NotForRole(
            "on the signal a follow-up is its author's: others write in its notes",
        )),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| {
        s.follow_ups.push(entry("m", M_B, "to_signaller"))
    });
    rows.push(row(
        "the mentor writes to the signaller",
        from(id, &shared),
        a,
        M_B,
        Ok(()),
    ));
    let a = edit(id, &shared, T_X, |s: &mut Signal| {
        s.follow_ups.push(entry("m", T_X, "follow_up"))
    });
    rows.push(row(
        "the author follows up her own signal",
        from(id, &shared),
        a,
        T_X,
        Ok(()),
    ));
    let a = edit(id, &shared, T_X, |s: &mut Signal| {
        s.follow_ups.push(entry("m", T_X, "to_signaller"))
    });
    rows.push(row(
        "the author writes to herself",
        from(id, &shared),
        a,
        T_X,
        Err(Invalid("a note to the signaller is for the author")),
    ));
    let a = edit(id, &shared, IB2, |s: &mut Signal| {
        let mut e = entry("z", IB2, "closed");
        e.text = "vader belt het wijkteam".into();
        s.follow_ups.push(e)
    });
    rows.push(row(
        "the care team closes with words of its own",
        from(id, &shared),
        a,
        IB2,
        Err(Invalid(
            "a status entry has no text of its own (a note to the signaller has)",
        )),
    ));
    let a = edit(id, &shared, IB2, |s: &mut Signal| {
        let mut e = entry("z", IB2, "picked_up");
        e.text = crate::model::signal::CASE_OPENED_STATUS.into();
        s.follow_ups.push(e)
    });
    rows.push(row(
        "the care team picks up with the fixed text of a meldcode case",
        from(id, &shared),
        a,
        IB2,
        Ok(()),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| {
        s.follow_ups.push(entry("m", IB, "follow_up"))
    });
    rows.push(row(
        "a follow-up in the care team's name",
        from(id, &shared),
        a,
        M_B,
        Err(NotOwnName("follow-up author")),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| {
        s.follow_ups.push(entry("m", M_B, "closed"))
    });
    rows.push(row(
        "the mentor closes",
        from(id, &shared),
        a,
        M_B,
        Err(NotForRole("status entries are the care team's")),
    ));
    let a = edit(id, &shared, T_X, |s: &mut Signal| {
        s.follow_ups.push(entry("m", T_X, "picked_up"))
    });
    rows.push(row(
        "the author marks it picked up",
        from(id, &shared),
        a,
        T_X,
        Err(NotForRole("status entries are the care team's")),
    ));
    let a = edit(id, &shared, IB2, |s: &mut Signal| {
        s.follow_ups.push(entry("z", IB2, "closed"))
    });
    rows.push(row(
        "the care team closes",
        from(id, &shared),
        a,
        IB2,
        Ok(()),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| s.follow_ups.clear());
    rows.push(row(
        "the mentor removes a follow-up",
        from(id, &shared),
        a,
        M_B,
        Err(Changed("follow-ups")),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| {
        s.follow_ups[0].text = "anders".into()
    });
    rows.push(row(
        "the mentor rewrites a follow-up",
        from(id, &shared),
        a,
        M_B,
        Err(Changed("follow-ups")),
    ));
    let a = edit(id, &shared, IB, |s: &mut Signal| {
        s.follow_ups[0].kind = "closed".into()
    });
    rows.push(row(
        "the care team changes its own entry",
        from(id, &shared),
        a,
        IB,
        Err(Changed("follow-ups")),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| {
        s.follow_ups.clear();
        s.follow_ups.push(entry("f2", IB, "closed"));
    });
    rows.push(row(
        "the mentor swaps the coordinator's entry for a forged one",
        from(id, &shared),
        a,
        M_B,
        Err(Changed("follow-ups")),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| {
        s.follow_ups.push(entry("x", M_B, "verwijderd"))
    });
    rows.push(row(
        "an unknown follow-up kind",
        from(id, &shared),
        a,
        M_B,
        Err(Invalid("unknown follow-up kind")),
    ));
    let a = edit(id, &shared, M_B, |s: &mut Signal| {
        s.follow_ups.push(entry("f1", M_B, "follow_up"))
    });
    rows.push(row(
        "a follow-up id taken",
        from(id, &shared),
        a,
        M_B,
        Err(Invalid("follow-up ids are unique")),
    ));
    let a = edit(id, &shared, M_A, |s: &mut Signal| {
        s.follow_ups.push(entry("m", M_A, "follow_up"))
    });
    rows.push(row(
        "another pupil's mentor",
        from(id, &shared),
        a,
        M_A,
        Err(NoWriteAccess),
    ));
    // Urgency 0 is the author's; the mentor reads.
    let (id0, note) = signal(T_X, P_PLAIN, 0, NIET_PLUIS, true);
    let a = edit(id0, &note, M_B, |s: &mut Signal| {
        s.follow_ups.push(entry("m", M_B, "follow_up"))
    });
    rows.push(row(
        "the mentor follows up an urgency-0 note",
        from(id0, &note),
        a,
        M_B,
        Err(NoWriteAccess),
    ));
    // Bullying: the anti-bullying coordinator sets the status too.
    let (idp, bully) = signal(T_X, P_PLAIN, 2, PESTEN, true);
    let a = edit(idp, &bully, APC, |s: &mut Signal| {
        s.follow_ups.push(entry("p", APC, "picked_up"))
    });
    rows.push(row(
        "the anti-bullying coordinator picks up bullying",
        from(idp, &bully),
        a,
        APC,
        Ok(()),
    ));
    let (idw, other) = signal(T_X, P_PLAIN, 2, "welbevinden", true);
    let a = edit(idw, &other, APC, |s: &mut Signal| {
        s.follow_ups.push(entry("p", APC, "picked_up"))
    });
    rows.push(row(
        "the anti-bullying coordinator elsewhere",
        from(idw, &other),
        a,
        APC,
        Err(NoWriteAccess),
    ));
    // Staff misconduct: the school leader's.
    let (idm, misconduct) = signal(T_X, P_PLAIN, 2, STAFF_MISCONDUCT, true);
    let a = edit(idm, &misconduct, SL, |s: &mut Signal| {
        s.follow_ups.push(entry("p", SL, "picked_up"))
    });
    rows.push(row(
        "the school leader picks up misconduct",
        from(idm, &misconduct),
        a,
        SL,
        Ok(()),
    ));
    let a = edit(idm, &misconduct, SL, |s: &mut Signal| {
        s.added_readers.push(IB.into())
    });
    rows.push(row(
        "the school leader adds a reader",
        from(idm, &misconduct),
        a.clone(),
        SL,
        Ok(()),
    ));
    let with_reader = a;
    let a = edit(idm, &with_reader, IB, |s: &mut Signal| {
        s.follow_ups.push(entry("r", IB, "to_signaller"))
    });
    rows.push(row(
        "the added reader writes to the signaller",
        from(idm, &with_reader),
        a,
        IB,
        Ok(()),
    ));
    let a = edit(idm, &with_reader, IB, |s: &mut Signal| {
        s.follow_ups.push(entry("r", IB, "closed"))
    });
    rows.push(row(
        "the added reader closes",
        from(idm, &with_reader),
        a,
        IB,
        Err(NotForRole("status entries are the care team's")),
    ));
    let a = edit(idm, &with_reader, IB, |s: &mut Signal| {
        s.added_readers.push(IB2.into())
    });
    rows.push(row(
        "the added reader adds a reader",
        from(idm, &with_reader),
        a,
        IB,
        Err(NotForRole("only the school leader adds readers")),
    ));
    let a = edit(idm, &with_reader, SL, |s: &mut Signal| {
        s.added_readers.clear()
    });
    rows.push(row(
        "a reader removed",
        from(idm, &with_reader),
        a,
        SL,
        Err(Changed("added readers")),
    ));
    let a = edit(idm, &misconduct, T_X, |s: &mut Signal| {
        s.added_readers.push(M_B.into())
    });
    rows.push(row(
        "the author adds a reader",
        from(idm, &misconduct),
        a,
        T_X,
        Err(NotForRole("only the school leader adds readers")),
    ));
    run(rows);
}

#[test]
fn conversation_rules() {
    use Refusal::*;
    let mut rows = vec![];
    let (id, private) = conversation(M_A, P_CARE, "private");
    let (b, a) = new((id, private.clone()));
    rows.push(row("a mentor starts a working note", b, a, M_A, Ok(())));
    let a = edit(id, &private, M_A, |c: &mut Conversation| {
        c.notes.splice(0, 0, "notitie").unwrap();
    });
    rows.push(row(
        "its author writes a working note",
        from(id, &private),
        a,
        M_A,
        Ok(()),
    ));
    let a = edit(id, &private, IB, |c: &mut Conversation| {
        c.notes.splice(0, 0, "ook").unwrap();
    });
    rows.push(row(
        "someone else writes a working note",
        from(id, &private),
        a,
        IB,
        Err(NoWriteAccess),
    ));
    let a = edit(id, &private, M_A, |c: &mut Conversation| {
        c.visibility = "shared".into()
    });
    rows.push(row(
        "its author shares it",
        from(id, &private),
        a,
        M_A,
        Ok(()),
    ));
    let (id, shared) = conversation(M_A, P_CARE, "shared");
    let a = edit(id, &shared, IB, |c: &mut Conversation| {
        c.notes.splice(0, 0, "zorg").unwrap();
    });
    rows.push(row(
        "the care team writes a shared one (pupil in care)",
        from(id, &shared),
        a,
        IB,
        Ok(()),
    ));
    let a = edit(id, &shared, T_A, |c: &mut Conversation| {
        c.notes.splice(0, 0, "les").unwrap();
    });
    rows.push(row(
        "a group teacher writes one",
        from(id, &shared),
        a,
        T_A,
        Err(NoWriteAccess),
    ));
    let a = edit(id, &shared, M_A, |c: &mut Conversation| {
        c.visibility = "private".into()
    });
    rows.push(row(
        "its author unshares it",
        from(id, &shared),
        a,
        M_A,
        Err(Changed("the sharing of a conversation")),
    ));
    let a = edit(id, &shared, IB, |c: &mut Conversation| {
        c.agreements.push(agreement("a1", Some(IB)))
    });
    rows.push(row(
        "an agreement in one's own name",
        from(id, &shared),
        a.clone(),
        IB,
        Ok(()),
    ));
    let with_agreement = a;
    let a = edit(id, &shared, IB, |c: &mut Conversation| {
        c.agreements.push(agreement("a1", Some(M_A)))
    });
    rows.push(row(
        "an agreement in another's name",
        from(id, &shared),
        a,
        IB,
        Err(NotOwnName("agreement by")),
    ));
    let a = edit(id, &shared, IB, |c: &mut Conversation| {
        c.agreements.push(agreement("a1", None))
    });
    rows.push(row(
        "an agreement in nobody's name",
        from(id, &shared),
        a,
        IB,
        Err(NotOwnName("agreement by")),
    ));
    let a = edit(id, &with_agreement, M_A, |c: &mut Conversation| {
        c.agreements[0].done = true
    });
    rows.push(row(
        "a mentor ticks off an agreement",
        from(id, &with_agreement),
        a,
        M_A,
        Ok(()),
    ));
    let a = edit(id, &with_agreement, M_A, |c: &mut Conversation| {
        c.agreements[0].by = Some(M_A.into())
    });
    rows.push(row(
        "who added an agreement rewritten",
        from(id, &with_agreement),
        a,
        M_A,
        Err(Changed("who added an agreement")),
    ));
    let a = edit(id, &shared, M_A, |c: &mut Conversation| {
        c.status = "klaar".into()
    });
    rows.push(row(
        "an unknown status",
        from(id, &shared),
        a,
        M_A,
        Err(Invalid("status, visibility or date of a conversation")),
    ));
    run(rows);
}

/// The notes of a shared signal (`SignalNotes`), started from their deterministic genesis.
fn notes_of(
    signal_id: DocumentId,
    pupil: &str,
    urgency: u8,
    category: &str,
) -> (DocumentId, Automerge) {
    doc::signal_notes_genesis(SCHOOL, pupil, signal_id, category, urgency).unwrap()
}

fn note(id: &str, author: &str) -> FollowUp {
    entry(id, author, "follow_up")
}

#[test]
fn signal_notes_rules() {
    use Refusal::*;
    let mut rows = vec![];
    let (sid, _) = signal(T_X, P_PLAIN, 1, "welbevinden", true);
    let (id, g) = notes_of(sid, P_PLAIN, 1, "welbevinden");
    let first = edit(id, &g, IB, |n: &mut SignalNotes| {
        n.notes.push(note("n1", IB))
    });
    rows.push(row(
        "the care team starts the notes",
        (id, None),
        first.clone(),
        IB,
        Ok(()),
    ));
    let a = edit(id, &g, M_B, |n: &mut SignalNotes| {
        n.notes.push(note("n1", M_B))
    });
    rows.push(row("the mentor starts them", (id, None), a, M_B, Ok(())));
    let a = edit(id, &g, T_X, |n: &mut SignalNotes| {
        n.notes.push(note("n1", T_X))
    });
    rows.push(row(
        "the signaller (not a mentor, not the care team) writes in them",
        (id, None),
        a,
        T_X,
        Err(NoWriteAccess),
    ));
    let a = edit(id, &first, M_B, |n: &mut SignalNotes| {
        n.notes.push(note("n2", M_B))
    });
    rows.push(row(
        "the mentor adds a note",
        from(id, &first),
        a,
        M_B,
        Ok(()),
    ));
    let a = edit(id, &first, M_B, |n: &mut SignalNotes| {
        n.notes.push(note("n2", IB))
    });
    rows.push(row(
        "a note in another's name",
        from(id, &first),
        a,
        M_B,
        Err(NotOwnName("note author")),
    ));
    let a = edit(id, &first, M_B, |n: &mut SignalNotes| {
        n.notes[0].text = "anders".into()
    });
    rows.push(row(
        "a note rewritten",
        from(id, &first),
        a,
        M_B,
        Err(Changed("notes")),
    ));
    let a = edit(id, &first, IB, |n: &mut SignalNotes| {
        n.notes.push(entry("n2", IB, "closed"))
    });
    rows.push(row(
        "a status in the notes",
        from(id, &first),
        a,
        IB,
        Err(Invalid(
            "a signal's notes are follow_up entries (status goes on the signal)",
        )),
    ));
    let a = edit(id, &first, IB, |n: &mut SignalNotes| n.urgency = 0);
    rows.push(row(
        "the notes' urgency changed (their access)",
        from(id, &first),
        a,
        IB,
        Err(Invalid("a signal's notes are that signal's")),
    ));
    // Notes under an id that is not the signal's: refused, so nobody squats the notes of a
    // signal with access of their choosing.
    let (other, _) = notes_of(sid, P_PLAIN, 0, "welbevinden");
    let a = edit(other, &g, IB, |n: &mut SignalNotes| {
        n.notes.push(note("n1", IB))
    });
    rows.push(row(
        "notes under another id",
        (other, None),
        a,
        IB,
        Err(Invalid("a signal's notes are that signal's")),
    ));
    // A document created in its own name by a device, posing as notes.
    let (fid, forged) = create(
        header(Kind::SignalNotes, Some(P_PLAIN), IB),
        &SignalNotes {
            signal: sid.to_string(),
            category: "welbevinden".into(),
            urgency: 1,
            notes: vec![],
            added_readers: vec![],
        },
    );
    rows.push(row(
        "notes with a header of their own",
        (fid, None),
        forged,
        IB,
        Err(Invalid("a signal's notes are that signal's")),
    ));
    // Staff misconduct: the school leader and the readers the leader adds.
    let (mid, _) = signal(T_X, P_PLAIN, 2, STAFF_MISCONDUCT, true);
    let (nid, ng) = notes_of(mid, P_PLAIN, 2, STAFF_MISCONDUCT);
    let with_reader = edit(nid, &ng, SL, |n: &mut SignalNotes| {
        n.added_readers.push(IB.into())
    });
    rows.push(row(
        "the school leader adds a reader",
        (nid, None),
        with_reader.clone(),
        SL,
        Ok(()),
    ));
    let a = edit(nid, &ng, IB, |n: &mut SignalNotes| {
        n.notes.push(note("n1", IB))
    });
    rows.push(row(
        "the care team, not added",
        (nid, None),
        a,
        IB,
        Err(NoWriteAccess),
    ));
    let a = edit(nid, &with_reader, IB, |n: &mut SignalNotes| {
        n.notes.push(note("n1", IB))
    });
    rows.push(row(
        "the added reader writes",
        from(nid, &with_reader),
        a,
        IB,
        Ok(()),
    ));
    let a = edit(nid, &with_reader, IB, |n: &mut SignalNotes| {
        n.added_readers.push(IB2.into())
    });
    rows.push(row(
        "the added reader adds a reader",
        from(nid, &with_reader),
        a,
        IB,
        Err(NotForRole("only the school leader adds readers")),
    ));
    run(rows);
}

#[test]
fn thermometer_rules() {
    use Refusal::*;
    let mut rows = vec![];
    let (b, a) = new(month(P_CARE, T_A, T_A));
    rows.push(row("a group teacher starts the month", b, a, T_A, Ok(())));
    let (id, m) = month(P_CARE, M_A, M_A);
    let a = edit(id, &m, T_A, |m: &mut ThermometerMonth| {
        m.entries.push(reading("e2", T_A, 4))
    });
    rows.push(row(
        "a group teacher adds an entry",
        from(id, &m),
        a,
        T_A,
        Ok(()),
    ));
    let a = edit(id, &m, T_A, |m: &mut ThermometerMonth| {
        m.entries.push(reading("e2", M_A, 4))
    });
    rows.push(row(
        "an entry in the mentor's name",
        from(id, &m),
        a,
        T_A,
        Err(NotOwnName("entry recorded_by")),
    ));
    let a = edit(id, &m, IB, |m: &mut ThermometerMonth| {
        m.entries.push(reading("e2", IB, 4))
    });
    rows.push(row(
        "the care team (reads) adds an entry",
        from(id, &m),
        a,
        IB,
        Err(NoWriteAccess),
    ));
    let a = edit(id, &m, T_A, |m: &mut ThermometerMonth| m.entries.clear());
    rows.push(row(
        "an entry removed",
        from(id, &m),
        a,
        T_A,
        Err(Changed("thermometer entries")),
    ));
    let a = edit(id, &m, M_A, |m: &mut ThermometerMonth| {
        m.entries[0].score = 1
    });
    rows.push(row(
        "an entry changed by its own recorder",
        from(id, &m),
        a,
        M_A,
        Err(Changed("thermometer entries")),
    ));
    let a = edit(id, &m, T_A, |m: &mut ThermometerMonth| {
        m.entries.push(reading("e2", T_A, 9))
    });
    rows.push(row(
        "a score off the scale",
        from(id, &m),
        a,
        T_A,
        Err(Invalid("an entry's scale, score or emotion words")),
    ));
    let a = edit(id, &m, T_A, |m: &mut ThermometerMonth| {
        m.entries.push(reading("e1", T_A, 4))
    });
    rows.push(row(
        "an entry id taken",
        from(id, &m),
        a,
        T_A,
        Err(Invalid("entry ids are unique")),
    ));
    let a = edit(id, &m, M_A, |m: &mut ThermometerMonth| {
        m.month = "2026-12".into()
    });
    rows.push(row(
        "the month moved",
        from(id, &m),
        a,
        M_A,
        Err(Invalid("a thermometer month is its pupil's month")),
    ));
    // A month under another id (not its deterministic one).
    let (_, g) = doc::thermometer_genesis(SCHOOL, P_CARE, "2026-11", 0).unwrap();
    let elsewhere = DocumentId::random();
    let a = edit(elsewhere, &g, M_A, |m: &mut ThermometerMonth| {
        m.entries.push(reading("e", M_A, 2))
    });
    rows.push(row(
        "a month under another id",
        (elsewhere, None),
        a,
        M_A,
        Err(Invalid("a thermometer month is its pupil's month")),
    ));
    run(rows);
}

/// What a pupil of group a enters in pupil session `session` of `T_A`: asks to talk.
fn pupil_reading(id: &str, session: &str) -> ThermometerEntry {
    ThermometerEntry {
        source: Some(crate::model::SOURCE_PUPIL.into()),
        session: Some(session.into()),
        wants_to_talk: true,
        ..reading(id, T_A, 2)
    }
}

fn talk_answer(entry: &str, by: &str) -> crate::model::TalkAnswer {
    crate::model::TalkAnswer {
        entry: entry.into(),
        on: "2026-11-20".into(),
        by: by.into(),
        conversation: None,
    }
}

#[test]
fn pupil_session_rules() {
    use Refusal::*;
    let scope = crate::model::PupilScope {
        session: "ps-1".into(),
        group: "a".into(),
        scales: [(
            "po_5_8".to_string(),
            crate::defaults::SCALE_SMILEYS.to_string(),
        )]
        .into(),
        expires_at: NOW + 3_600_000,
    };
    let r = roster();
    let (id, m) = month(P_CARE, M_A, M_A);
    let add = |e: ThermometerEntry| edit(id, &m, T_A, |t: &mut ThermometerMonth| t.entries.push(e));
    let (g_id, g) = doc::thermometer_genesis(SCHOOL, P_CARE, "2026-11", 0).unwrap();
    type Case<'a> = (
        &'a str,
        DocumentId,
        Option<Automerge>,
        Automerge,
        Result<(), Refusal>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "a pupil's own reading in a month others wrote",
            id,
            Some(m.clone()),
            add(pupil_reading("p1", "ps-1")),
            Ok(()),
        ),
        (
            "a pupil's own reading starting the month",
            g_id,
            None,
            edit(g_id, &g, T_A, |t: &mut ThermometerMonth| {
                t.entries.push(pupil_reading("p1", "ps-1"))
            }),
            Ok(()),
        ),
        (
            "a staff reading from a pupil session",
            id,
            Some(m.clone()),
            add(reading("p1", T_A, 2)),
            Err(NotForRole(
                "a pupil session records pupils' own readings in its own name",
            )),
        ),
        (
            "a reading in another session's name",
            id,
            Some(m.clone()),
            add(pupil_reading("p1", "ps-other")),
            Err(NotForRole(
                "a pupil session records pupils' own readings in its own name",
            )),
        ),
        (
            "a pupil's reading with a note",
            id,
            Some(m.clone()),
            add(ThermometerEntry {
                note: Some("geschreven door iemand anders".into()),
                ..pupil_reading("p1", "ps-1")
            }),
            Err(NotForRole("a pupil's reading has no note")),
        ),
        (
            "a pupil's reading on another scale",
            id,
            Some(m.clone()),
            add(ThermometerEntry {
                scale: crate::defaults::SCALE_MARK.into(),
                score: 7,
                ..pupil_reading("p1", "ps-1")
            }),
            Err(Invalid("a pupil's reading is on her age band's scale")),
        ),
        (
            "a pupil session changes a reading",
            id,
            Some(m.clone()),
            edit(id, &m, T_A, |t: &mut ThermometerMonth| {
                t.entries[0].score = 1;
            }),
            Err(Changed("thermometer entries")),
        ),
        (
            "a signal from a pupil session",
            DocumentId::random(),
            None,
            create(
                header(Kind::Signal, Some(P_CARE), T_A),
                &signal_record(1, NIET_PLUIS, true),
            )
            .1,
            Err(NotForRole(
                "a pupil session adds thermometer readings and sociogram answers only",
            )),
        ),
    ];
    let reg = registered(T_A);
    let w = Writer {
        roster: &r,
        user: T_A,
        actor: &reg,
        pupil_session: Some(&scope),
    };
    let mut failed = vec![];
    for (name, id, before, after, want) in cases {
        let got = admit(id, before.as_ref(), &after, &w).map(|_| ());
        if got != want {
            failed.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    // A pupil session answers nothing, not even a request its own pupil made.
    let (id, m) = month(P_CARE, M_A, M_A);
    let asked = edit(id, &m, T_A, |t: &mut ThermometerMonth| {
        t.entries.push(pupil_reading("p1", "ps-1"))
    });
    let answered = edit(id, &asked, T_A, |t: &mut ThermometerMonth| {
        t.answers.push(talk_answer("p1", T_A))
    });
    let got = admit(id, Some(&asked), &answered, &w).map(|_| ());
    if got != Err(NotForRole("a pupil session answers nothing")) {
        failed.push(format!("a pupil session's answer: got {got:?}"));
    }
    // A pupil session writes only months of its group's pupils (the teacher of group a
    // writes no month of group b).
    let (pid, pm) = doc::thermometer_genesis(SCHOOL, P_PLAIN, "2026-11", 0).unwrap();
    let other = edit(pid, &pm, T_A, |t: &mut ThermometerMonth| {
        t.entries.push(pupil_reading("p1", "ps-1"))
    });
    let got = admit(pid, None, &other, &w).map(|_| ());
    if got.is_ok() {
        failed.push("a month of another group's pupil was admitted".into());
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));

    // Staff never write a reading that says the pupil entered it.
    let staff_claims = edit(id, &m, T_A, |t: &mut ThermometerMonth| {
        t.entries.push(pupil_reading("p1", "ps-1"))
    });
    run(vec![row(
        "a staff device claims the pupil entered a reading",
        from(id, &m),
        staff_claims,
        T_A,
        Err(NotForRole(
            "only a pupil session records a pupil's own reading",
        )),
    )]);
}

#[test]
fn talk_answer_rules_and_access() {
    use Refusal::*;
    let (id, m) = month(P_PLAIN, M_B, M_B);
    let asked = edit(id, &m, M_B, |t: &mut ThermometerMonth| {
        t.entries.push(ThermometerEntry {
            wants_to_talk: true,
            ..reading("e2", M_B, 2)
        })
    });
    let answered = edit(id, &asked, M_B, |t: &mut ThermometerMonth| {
        t.answers.push(talk_answer("e2", M_B))
    });
    // An answer removed: a raw delete of its key.
    let mut removed = answered.clone();
    {
        let mut tx = removed.transaction();
        let (_, rec) = tx.get(ROOT, "record").unwrap().unwrap();
        tx.delete(&rec, "answered:e2").unwrap();
        tx.commit();
    }
    let removed = removed.with_actor(actor(M_B));
    run(vec![
        row(
            "the mentor answers",
            from(id, &asked),
            answered.clone(),
            M_B,
            Ok(()),
        ),
        row(
            "an answer in another's name",
            from(id, &asked),
            edit(id, &asked, M_B, |t: &mut ThermometerMonth| {
                t.answers.push(talk_answer("e2", M_A))
            }),
            M_B,
            Err(NotOwnName("answer by")),
        ),
        row(
            "an answer to a reading that did not ask",
            from(id, &asked),
            edit(id, &asked, M_B, |t: &mut ThermometerMonth| {
                t.answers.push(talk_answer("e1", M_B))
            }),
            M_B,
            Err(Invalid("an answer is to a request to talk of its month")),
        ),
        row(
            "an answer with no date",
            from(id, &asked),
            edit(id, &asked, M_B, |t: &mut ThermometerMonth| {
                t.answers.push(crate::model::TalkAnswer {
                    on: "morgen".into(),
                    ..talk_answer("e2", M_B)
                })
            }),
            M_B,
            Err(Invalid("an answer's date is YYYY-MM-DD")),
        ),
        row(
            "an answer removed",
            from(id, &answered),
            removed,
            M_B,
            Err(Changed("answers to requests to talk")),
        ),
    ]);
    // The care team reads the month of a pupil not in care while a request is open, and
    // no longer once it is answered.
    let r = roster();
    let h = doc::thermometer_header(SCHOOL, P_PLAIN, "2026-11");
    let fields = |d: &Automerge| doc::access_fields(id, &h, d).unwrap();
    assert_eq!(access(&r, IB, &h, &fields(&m)), Access::None);
    assert_eq!(access(&r, IB, &h, &fields(&asked)), Access::Read);
    assert_eq!(access(&r, IB, &h, &fields(&answered)), Access::None);
    assert_eq!(access(&r, M_B, &h, &fields(&asked)), Access::Write);
    assert_eq!(access(&r, T_A, &h, &fields(&asked)), Access::None);
}

#[test]
fn case_rules() {
    use Refusal::*;
    let mut rows = vec![];
    let (id, c) = case(IB);
    let (b, a) = new((id, c.clone()));
    rows.push(row("the care team opens a case", b, a, IB, Ok(())));
    let (b, a) = new(case(M_A));
    rows.push(row("a mentor opens a case", b, a, M_A, Err(NoWriteAccess)));
    let a = edit(id, &c, IB2, |c: &mut Case| c.steps.push(step("s1", IB2)));
    rows.push(row(
        "a colleague records a step",
        from(id, &c),
        a.clone(),
        IB2,
        Ok(()),
    ));
    let stepped = a;
    let a = edit(id, &c, IB2, |c: &mut Case| c.steps.push(step("s1", IB)));
    rows.push(row(
        "a step in a colleague's name",
        from(id, &c),
        a,
        IB2,
        Err(NotOwnName("step entry by")),
    ));
    let a = edit(id, &stepped, IB, |c: &mut Case| {
        c.steps[0].outcome = "anders".into()
    });
    rows.push(row(
        "a recorded step changed",
        from(id, &stepped),
        a,
        IB,
        Err(Invalid("step entries are never changed or removed")),
    ));
    let a = edit(id, &c, IB, |c: &mut Case| {
        c.weighing = Some(Weighing {
            on: "2026-11-03".into(),
            suspicion: true,
            unsafety: "doubt".into(),
            by: IB2.into(),
        })
    });
    rows.push(row(
        "a weighing in a colleague's name",
        from(id, &c),
        a,
        IB,
        Err(NotOwnName("weighing by")),
    ));
    let a = edit(id, &c, IB, |c: &mut Case| {
        c.status = "closed".into();
        c.closed_at = Some(NOW);
    });
    rows.push(row(
        "closed without monitoring",
        from(id, &c),
        a,
        IB,
        Err(Invalid("a case closes only with monitoring agreements")),
    ));
    let a = edit(id, &c, IB, |c: &mut Case| {
        c.monitoring.push(MonitoringAgreement {
            id: "m".into(),
            text: "volgen".into(),
            owner: M_A.into(),
            due: None,
        });
        c.status = "closed".into();
        c.closed_at = Some(NOW);
    });
    rows.push(row("closed with monitoring", from(id, &c), a, IB, Ok(())));
    let a = edit(id, &c, IB, |c: &mut Case| c.signals.clear());
    rows.push(row(
        "a linked signal removed",
        from(id, &c),
        a,
        IB,
        Err(Invalid("linked signals are never removed")),
    ));
    let with_parents = |how: &str, on: Option<&str>, reason: Option<&str>| {
        let mut s = step("s3", IB);
        s.step = 3;
        s.parents = Some(ParentsInvolved {
            how: how.into(),
            on: on.map(Into::into),
            reason: reason.map(Into::into),
        });
        s
    };
    let a = edit(id, &c, IB, |c: &mut Case| {
        c.steps
            .push(with_parents("consulted", Some("2026-11-04"), None))
    });
    rows.push(row(
        "step 3: parents consulted, dated",
        from(id, &c),
        a,
        IB,
        Ok(()),
    ));
    let a = edit(id, &c, IB, |c: &mut Case| {
        c.steps.push(with_parents(
            "not_involved",
            None,
            Some("een gesprek brengt het kind in gevaar"),
        ))
    });
    rows.push(row(
        "step 3: parents not involved, with the reason",
        from(id, &c),
        a,
        IB,
        Ok(()),
    ));
    let a = edit(id, &c, IB, |c: &mut Case| {
        c.steps.push(with_parents("informed", None, None))
    });
    rows.push(row(
        "parents informed without a date",
        from(id, &c),
        a,
        IB,
        Err(Invalid(
            "parents informed or consulted need a date YYYY-MM-DD",
        )),
    ));
    let a = edit(id, &c, IB, |c: &mut Case| {
        c.steps.push(with_parents("not_involved", None, Some("  ")))
    });
    rows.push(row(
        "parents not involved without a reason",
        from(id, &c),
        a,
        IB,
        Err(Invalid("parents not involved needs the reason")),
    ));
    let a = edit(id, &c, IB, |c: &mut Case| {
        c.steps
            .push(with_parents("gebeld", Some("2026-11-04"), None))
    });
    rows.push(row(
        "an unknown involvement",
        from(id, &c),
        a,
        IB,
        Err(Invalid(
            "parents' involvement must be informed, consulted or not_involved",
        )),
    ));
    run(rows);
}

fn parent_contact(author: &str, pupil: &str) -> (DocumentId, Automerge) {
    create(
        header(Kind::ParentContact, Some(pupil), author),
        &ParentContact {
            held_on: "2026-11-05".into(),
            channel: "meeting".into(),
            staff: vec![author.into()],
            parents: vec![ParentPresent {
                role: "moeder".into(),
                name: None,
            }],
            pupil_present: false,
            discussed: Default::default(),
            agreements: vec![],
            status: "draft".into(),
        },
    )
}

#[test]
fn parent_contact_rules() {
    use Refusal::*;
    let mut rows = vec![];
    // Who records one: the pupil's mentors, the care team for a pupil in care.
    let (id, c) = parent_contact(M_A, P_CARE);
    let (b, a) = new((id, c.clone()));
    rows.push(row("the mentor records one", b, a, M_A, Ok(())));
    let (b, a) = new(parent_contact(IB, P_CARE));
    rows.push(row("the care team, pupil in care", b, a, IB, Ok(())));
    let (b, a) = new(parent_contact(IB, P_PLAIN));
    rows.push(row(
        "the care team, pupil not in care",
        b,
        a,
        IB,
        Err(NotForRole(
            "only the pupil's mentors and care team record a parent contact",
        )),
    ));
    let (b, a) = new(parent_contact(T_A, P_CARE));
    rows.push(row(
        "a teacher of the group",
        b,
        a,
        T_A,
        Err(NotForRole(
            "only the pupil's mentors and care team record a parent contact",
        )),
    ));
    let (b, a) = new(parent_contact(SL, P_PLAIN));
    rows.push(row(
        "the school leader",
        b,
        a,
        SL,
        Err(NotForRole(
            "only the pupil's mentors and care team record a parent contact",
        )),
    ));
    let (b, a) = new(parent_contact(M_A, P_CARE));
    rows.push(row(
        "in the mentor's name by the care team",
        b,
        a,
        IB,
        Err(NotOwnName("header.author")),
    ));
    // Who writes into one: author, mentors, care team (pupil in care); not a teacher.
    let a = edit(id, &c, IB, |r: &mut ParentContact| {
        r.staff.push(IB.into());
        r.discussed.update("verzuim besproken");
    });
    rows.push(row(
        "the care team completes it",
        from(id, &c),
        a,
        IB,
        Ok(()),
    ));
    let a = edit(id, &c, T_A, |r: &mut ParentContact| {
        r.discussed.update("meegelezen")
    });
    rows.push(row(
        "a teacher writes into it",
        from(id, &c),
        a,
        T_A,
        Err(NoWriteAccess),
    ));
    // Content.
    let a = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.parents[0].name = Some("Mevrouw Jansen".into())
    });
    rows.push(row(
        "a parent's name where the school records none",
        from(id, &c),
        a,
        M_A,
        Err(Invalid("parents' names are not recorded at this school")),
    ));
    let a = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.parents.push(ParentPresent {
            role: "buurvrouw".into(),
            name: None,
        })
    });
    rows.push(row(
        "an unknown role",
        from(id, &c),
        a,
        M_A,
        Err(Invalid("a parent's role")),
    ));
    let a = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.staff.push("iemand-anders".into())
    });
    rows.push(row(
        "staff present who are not staff",
        from(id, &c),
        a,
        M_A,
        Err(Invalid("staff present must be staff of the school")),
    ));
    let a = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.channel = "brief".into()
    });
    rows.push(row(
        "an unknown channel",
        from(id, &c),
        a,
        M_A,
        Err(Invalid("status, channel or date of a parent contact")),
    ));
    let a = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.held_on = "5 november".into()
    });
    rows.push(row(
        "not a date",
        from(id, &c),
        a,
        M_A,
        Err(Invalid("status, channel or date of a parent contact")),
    ));
    let a = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.agreements.push(agreement("a1", Some(M_A)))
    });
    rows.push(row(
        "an agreement in her own name",
        from(id, &c),
        a.clone(),
        M_A,
        Ok(()),
    ));
    let agreed = a;
    let a = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.agreements.push(agreement("a1", Some(IB)))
    });
    rows.push(row(
        "an agreement in the care team's name",
        from(id, &c),
        a,
        M_A,
        Err(NotOwnName("agreement by")),
    ));
    let a = edit(id, &agreed, IB, |r: &mut ParentContact| {
        r.agreements[0].by = Some(IB.into())
    });
    rows.push(row(
        "who added an agreement rewritten",
        from(id, &agreed),
        a,
        IB,
        Err(Changed("who added an agreement")),
    ));
    let a = edit(id, &agreed, IB, |r: &mut ParentContact| {
        r.agreements[0].done = true
    });
    rows.push(row(
        "an agreement marked done by another",
        from(id, &agreed),
        a,
        IB,
        Ok(()),
    ));
    let final_ = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.status = "final".into()
    });
    rows.push(row("finalised", from(id, &c), final_.clone(), M_A, Ok(())));
    let a = edit(id, &final_, M_A, |r: &mut ParentContact| {
        r.status = "draft".into()
    });
    rows.push(row(
        "final back to draft",
        from(id, &final_),
        a,
        M_A,
        Err(Changed("the final status of a parent contact")),
    ));
    run(rows);

    // A school that records parents' names: a name is admitted, and it stays admitted
    // after the school stops recording names (only new names are refused then).
    let named = edit(id, &c, M_A, |r: &mut ParentContact| {
        r.parents[0].name = Some("Mevrouw Jansen".into())
    });
    let mut names = roster();
    names.parent_names = true;
    run_with(
        &names,
        vec![row(
            "a parent's name where the school records names",
            from(id, &c),
            named.clone(),
            M_A,
            Ok(()),
        )],
    );
    let later = edit(id, &named, M_A, |r: &mut ParentContact| {
        r.discussed.update("vervolg")
    });
    run(vec![row(
        "a name recorded before stays",
        from(id, &named),
        later,
        M_A,
        Ok(()),
    )]);
}

#[test]
fn excursion_rules() {
    use Refusal::*;
    let mut rows = vec![];
    let (id, e) = excursion(T_A);
    let (b, a) = new((id, e.clone()));
    rows.push(row("a teacher plans a trip", b, a, T_A, Ok(())));
    let a = edit(id, &e, M_B, |e: &mut Excursion| e.name = "Anders".into());
    rows.push(row(
        "a colleague on the trip changes it",
        from(id, &e),
        a,
        M_B,
        Err(NoWriteAccess),
    ));
    let a = edit(id, &e, T_A, |e: &mut Excursion| e.staff.push(IB.into()));
    rows.push(row(
        "the organiser adds a colleague",
        from(id, &e),
        a,
        T_A,
        Ok(()),
    ));
    let a = edit(id, &e, T_A, |e: &mut Excursion| e.starts_on = "juni".into());
    rows.push(row(
        "a date that is not a date",
        from(id, &e),
        a,
        T_A,
        Err(Invalid("dates must be YYYY-MM-DD")),
    ));
    let a = edit(id, &e, T_A, |e: &mut Excursion| {
        for i in 0..=excursion::MAX_CONTACTS {
            e.contacts.push(TripContact {
                id: format!("c{i}"),
                name: "n".into(),
                role: "r".into(),
                phone: "1".into(),
                supervises: false,
            });
        }
    });
    rows.push(row(
        "too many contacts",
        from(id, &e),
        a,
        T_A,
        Err(TooLarge("contacts")),
    ));
    run(rows);
}

#[test]
fn documents_stay_within_their_limits() {
    use Refusal::*;
    let mut rows = vec![];
    let (id, s) = signal(T_X, P_PLAIN, 1, "welbevinden", true);
    // A long text.
    let a = edit(id, &s, T_X, |s: &mut Signal| {
        s.follow_ups.push(FollowUp {
            text: "x".repeat(MAX_TEXT + 1),
            ..entry("c", T_X, "correction")
        })
    });
    rows.push(row(
        "a follow-up past the text limit",
        from(id, &s),
        a,
        T_X,
        Err(TooLarge("content")),
    ));
    // An extra list the record does not know, longer than the kind's items.
    let a = raw(&s, T_X, |tx| {
        let rec = tx.get(ROOT, "record").unwrap().unwrap().1;
        let list = tx.put_object(&rec, "extra", ObjType::List).unwrap();
        let n = limits(Kind::Signal).read.items;
        tx.splice(
            &list,
            0,
            0,
            std::iter::repeat_n(automerge::ScalarValue::Int(1), n),
        )
        .unwrap();
    });
    rows.push(row(
        "an extra list past the items limit",
        from(id, &s),
        a,
        T_X,
        Err(TooLarge("content")),
    ));
    // Too many follow-ups, each small.
    let a = edit(id, &s, T_X, |s: &mut Signal| {
        for i in 0..=signal::MAX_FOLLOW_UPS {
            s.follow_ups
                .push(entry(&format!("c{i}"), T_X, "correction"));
        }
    });
    rows.push(row(
        "follow-ups past their limit",
        from(id, &s),
        a,
        T_X,
        Err(TooLarge("follow-ups")),
    ));
    // A history of more changes than the kind allows (each empty).
    let mut many = s.clone();
    many.set_actor(actor(T_X));
    for _ in 0..=limits(Kind::Signal).changes {
        many.empty_commit(Default::default());
    }
    rows.push(row(
        "a history past its limit",
        from(id, &s),
        many,
        T_X,
        Err(TooLarge("history")),
    ));
    run(rows);
}

#[test]
fn refusals_name_their_wire_reason() {
    use crate::sync::RefusalReason as R;
    assert_eq!(Refusal::NoWriteAccess.reason(), R::Forbidden);
    assert_eq!(Refusal::ServerOnly.reason(), R::Forbidden);
    assert_eq!(Refusal::NotOwnName("x").reason(), R::Forbidden);
    assert_eq!(Refusal::NotForRole("x").reason(), R::Forbidden);
    assert_eq!(Refusal::ForgedActor.reason(), R::ForgedActor);
    assert_eq!(Refusal::HeaderChanged.reason(), R::InvalidRecord);
    assert_eq!(Refusal::Changed("x").reason(), R::InvalidRecord);
    assert_eq!(Refusal::Invalid("x").reason(), R::InvalidRecord);
    assert_eq!(Refusal::TooLarge("x").reason(), R::TooLarge);
}

#[test]
fn what_is_admitted_carries_the_fields_and_summary_of_the_result() {
    let r = roster();
    let reg = registered(SL);
    let w = Writer {
        roster: &r,
        user: SL,
        actor: &reg,
        pupil_session: None,
    };
    let (id, d) = signal(T_X, P_PLAIN, 2, STAFF_MISCONDUCT, true);
    let after = edit(id, &d, SL, |s: &mut Signal| s.added_readers.push(IB.into()));
    let admitted = admit(id, Some(&d), &after, &w).unwrap();
    assert_eq!(admitted.fields.readers, vec![IB.to_string()]);
    assert_eq!(admitted.changes, 1);
    assert_eq!(
        admitted.summary().unwrap(),
        doc::summarize(id, &after).unwrap()
    );
}

/// The roster with two more pupils in group a (mentor M_A), for the sociogram.
fn roster_with_class() -> Roster {
    let mut r = roster();
    for id in ["p-a2", "p-a3"] {
        let mut p = r.pupils[P_CARE].clone();
        p.id = id.into();
        p.in_care = false;
        r.pupils.insert(id.into(), p);
    }
    r
}

fn question(id: &str, polarity: &str) -> crate::model::SociogramQuestion {
    crate::model::SociogramQuestion {
        id: id.into(),
        text: "Met wie speel je graag?".into(),
        polarity: polarity.into(),
    }
}

fn round(author: &str, group: &str) -> (DocumentId, Automerge) {
    create(
        header(Kind::SociogramRound, None, author),
        &crate::model::SociogramRound {
            group: group.into(),
            opened_on: "2026-11-02".into(),
            questions: vec![question("q1", "positive"), question("q2", "negative")],
            status: "open".into(),
            closed_on: None,
        },
    )
}

fn answer(id: &str, by: &str, pupils: &[&str]) -> crate::model::SociogramAnswer {
    crate::model::SociogramAnswer {
        id: id.into(),
        question: "q1".into(),
        pupils: pupils.iter().map(|p| p.to_string()).collect(),
        at: NOW,
        recorded_by: by.into(),
        source: "staff".into(),
        session: None,
    }
}

/// A pupil's answers as a device makes them: the genesis, then an answer by `writer`.
fn answers(
    round: DocumentId,
    pupil: &str,
    writer: &str,
    a: crate::model::SociogramAnswer,
) -> (DocumentId, Automerge) {
    let (id, g) = doc::sociogram_answers_genesis(SCHOOL, round, "a", pupil).unwrap();
    let d = edit(id, &g, writer, |s: &mut SociogramAnswers| s.answers.push(a));
    (id, d)
}

#[test]
fn sociogram_round_rules() {
    use crate::model::SociogramRound as R;
    use Refusal::*;
    let mut rows = vec![];
    let (b, a) = new(round(M_A, "a"));
    rows.push(row("the group's mentor opens a round", b, a, M_A, Ok(())));
    let (b, a) = new(round(T_A, "a"));
    rows.push(row("a teacher of the group", b, a, T_A, Err(NoWriteAccess)));
    let (b, a) = new(round(IB, "a"));
    rows.push(row(
        "the care team reads only",
        b,
        a,
        IB,
        Err(NoWriteAccess),
    ));
    let (b, a) = new(round(M_A, "b"));
    rows.push(row("another group's round", b, a, M_A, Err(NoWriteAccess)));
    let (id, d) = round(M_A, "a");
    let empty = edit(id, &d, M_A, |r: &mut R| r.questions.clear());
    rows.push(row(
        "a round without questions",
        (id, None),
        empty,
        M_A,
        Err(Invalid("a sociogram round has a question")),
    ));
    let odd = edit(id, &d, M_A, |r: &mut R| {
        r.questions[0].polarity = "neutraal".into()
    });
    rows.push(row(
        "an unknown polarity",
        (id, None),
        odd,
        M_A,
        Err(Invalid("a question's polarity")),
    ));
    let twice = edit(id, &d, M_A, |r: &mut R| r.questions[1].id = "q1".into());
    rows.push(row(
        "a question id twice",
        (id, None),
        twice,
        M_A,
        Err(Invalid("a question has an id of its own and a text")),
    ));
    let more = edit(id, &d, M_A, |r: &mut R| {
        r.questions.push(question("q3", "positive"))
    });
    rows.push(row(
        "a question added after opening",
        from(id, &d),
        more,
        M_A,
        Err(Changed("a sociogram round's questions")),
    ));
    let moved = edit(id, &d, M_A, |r: &mut R| r.group = "b".into());
    rows.push(row(
        "moved to another group",
        from(id, &d),
        moved,
        M_A,
        Err(NoWriteAccess),
    ));
    let closed = edit(id, &d, M_A, |r: &mut R| {
        r.status = "closed".into();
        r.closed_on = Some("2026-11-20".into());
    });
    rows.push(row(
        "closed with a date",
        from(id, &d),
        closed.clone(),
        M_A,
        Ok(()),
    ));
    let undated = edit(id, &d, M_A, |r: &mut R| r.status = "closed".into());
    rows.push(row(
        "closed without a date",
        from(id, &d),
        undated,
        M_A,
        Err(Invalid("a sociogram round is open, or closed with a date")),
    ));
    let reopened = edit(id, &closed, M_A, |r: &mut R| {
        r.status = "open".into();
        r.closed_on = None;
    });
    rows.push(row(
        "a closed round reopened",
        from(id, &closed),
        reopened,
        M_A,
        Err(Changed("a closed sociogram round")),
    ));
    run_with(&roster_with_class(), rows);
}

#[test]
fn sociogram_answers_rules() {
    use Refusal::*;
    let mut rows = vec![];
    let (rid, _) = round(M_A, "a");
    let (b, a) = new(answers(
        rid,
        P_CARE,
        M_A,
        answer("x1", M_A, &["p-a2", "p-a3"]),
    ));
    rows.push(row(
        "the mentor enters a pupil's answers",
        b,
        a,
        M_A,
        Ok(()),
    ));
    let (b, a) = new(answers(rid, P_CARE, M_A, answer("x1", M_A, &[])));
    rows.push(row("nobody named", b, a, M_A, Ok(())));
    let (b, a) = new(answers(rid, P_CARE, T_A, answer("x1", T_A, &["p-a2"])));
    rows.push(row("a teacher of the group", b, a, T_A, Err(NoWriteAccess)));
    let (b, a) = new(answers(rid, P_CARE, IB, answer("x1", IB, &["p-a2"])));
    rows.push(row(
        "the care team reads only",
        b,
        a,
        IB,
        Err(NoWriteAccess),
    ));
    let (b, a) = new(answers(rid, P_CARE, M_A, answer("x1", M_B, &["p-a2"])));
    rows.push(row(
        "in another's name",
        b,
        a,
        M_A,
        Err(NotOwnName("answer recorded_by")),
    ));
    let not_classmates = Invalid("the pupils chosen are different pupils of the same group");
    for (name, named) in [
        ("a pupil of another group", &[P_PLAIN][..]),
        ("the pupil herself", &[P_CARE][..]),
        ("a classmate twice", &["p-a2", "p-a2"][..]),
        ("an unknown pupil", &["p-weg"][..]),
    ] {
        let (b, a) = new(answers(rid, P_CARE, M_A, answer("x1", M_A, named)));
        rows.push(row(name, b, a, M_A, Err(not_classmates)));
    }
    let mut six = answer("x1", M_A, &[]);
    six.pupils = (0..6).map(|i| format!("p-{i}")).collect();
    let (b, a) = new(answers(rid, P_CARE, M_A, six));
    rows.push(row("six named", b, a, M_A, Err(TooLarge("pupils chosen"))));
    let mut own = answer("x1", M_A, &["p-a2"]);
    own.source = "pupil".into();
    let (b, a) = new(answers(rid, P_CARE, M_A, own));
    rows.push(row(
        "staff writing as the pupil",
        b,
        a,
        M_A,
        Err(NotForRole("staff enter answers as staff")),
    ));
    let mut in_session = answer("x1", M_A, &["p-a2"]);
    in_session.session = Some("sessie-1".into());
    let (b, a) = new(answers(rid, P_CARE, M_A, in_session));
    rows.push(row(
        "staff answers in a pupil session's name",
        b,
        a,
        M_A,
        Err(NotForRole("staff enter answers as staff")),
    ));
    let (b, a) = new(answers(rid, P_PLAIN, M_A, answer("x1", M_A, &["p-a2"])));
    rows.push(row(
        "a pupil of another group answering",
        b,
        a,
        M_A,
        Err(Invalid(
            "the pupil answering is an active pupil of the round's group",
        )),
    ));
    let (id, d) = answers(rid, P_CARE, M_A, answer("x1", M_A, &["p-a2"]));
    let later = edit(id, &d, M_A, |s: &mut SociogramAnswers| {
        s.answers.push(answer("x2", M_A, &["p-a3"]))
    });
    rows.push(row(
        "a later answer appended",
        from(id, &d),
        later,
        M_A,
        Ok(()),
    ));
    let changed = edit(id, &d, M_A, |s: &mut SociogramAnswers| {
        s.answers[0].pupils = vec!["p-a3".into()]
    });
    rows.push(row(
        "an answer changed",
        from(id, &d),
        changed,
        M_A,
        Err(Changed("sociogram answers")),
    ));
    let regrouped = edit(id, &d, M_A, |s: &mut SociogramAnswers| s.group = "b".into());
    rows.push(row(
        "moved to another group",
        from(id, &d),
        regrouped,
        M_A,
        Err(Invalid("sociogram answers are one pupil's in one round")),
    ));
    let (_, g) = doc::sociogram_answers_genesis(SCHOOL, rid, "a", P_CARE).unwrap();
    let elsewhere = DocumentId::random();
    let a = edit(elsewhere, &g, M_A, |s: &mut SociogramAnswers| {
        s.answers.push(answer("x1", M_A, &["p-a2"]))
    });
    rows.push(row(
        "answers under another id",
        (elsewhere, None),
        a,
        M_A,
        Err(Invalid("sociogram answers are one pupil's in one round")),
    ));
    run_with(&roster_with_class(), rows);
}

#[test]
fn pupil_session_sociogram_answers_rules() {
    use Refusal::*;
    let r = roster_with_class();
    let scope = crate::model::PupilScope {
        session: "ps-1".into(),
        group: "a".into(),
        scales: [(
            "po_5_8".to_string(),
            crate::defaults::SCALE_SMILEYS.to_string(),
        )]
        .into(),
        expires_at: NOW + 3_600_000,
    };
    let own = |session: &str, by: &str, pupils: &[&str]| crate::model::SociogramAnswer {
        source: "pupil".into(),
        session: Some(session.into()),
        ..answer("x1", by, pupils)
    };
    let (rid, _) = round(M_A, "a");
    let reg = registered(M_A);
    let w = Writer {
        roster: &r,
        user: M_A,
        actor: &reg,
        pupil_session: Some(&scope),
    };
    let cases = [
        ("a pupil's own answers", own("ps-1", M_A, &["p-a2"]), Ok(())),
        (
            "answers entered as staff",
            answer("x1", M_A, &["p-a2"]),
            Err(NotForRole(
                "a pupil session enters pupils' own answers in its own name",
            )),
        ),
        (
            "answers in another session's name",
            own("ps-2", M_A, &["p-a2"]),
            Err(NotForRole(
                "a pupil session enters pupils' own answers in its own name",
            )),
        ),
        (
            "answers in another's name",
            own("ps-1", M_B, &["p-a2"]),
            Err(NotOwnName("answer recorded_by")),
        ),
    ];
    let mut failed = vec![];
    for (name, a, want) in cases {
        let (id, d) = answers(rid, P_CARE, M_A, a);
        let got = admit(id, None, &d, &w).map(|_| ());
        if got != want {
            failed.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    // A staff device never enters a pupil's own answer.
    let (id, d) = answers(rid, P_CARE, M_A, own("ps-1", M_A, &["p-a2"]));
    let staff = Writer {
        pupil_session: None,
        ..w
    };
    let got = admit(id, None, &d, &staff).map(|_| ());
    if got != Err(NotForRole("staff enter answers as staff")) {
        failed.push(format!("a staff device's pupil answer: got {got:?}"));
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

/// After the pupil's file was erased (`Pupil::erasures`), her months start under new ids:
/// the id of each erasure so far is her month's (a device that recorded offline before it
/// learnt of the erasure wrote under the one before; an erased id is refused by the
/// server's catalog, not here), one of an erasure still to come, or of no month, is not.
#[test]
fn a_thermometer_month_after_an_erasure_has_an_id_of_its_own() {
    use Refusal::*;
    let mut erased = roster();
    erased.pupils.get_mut(P_CARE).unwrap().erasures = 2;
    let at = |n: u32| {
        let (id, g) = doc::thermometer_genesis(SCHOOL, P_CARE, "2026-11", n).unwrap();
        let d = edit(id, &g, M_A, |m: &mut ThermometerMonth| {
            m.entries.push(reading("e1", M_A, 3))
        });
        (id, d)
    };
    let ids: std::collections::BTreeSet<DocumentId> = (0..4).map(|n| at(n).0).collect();
    assert_eq!(
        ids.len(),
        4,
        "each erasure gives the month an id of its own"
    );
    let not_the_month = Invalid("a thermometer month is its pupil's month");
    // Another month's genesis under this month's id of the next erasure.
    let (next, _) = at(3);
    let (_, other) = doc::thermometer_genesis(SCHOOL, P_CARE, "2026-11", 1).unwrap();
    let other = edit(next, &other, M_A, |m: &mut ThermometerMonth| {
        m.entries.push(reading("e1", M_A, 3))
    });
    run_with(
        &erased,
        vec![
            row("after two erasures", new(at(2)).0, at(2).1, M_A, Ok(())),
            row(
                "written before the second",
                new(at(1)).0,
                at(1).1,
                M_A,
                Ok(()),
            ),
            row(
                "written before the first",
                new(at(0)).0,
                at(0).1,
                M_A,
                Ok(()),
            ),
            row(
                "a third erasure's",
                new(at(3)).0,
                at(3).1,
                M_A,
                Err(not_the_month),
            ),
            row(
                "a genesis not its id's",
                (next, None),
                other,
                M_A,
                Err(not_the_month),
            ),
        ],
    );
    // Before any erasure, only the ids as they always were.
    run(vec![row(
        "no erasure yet",
        new(at(1)).0,
        at(1).1,
        M_A,
        Err(not_the_month),
    )]);
}
