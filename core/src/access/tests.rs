//! Tests of `access`.

use super::Access::{None as N, Read as R, Write as W};
use super::*;
use crate::defaults::{NIET_PLUIS, PESTEN, STAFF_MISCONDUCT, THUISSITUATIE};
use crate::model::SCHEMA_VERSION;
use crate::model::{Group, Pupil};

const SCHOOL: &str = "school-1";

// Pupils: one in care (group A, mentor m_a), one not (group B, mentor m_b), one who left.
const P_CARE: &str = "p-care";
const P_PLAIN: &str = "p-plain";
const P_LEFT: &str = "p-left";

// Staff.
const M_A: &str = "mentor-a"; // mentor of P_CARE
const M_B: &str = "mentor-b"; // mentor of P_PLAIN and P_LEFT
const T_A: &str = "teacher-a"; // teaches group A
const T_X: &str = "teacher-x"; // teaches no group
const IB: &str = "care"; // care coordinator (IB'er, aandachtsfunctionaris)
const APC: &str = "anti-bullying";
const SL: &str = "leader";
const ADM: &str = "admin";
const GONE: &str = "gone"; // inactive, still listed as mentor and teacher of group A
const STRANGER: &str = "stranger"; // not on the roster

fn roster() -> Roster {
    let pupil = |id: &str, group: &str, in_care: bool, active: bool, mentors: &[&str]| {
        let p = Pupil {
            id: id.into(),
            display_name: format!("leerling {id}"),
            group: group.into(),
            age_band: "po_5_8".into(),
            active,
            in_care,
            mentors: mentors.iter().map(|m| m.to_string()).collect(),
            erasures: 0,
        };
        (id.to_string(), p)
    };
    let group = |id: &str, teachers: &[&str]| {
        let g = Group {
            id: id.into(),
            name: format!("groep {id}"),
            teachers: teachers.iter().map(|t| t.to_string()).collect(),
        };
        (id.to_string(), g)
    };
    let staff = |id: &str, roles: &[Role], meldcode_duty: bool, active: bool| {
        let s = Staff {
            id: id.into(),
            display_name: id.into(),
            roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
            meldcode_duty,
            active,
        };
        (id.to_string(), s)
    };
    Roster {
        school: SCHOOL.into(),
        pupils: [
            pupil(P_CARE, "a", true, true, &[M_A, GONE]),
            pupil(P_PLAIN, "b", false, true, &[M_B]),
            pupil(P_LEFT, "b", false, false, &[M_B]),
        ]
        .into(),
        groups: [group("a", &[M_A, T_A, GONE]), group("b", &[M_B])].into(),
        staff: [
            staff(M_A, &[Role::Mentor], false, true),
            staff(M_B, &[Role::Mentor], false, true),
            staff(T_A, &[Role::Teacher], false, true),
            staff(T_X, &[Role::Teacher], false, true),
            staff(IB, &[Role::CareCoordinator], true, true),
            staff(
                APC,
                &[Role::AntiBullyingCoordinator, Role::Teacher],
                false,
                true,
            ),
            staff(SL, &[Role::SchoolLeader], false, true),
            staff(ADM, &[Role::Admin], false, true),
            staff(GONE, &[Role::Mentor, Role::CareCoordinator], false, false),
        ]
        .into(),
        offline_lease_days: None,
        viewer: None,
        parent_names: false,
    }
}

/// A document as `access` sees it.
#[derive(Debug, Clone)]
struct Doc {
    header: Header,
    fields: AccessFields,
}

fn doc(kind: Kind, pupil: Option<&str>, author: &str, fields: AccessFields) -> Doc {
    let header = Header {
        kind: kind.as_str().into(),
        school: SCHOOL.into(),
        pupil: pupil.map(Into::into),
        author: author.into(),
        created_at: 1_700_000_000_000,
        schema: SCHEMA_VERSION,
    };
    Doc { header, fields }
}

fn conv(author: &str, pupil: &str, visibility: &str) -> Doc {
    let fields = AccessFields {
        visibility: Some(visibility.into()),
        ..Default::default()
    };
    doc(Kind::Conversation, Some(pupil), author, fields)
}

