//! What the conformance checks build their writes from: headers, small documents, document
//! writes, enrollment codes and new devices.

use super::*;

pub(super) fn header(school: &str, pupil: Option<&str>) -> Header {
    Header {
        kind: "excursion".into(),
        school: school.into(),
        pupil: pupil.map(Into::into),
        author: "t1".into(),
        created_at: 5,
        schema: 1,
    }
}

pub(super) fn doc_with(key: &str) -> Automerge {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    tx.put(ROOT, key, 1).unwrap();
    tx.commit();
    d
}

pub(super) fn write(
    id: DocumentId,
    school: &str,
    doc: &Automerge,
    data: Vec<u8>,
    mode: WriteMode,
) -> DocWrite {
    DocWrite {
        id,
        header: header(school, Some("p1")),
        fields: AccessFields::default(),
        heads: doc.get_heads(),
        data,
        mode,
        summary: None,
        base: None,
    }
}

pub(super) fn code(hash: u8, expires_at: i64) -> EnrollmentCode {
    EnrollmentCode {
        code_hash: [hash; 32],
        school: "s1".into(),
        user: "m1".into(),
        created_at: 0,
        expires_at,
        scope: None,
    }
}

pub(super) fn new_device(id: &str, actor: u8, token: u8) -> NewDevice {
    NewDevice {
        id: id.into(),
        actor: vec![actor; 16],
        label: "tablet".into(),
        token_hash: [token; 32],
    }
}
