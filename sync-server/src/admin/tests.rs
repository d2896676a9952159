use super::*;
use crate::storage::CatalogRow;
use omkijken_core::model::{Group, Header, Kind, Pupil, Roster, Staff};
use omkijken_core::{AccessFields, DocumentId};

fn roster(mentor_of_bram: &str) -> Roster {
    let pupil = |id: &str, name: &str, mentor: &str| {
        let p = Pupil {
            id: id.into(),
            display_name: name.into(),
            group: "g6b".into(),
            age_band: "po_5_8".into(),
            active: true,
            in_care: false,
            mentors: vec![mentor.into()],
            erasures: 0,
        };
        (id.to_string(), p)
    };
    let staff = |id: &str, role: &str| {
        let s = Staff {
            id: id.into(),
            display_name: id.into(),
            roles: vec![role.into()],
            meldcode_duty: false,
            active: true,
        };
        (id.to_string(), s)
    };
    Roster {
        school: "s1".into(),
        pupils: [
            pupil("p1", "Zoë", "m1"),
            pupil("p2", "Bram", mentor_of_bram),
        ]
        .into(),
        groups: [(
            "g6b".to_string(),
            Group {
                id: "g6b".into(),
                name: "Groep 6b".into(),
                teachers: vec![],
            },
        )]
        .into(),
        staff: [
            staff("m1", "mentor"),
            staff("m2", "mentor"),
            staff("zc", "care_coordinator"),
        ]
        .into(),
        ..Default::default()
    }
}

fn row(kind: Kind, pupil: Option<&str>) -> CatalogRow {
    CatalogRow {
        id: DocumentId::random(),
        header: Header {
            kind: kind.as_str().into(),
            school: "s1".into(),
            pupil: pupil.map(Into::into),
            author: "m1".into(),
            created_at: 0,
            schema: 1,
        },
        fields: AccessFields::of_sociogram_group("g6b"),
        heads: vec![],
        seq: 1,
        content_seq: 1,
        size: 0,
        chunks: 0,
        erased: false,
    }
}

/// Bram gets a second mentor's care: m2 becomes a mentor of groep 6b, so the group's
/// sociogram (the round, and Zoë's answers, whose own record did not change) reaches
/// m2's devices, which the catalog learns by a bump. (The simulation found the round
/// left behind on a mentor's device when only a classmate's mentor changed.)
#[test]
fn a_change_to_any_pupil_of_the_group_re_decides_its_sociogram() {
    let (old, new) = (roster("m1"), roster("m2"));
    let round = row(Kind::SociogramRound, None);
    let zoe = row(Kind::SociogramAnswers, Some("p1"));
    let bumped = affected(&old, &new, &[round.clone(), zoe.clone()]);
    assert_eq!(bumped, [round.id, zoe.id]);
    assert!(affected(&old, &old, &[round, zoe]).is_empty());
}

#[test]
fn cells_that_a_spreadsheet_would_run_are_escaped() {
    for bad in ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
        assert_eq!(csv_cell(bad.into()), format!("'{bad}"));
    }
    for good in ["signal", "p1", "2026-01-01T00:00:00Z", "", "a=b"] {
        assert_eq!(csv_cell(good.into()), good);
    }
    let row = AuditRecord {
        seq: 1,
        at: 0,
        school: "=s".into(),
        device: Some("@d".into()),
        user: Some("+u".into()),
        action: AuditAction::Read,
        document: None,
        kind: Some("=HYPERLINK(\"x\")".into()),
        pupil: Some("-p".into()),
        device_seq: None,
        device_at: None,
    };
    let csv = audit_csv(&[row]).unwrap();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let rec = r.records().next().unwrap().unwrap();
    assert!(
        rec.iter().all(|c| !c.starts_with(['=', '+', '-', '@'])),
        "{csv}"
    );
    assert_eq!(&rec[7], "'=HYPERLINK(\"x\")");
}