fn sig(author: &str, pupil: &str, urgency: u8, category: &str) -> Doc {
    let fields = AccessFields {
        urgency: Some(urgency),
        category: Some(category.into()),
        ..Default::default()
    };
    doc(Kind::Signal, Some(pupil), author, fields)
}

fn thermo(pupil: &str) -> Doc {
    doc(
        Kind::Thermometer,
        Some(pupil),
        SYSTEM,
        AccessFields::default(),
    )
}

fn case(pupil: &str) -> Doc {
    doc(Kind::Case, Some(pupil), IB, AccessFields::default())
}

/// The school's whole roster (no readers: the server's).
fn roster_doc() -> Doc {
    doc(Kind::Roster, None, SYSTEM, AccessFields::default())
}

/// Staff member `viewer`'s view of the roster.
fn roster_view(viewer: &str) -> Doc {
    let fields = AccessFields {
        readers: vec![viewer.into()],
        ..Default::default()
    };
    doc(Kind::Roster, None, SYSTEM, fields)
}

fn excursion(author: &str) -> Doc {
    doc(Kind::Excursion, None, author, AccessFields::default())
}

fn check(r: &Roster, user: &str, d: &Doc) -> Access {
    access(r, user, &d.header, &d.fields)
}

/// Asserts `expected` for every (user, access) pair on `d`, naming the failing cell.
fn expect(r: &Roster, cell: &str, d: &Doc, expected: &[(&str, Access)]) {
    for &(user, want) in expected {
        assert_eq!(check(r, user, d), want, "{cell}: {user}");
    }
}

const EVERYONE: [&str; 10] = [M_A, M_B, T_A, T_X, IB, APC, SL, ADM, GONE, STRANGER];

/// A cell of the matrix: its name, a document, and the users granted access to it.
type Row = (&'static str, Doc, Vec<(&'static str, Access)>);

/// One row per cell of the DOMAIN.md matrix: (cell, document, expected access per
/// user). Users left out of a row get none.
#[test]
fn default_access_matrix() {
    let r = roster();
    let rows: Vec<Row> = vec![
        (
            "private working note: its author only",
            conv(M_A, P_CARE, "private"),
            vec![(M_A, W)],
        ),
        (
            "private working note of a non-mentor: still its author only",
            conv(T_X, P_PLAIN, "private"),
            vec![(T_X, W)],
        ),
        (
            "unknown visibility is private",
            conv(M_A, P_CARE, "iedereen"),
            vec![(M_A, W)],
        ),
        (
            "shared kindgesprek, pupil in care: author, mentors, care team",
            conv(M_A, P_CARE, "shared"),
            vec![(M_A, W), (IB, W)],
        ),
        (
            "shared kindgesprek, pupil not in care: author and mentors",
            conv(M_B, P_PLAIN, "shared"),
            vec![(M_B, W)],
        ),
        (
            "shared kindgesprek by a former mentor: author and current mentor",
            conv(T_X, P_PLAIN, "shared"),
            vec![(T_X, W), (M_B, W)],
        ),
        (
            "signal urgency 0: author writes, mentors read",
            sig(T_X, P_PLAIN, 0, NIET_PLUIS),
            vec![(T_X, W), (M_B, R)],
        ),
        (
            "signal urgency 0 about bullying: not yet the anti-bullying coordinator",
            sig(T_A, P_CARE, 0, PESTEN),
            vec![(T_A, W), (M_A, R)],
        ),
        (
            "signal urgency 1: author, mentors and care team, pupil not in care",
            sig(T_X, P_PLAIN, 1, "welbevinden"),
            vec![(T_X, W), (M_B, W), (IB, W)],
        ),
        (
            "signal urgency 2 about bullying: also the anti-bullying coordinator",
            sig(T_X, P_PLAIN, 2, PESTEN),
            vec![(T_X, W), (M_B, W), (IB, W), (APC, W)],
        ),
        (
            "signal urgency 3, meldcode category: author, mentors, care team",
            sig(T_A, P_CARE, 3, THUISSITUATIE),
            vec![(T_A, W), (M_A, W), (IB, W)],
        ),
        (
            "signal by the mentor: the mentor writes as author",
            sig(M_B, P_PLAIN, 0, NIET_PLUIS),
            vec![(M_B, W)],
        ),
        (
            "staff misconduct: author and school leader",
            sig(T_X, P_CARE, 2, STAFF_MISCONDUCT),
            vec![(T_X, W), (SL, W)],
        ),
        (
            "staff misconduct at urgency 0: still the school leader",
            sig(M_A, P_CARE, 0, STAFF_MISCONDUCT),
            vec![(M_A, W), (SL, W)],
        ),
        (
            "signal of an unknown category: its author only",
            sig(T_X, P_PLAIN, 2, "iets-nieuws"),
            vec![(T_X, W)],
        ),
        (
            "signal of an unknown urgency: its author only",
            sig(T_X, P_PLAIN, 9, NIET_PLUIS),
            vec![(T_X, W)],
        ),
        (
            "signal without access fields: nobody",
            doc(Kind::Signal, Some(P_PLAIN), T_X, AccessFields::default()),
            vec![],
        ),
        (
            "conversation without visibility: nobody",
            doc(
                Kind::Conversation,
                Some(P_CARE),
                M_A,
                AccessFields::default(),
            ),
            vec![],
        ),
        ("meldcode case: care team only", case(P_CARE), vec![(IB, W)]),
        (
            "meldcode case of a pupil not in care: care team only",
            case(P_PLAIN),
            vec![(IB, W)],
        ),
        (
            "meldcode case without pupil: nobody",
            doc(Kind::Case, None, IB, AccessFields::default()),
            vec![],
        ),
        (
            "thermometer, pupil in care: mentors and group teachers write, care team reads",
            thermo(P_CARE),
            vec![(M_A, W), (T_A, W), (IB, R)],
        ),
        (
            "thermometer, pupil not in care: mentors and group teachers",
            thermo(P_PLAIN),
            vec![(M_B, W)],
        ),
        (
            "the school's whole roster: no device reads it (the server does)",
            roster_doc(),
            vec![],
        ),
        (
            "a staff member's view of the roster: that member reads, nobody writes",
            roster_view(T_X),
            vec![(T_X, R)],
        ),
        (
            "the care coordinator's view: the care coordinator only",
            roster_view(IB),
            vec![(IB, R)],
        ),
        ("excursion: its author", excursion(T_A), vec![(T_A, W)]),
        (
            "excursion: its author writes, the staff on the trip read",
            {
                let mut d = excursion(T_A);
                d.fields.readers = vec![M_B.into(), IB.into()];
                d
            },
            vec![(T_A, W), (M_B, R), (IB, R)],
        ),
    ];
    for (cell, d, granted) in &rows {
        for user in EVERYONE {
            let want = granted
                .iter()
                .find(|(u, _)| *u == user)
                .map_or(N, |&(_, a)| a);
            assert_eq!(check(&r, user, d), want, "{cell}: {user}");
        }
    }
}

/// Need-to-know: a staff member's view of the roster gives that member exactly the
/// access the whole roster gives, for every document, and holds no one else's care data.
#[test]
fn a_roster_view_decides_like_the_whole_roster_and_holds_only_what_its_viewer_needs() {
    let r = roster();
    let docs = [
        conv(M_A, P_CARE, "shared"),
        conv(M_B, P_PLAIN, "shared"),
        conv(M_A, P_CARE, "private"),
        sig(T_X, P_PLAIN, 0, NIET_PLUIS),
        sig(T_A, P_CARE, 1, "welbevinden"),
        sig(T_X, P_PLAIN, 2, PESTEN),
        sig(T_X, P_CARE, 2, STAFF_MISCONDUCT),
        case(P_CARE),
        thermo(P_CARE),
        thermo(P_PLAIN),
        excursion(T_A),
    ];
    for user in EVERYONE {
        let view = r.view_for(user);
        for d in &docs {
            assert_eq!(check(&view, user, d), check(&r, user, d), "{user} {d:?}");
        }
        for p in [P_CARE, P_PLAIN, P_LEFT] {
            assert_eq!(
                pupil_permissions(&view, user, p),
                pupil_permissions(&r, user, p),
                "{user} {p}"
            );
        }
        assert_eq!(
            view.pupils.len(),
            r.pupils.len(),
            "every pupil, for signals"
        );
        assert_eq!(view.viewer.as_deref(), Some(user));
    }
    // A teacher of group a: no care-track flag, no mentorship, only herself as teacher.
    let t = r.view_for(T_A);
    assert!(
        t.pupils
            .values()
            .all(|p| !p.in_care && p.mentors.is_empty())
    );
    assert_eq!(t.groups["a"].teachers, vec![T_A.to_string()]);
    assert!(t.groups["b"].teachers.is_empty());
    // A mentor: her own pupil's flag and mentors, nobody else's.
    let m = r.view_for(M_B);
    assert_eq!(m.pupils[P_PLAIN].mentors, vec![M_B.to_string()]);
    assert!(m.pupils[P_CARE].mentors.is_empty() && !m.pupils[P_CARE].in_care);
    // The care team: every flag and mentorship.
    let c = r.view_for(IB);
    assert!(c.pupils[P_CARE].in_care);
    assert_eq!(c.pupils, r.pupils);
}

#[test]
fn teacher_who_is_not_mentor_reads_back_only_own_signals_and_no_conversations() {
    let r = roster();
    assert_eq!(check(&r, T_X, &sig(T_X, P_CARE, 1, "agressie")), W);
    assert_eq!(check(&r, T_X, &sig(T_A, P_CARE, 1, "agressie")), N);
    assert_eq!(check(&r, T_X, &sig(M_B, P_PLAIN, 0, NIET_PLUIS)), N);
    assert_eq!(check(&r, T_X, &conv(M_A, P_CARE, "shared")), N);
    assert_eq!(check(&r, T_X, &conv(M_B, P_PLAIN, "shared")), N);
    // Teaching the pupil's group gives the thermometer, not the dossier.
    assert_eq!(check(&r, T_A, &conv(M_A, P_CARE, "shared")), N);
    assert_eq!(check(&r, T_A, &thermo(P_CARE)), W);
}

#[test]
fn mentor_sees_own_pupils_only() {
    let r = roster();
    expect(
        &r,
        "own pupil",
        &conv(IB, P_CARE, "shared"),
        &[(M_A, W), (M_B, N)],
    );
    expect(&r, "own pupil", &thermo(P_CARE), &[(M_A, W), (M_B, N)]);
    expect(
        &r,
        "own pupil",
        &sig(T_X, P_CARE, 0, NIET_PLUIS),
        &[(M_A, R), (M_B, N)],
    );
    expect(
        &r,
        "other pupil",
        &sig(T_X, P_PLAIN, 1, NIET_PLUIS),
        &[(M_A, N), (M_B, W)],
    );
    expect(&r, "other pupil", &thermo(P_PLAIN), &[(M_A, N), (M_B, W)]);
}

#[test]
fn care_team_sees_conversations_of_pupils_in_care_and_every_signal_from_urgency_one() {
    let r = roster();
    assert_eq!(check(&r, IB, &conv(M_A, P_CARE, "shared")), W);
    assert_eq!(check(&r, IB, &conv(M_B, P_PLAIN, "shared")), N);
    assert_eq!(check(&r, IB, &conv(M_A, P_CARE, "private")), N);
    assert_eq!(check(&r, IB, &thermo(P_CARE)), R);
    assert_eq!(check(&r, IB, &thermo(P_PLAIN)), N);
    for pupil in [P_CARE, P_PLAIN] {
        assert_eq!(check(&r, IB, &sig(T_X, pupil, 0, NIET_PLUIS)), N);
        for level in 1..=3 {
            assert_eq!(check(&r, IB, &sig(T_X, pupil, level, NIET_PLUIS)), W);
        }
    }
}

#[test]
fn care_track_closing_ends_care_team_access_to_conversations() {
    let mut r = roster();
    let d = conv(M_A, P_CARE, "shared");
    assert_eq!(check(&r, IB, &d), W);
    r.pupils.get_mut(P_CARE).unwrap().in_care = false;
    assert_eq!(check(&r, IB, &d), N);
    assert_eq!(check(&r, M_A, &d), W);
}

#[test]
fn mentor_change_ends_old_mentor_access() {
    let mut r = roster();
    let d = conv(IB, P_PLAIN, "shared");
    assert_eq!(check(&r, M_B, &d), W);
    r.pupils.get_mut(P_PLAIN).unwrap().mentors = vec![M_A.into()];
    assert_eq!(check(&r, M_B, &d), N);
    assert_eq!(check(&r, M_A, &d), W);
}

#[test]
fn anti_bullying_coordinator_gets_bullying_signals_from_urgency_one_only() {
    let r = roster();
    assert_eq!(check(&r, APC, &sig(T_X, P_PLAIN, 0, PESTEN)), N);
    for level in 1..=3 {
        assert_eq!(check(&r, APC, &sig(T_X, P_PLAIN, level, PESTEN)), W);
        assert_eq!(check(&r, APC, &sig(T_X, P_PLAIN, level, "agressie")), N);
    }
    assert_eq!(check(&r, APC, &conv(M_B, P_PLAIN, "shared")), N);
}

#[test]
fn admin_reads_no_care_content() {
    let r = roster();
    let care_docs = [
        conv(M_A, P_CARE, "shared"),
        conv(M_A, P_CARE, "private"),
        sig(T_X, P_CARE, 0, NIET_PLUIS),
        sig(T_X, P_CARE, 3, THUISSITUATIE),
        sig(T_X, P_PLAIN, 2, PESTEN),
        sig(T_X, P_PLAIN, 2, STAFF_MISCONDUCT),
        case(P_CARE),
        thermo(P_CARE),
        excursion(T_A),
    ];
    for d in &care_docs {
        assert_eq!(check(&r, ADM, d), N, "{d:?}");
    }
    assert_eq!(check(&r, ADM, &roster_view(ADM)), R);
}

#[test]
fn school_leader_gets_only_the_misconduct_route() {
    let r = roster();
    assert_eq!(check(&r, SL, &sig(T_X, P_CARE, 1, STAFF_MISCONDUCT)), W);
    for d in [
        conv(M_A, P_CARE, "shared"),
        sig(T_X, P_CARE, 3, THUISSITUATIE),
        sig(T_X, P_CARE, 2, PESTEN),
        case(P_CARE),
        thermo(P_CARE),
    ] {
        assert_eq!(check(&r, SL, &d), N, "{d:?}");
    }
}

#[test]
fn misconduct_goes_to_school_leader_not_mentor_or_care_team() {
    let r = roster();
    for level in 0..=3 {
        let d = sig(T_A, P_CARE, level, STAFF_MISCONDUCT);
        expect(
            &r,
            "misconduct",
            &d,
            &[
                (T_A, W),
                (SL, W),
                (M_A, N),
                (IB, N),
                (APC, N),
                (ADM, N),
                (T_X, N),
            ],
        );
    }
}

#[test]
fn readers_the_school_leader_adds_to_misconduct_read_and_follow_up() {
    let r = roster();
    let mut d = sig(T_A, P_CARE, 2, STAFF_MISCONDUCT);
    d.fields.readers = vec![IB.into()];
    expect(
        &r,
        "misconduct with the care coordinator added",
        &d,
        &[(T_A, W), (SL, W), (IB, W), (M_A, N), (APC, N), (ADM, N)],
    );
    // Readers on a signal of another route change nothing.
    let mut d = sig(T_X, P_PLAIN, 0, PESTEN);
    d.fields.readers = vec![T_A.into(), IB.into()];
    expect(&r, "readers elsewhere", &d, &[(T_A, N), (IB, N)]);
}

#[test]
fn other_school_gets_nothing() {
    let r = roster();
    let mut docs = vec![
        roster_view(M_A),
        conv(M_A, P_CARE, "shared"),
        conv(M_A, P_CARE, "private"),
        sig(T_X, P_PLAIN, 2, PESTEN),
        sig(T_X, P_PLAIN, 2, STAFF_MISCONDUCT),
        case(P_CARE),
        thermo(P_CARE),
        excursion(T_A),
    ];
    for d in &mut docs {
        d.header.school = "school-2".into();
        for user in EVERYONE {
            assert_eq!(check(&r, user, d), N, "{user} {d:?}");
        }
    }
}

#[test]
fn inactive_staff_gets_nothing_even_as_author_or_listed_mentor() {
    let r = roster();
    for d in [
        roster_view(GONE),
        conv(GONE, P_CARE, "private"),
        conv(GONE, P_CARE, "shared"),
        sig(GONE, P_CARE, 0, NIET_PLUIS),
        sig(T_A, P_CARE, 2, NIET_PLUIS),
        case(P_CARE),
        thermo(P_CARE),
        excursion(GONE),
    ] {
        assert_eq!(check(&r, GONE, &d), N, "{d:?}");
    }
}

#[test]
fn unknown_staff_unknown_kind_and_the_system_author_get_nothing() {
    let r = roster();
    assert_eq!(check(&r, STRANGER, &roster_view(STRANGER)), N);
    let mut d = excursion(T_A);
    d.header.kind = "dagboek".into();
    assert_eq!(check(&r, T_A, &d), N);
    // Even a roster entry called "system" never gains author rights.
    let mut r2 = roster();
    let mut s = r2.staff[T_A].clone();
    s.id = SYSTEM.into();
    r2.staff.insert(SYSTEM.into(), s);
    assert_eq!(check(&r2, SYSTEM, &roster_view(SYSTEM)), N);
}

#[test]
fn private_working_note_is_for_its_author_only() {
    let r = roster();
    let d = conv(M_A, P_CARE, "private");
    for user in EVERYONE {
        let want = if user == M_A { W } else { N };
        assert_eq!(check(&r, user, &d), want, "{user}");
    }
}

#[test]
fn any_active_staff_may_record_a_signal_about_an_active_pupil() {
    let r = roster();
    for user in [M_A, M_B, T_A, T_X, IB, APC, SL, ADM] {
        assert!(may_record_signal(&r, user, P_CARE), "{user}");
    }
    assert!(!may_record_signal(&r, GONE, P_CARE));
    assert!(!may_record_signal(&r, STRANGER, P_CARE));
    assert!(!may_record_signal(&r, M_B, P_LEFT));
    assert!(!may_record_signal(&r, M_B, "p-unknown"));
}

#[test]
fn pupil_permissions_follow_the_access_rules() {
    let r = roster();
    let all = PupilPermissions {
        record_signal: true,
        record_thermometer: true,
        start_conversation: true,
        read_conversations: true,
        read_thermometer: true,
        record_parent_contact: true,
        read_parent_contacts: true,
    };
    let signal_only = PupilPermissions {
        record_signal: true,
        record_thermometer: false,
        start_conversation: false,
        read_conversations: false,
        read_thermometer: false,
        record_parent_contact: false,
        read_parent_contacts: false,
    };
    let nothing = PupilPermissions {
        record_signal: false,
        ..signal_only
    };
    assert_eq!(pupil_permissions(&r, M_A, P_CARE), all);
    assert_eq!(pupil_permissions(&r, M_A, P_PLAIN), signal_only);
    assert_eq!(
        pupil_permissions(&r, T_A, P_CARE),
        PupilPermissions {
            record_thermometer: true,
            read_thermometer: true,
            ..signal_only
        }
    );
    assert_eq!(
        pupil_permissions(&r, IB, P_CARE),
        PupilPermissions {
            record_thermometer: false,
            ..all
        }
    );
    assert_eq!(pupil_permissions(&r, IB, P_PLAIN), signal_only);
    assert_eq!(pupil_permissions(&r, ADM, P_CARE), signal_only);
    assert_eq!(pupil_permissions(&r, SL, P_CARE), signal_only);
    assert_eq!(pupil_permissions(&r, GONE, P_CARE), nothing);
    // A pupil who left: the dossier stays readable, nothing new is recorded.
    assert_eq!(
        pupil_permissions(&r, M_B, P_LEFT),
        PupilPermissions {
            read_conversations: true,
            read_thermometer: true,
            read_parent_contacts: true,
            ..nothing
        }
    );
}

#[test]
fn a_parent_contact_is_read_and_written_like_a_shared_kindgesprek() {
    let r = roster();
    let f = AccessFields::default();
    for (pupil, author) in [(P_CARE, M_A), (P_PLAIN, M_B), (P_CARE, IB), (P_PLAIN, T_X)] {
        let contact = doc(Kind::ParentContact, Some(pupil), author, f.clone());
        let kindgesprek = conv(author, pupil, "shared");
        for user in [M_A, M_B, T_A, T_X, IB, APC, SL, ADM, GONE, STRANGER] {
            assert_eq!(
                check(&r, user, &contact),
                check(&r, user, &kindgesprek),
                "{user} on {pupil} by {author}"
            );
        }
    }
    let unbound = doc(Kind::ParentContact, None, M_A, f);
    assert_eq!(check(&r, M_A, &unbound), N);
}

fn round(author: &str, group: &str) -> Doc {
    doc(
        Kind::SociogramRound,
        None,
        author,
        AccessFields::of_sociogram_group(group),
    )
}

fn answers(pupil: &str, group: &str) -> Doc {
    doc(
        Kind::SociogramAnswers,
        Some(pupil),
        SYSTEM,
        AccessFields::of_sociogram_group(group),
    )
}

/// The sociogram is the group's mentors' (write) and the care team's (read): never
/// another teacher's, not even one teaching the group, nor the leader's or admin's.
#[test]
fn sociogram_is_for_the_groups_mentors_and_the_care_team() {
    let r = roster();
    let rows: Vec<Row> = vec![
        (
            "round of group a: its mentor writes, the care team reads",
            round(M_A, "a"),
            vec![(M_A, W), (IB, R)],
        ),
        (
            "round of group b opened by its mentor",
            round(M_B, "b"),
            vec![(M_B, W), (IB, R)],
        ),
        (
            "answers of a pupil of group a",
            answers(P_CARE, "a"),
            vec![(M_A, W), (IB, R)],
        ),
        (
            "answers of a pupil of group b",
            answers(P_PLAIN, "b"),
            vec![(M_B, W), (IB, R)],
        ),
        (
            "a group without pupils has no mentor",
            round(M_B, "c"),
            vec![(IB, R)],
        ),
    ];
    for (cell, d, granted) in &rows {
        for user in EVERYONE {
            let want = granted
                .iter()
                .find(|(u, _)| *u == user)
                .map_or(N, |(_, a)| *a);
            assert_eq!(check(&r, user, d), want, "{cell}: {user}");
        }
    }
    // Malformed: no group, a round bound to a pupil, answers bound to none.
    let mut no_group = round(M_A, "a");
    no_group.fields = AccessFields::default();
    let mut bound = round(M_A, "a");
    bound.header.pupil = Some(P_CARE.into());
    let mut unbound = answers(P_CARE, "a");
    unbound.header.pupil = None;
    for d in [no_group, bound, unbound] {
        for user in EVERYONE {
            assert_eq!(check(&r, user, &d), N, "{user} {d:?}");
        }
    }
    assert!(may_open_sociogram(&r, M_A, "a"));
    assert!(!may_open_sociogram(&r, M_A, "b"));
    assert!(!may_open_sociogram(&r, T_A, "a"), "a teacher of the group");
    assert!(!may_open_sociogram(&r, IB, "a"), "the care team reads only");
    assert!(!may_open_sociogram(&r, M_A, "zz"), "an unknown group");
}

/// What a mentor's view of the roster gives her (her own mentorships) decides the
/// same as the whole roster, for every user.
#[test]
fn sociogram_access_on_a_view_is_the_whole_rosters() {
    let r = roster();
    for user in EVERYONE {
        let view = r.view_for(user);
        for d in [round(M_A, "a"), answers(P_PLAIN, "b")] {
            assert_eq!(check(&view, user, &d), check(&r, user, &d), "{user} {d:?}");
        }
    }
}

/// That a pupil's file was erased (`Pupil::erasures`, which her thermometer months' ids
/// follow) is in the views of those who keep or read her thermometer, and of nobody else.
#[test]
fn a_pupils_erasures_are_for_those_who_keep_her_thermometer() {
    let mut r = roster();
    r.pupils.get_mut(P_CARE).unwrap().erasures = 1;
    for user in [M_A, T_A, IB] {
        assert_eq!(r.view_for(user).pupils[P_CARE].erasures, 1, "{user}");
        assert_ne!(check(&r, user, &thermo(P_CARE)), N, "{user}");
    }
    for user in [M_B, T_X, APC, SL, ADM] {
        assert_eq!(r.view_for(user).pupils[P_CARE].erasures, 0, "{user}");
        assert_eq!(check(&r, user, &thermo(P_CARE)), N, "{user}");
    }
}
