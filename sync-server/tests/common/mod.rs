//! Shared fixtures: a school with a roster, enrolled devices, record documents.
// Edit closures return core's (large) error type.
#![allow(clippy::result_large_err)]
#![allow(dead_code)]

use automerge::{ActorId, Automerge};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::model::{FollowUp, Header, Kind, SCHEMA_VERSION, Signal, ThermometerEntry};
use omkijken_core::sync::{Frame, PROTOCOL_VERSION};
use omkijken_server::hub::{ConnId, Hub, HubConfig, Outgoing};
use omkijken_server::storage::SqliteStorage;
use std::path::Path;

pub const SCHOOL: &str = "s1";
pub const NOW: i64 = 1_760_000_000_000;

/// m1 mentors p1 (in care, group g6, taught by m1); m2 mentors p2 (group g7, taught by m2);
/// t1 teaches nothing; ib is the care team; adm the admin; sl the school leader.
pub const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
group,g7,Groep 7,,,,,,
staff,m1,Mentor Een,,,,mentor,,g6
staff,m2,Mentor Twee,,,,mentor,,g7
staff,t1,Vakdocent,,,,teacher,,
staff,ib,Intern Begeleider,,,,care_coordinator;meldcode_duty,,
staff,adm,Beheer,,,,admin,,
staff,sl,Directeur,,,,school_leader,,
pupil,p1,Pupil Een,g6,po_5_8,true,,m1,
pupil,p2,Pupil Twee,g7,po_5_8,false,,m2,
";

/// The same roster with p2 moved from mentor m2 to m1 and t1 gone.
pub const ROSTER_MOVED: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
group,g7,Groep 7,,,,,,
staff,m1,Mentor Een,,,,mentor,,g6
staff,m2,Mentor Twee,,,,mentor,,g7
staff,ib,Intern Begeleider,,,,care_coordinator;meldcode_duty,,
staff,adm,Beheer,,,,admin,,
staff,sl,Directeur,,,,school_leader,,
pupil,p1,Pupil Een,g6,po_5_8,true,,m1,
pupil,p2,Pupil Twee,g7,po_5_8,false,,m1,
";

/// An enrolled device.
#[derive(Debug, Clone)]
pub struct Dev {
    pub token: String,
    pub actor: ActorId,
    pub user: String,
    pub device: String,
}

pub fn hub_at(path: &Path) -> Hub {
    let st = SqliteStorage::open(path, None).unwrap();
    Hub::new(Box::new(st), HubConfig::default(), [7; 32]).unwrap()
}

/// A hub with school s1 and its roster.
pub fn school_hub(path: &Path) -> Hub {
    let mut hub = hub_at(path);
    hub.create_school(NOW, SCHOOL, "De Linde").unwrap();
    hub.import_roster(NOW, SCHOOL, ROSTER).unwrap();
    hub
}

pub fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16].as_slice())
}

pub fn enroll(hub: &mut Hub, user: &str, n: u8) -> Dev {
    let code = hub.issue_code(NOW, SCHOOL, user).unwrap();
    let a = actor(n);
    match hub.enroll(
        NOW,
        Frame::Enroll {
            code,
            actor: a.to_hex_string(),
            label: format!("device {n}"),
        },
    ) {
        Frame::Enrolled { token, device, .. } => Dev {
            token,
            actor: a,
            user: user.into(),
            device,
        },
        other => panic!("enrollment failed: {other:?}"),
    }
}

/// Connect and say hello from `cursor`; returns the session and the catalog frames.
pub fn connect(hub: &mut Hub, dev: &Dev, cursor: u64) -> (ConnId, Vec<Frame>) {
    let c = hub.connect(NOW, &dev.token).unwrap().conn;
    let out = hub.receive(
        NOW,
        c,
        Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor,
        },
    );
    (c, to(&out, c))
}

/// Frames of `out` addressed to `conn`.
pub fn to(out: &Outgoing, conn: ConnId) -> Vec<Frame> {
    out.iter()
        .filter(|(c, _)| *c == conn)
        .map(|(_, f)| f.clone())
        .collect()
}

/// Catalog entry ids and purge ids across catalog frames, and the final cursor.
pub fn catalog(frames: &[Frame]) -> (Vec<DocumentId>, Vec<DocumentId>, u64) {
    let mut entries = vec![];
    let mut purge = vec![];
    let mut cursor = 0;
    for f in frames {
        if let Frame::Catalog {
            entries: e,
            purge: p,
            cursor: c,
            complete,
            ..
        } = f
        {
            entries.extend(e.iter().map(|e| e.document_id));
            purge.extend(p.iter().copied());
            if *complete {
                cursor = *c;
            }
        }
    }
    (entries, purge, cursor)
}

pub fn signal_record(urgency: u8, category: &str, facts: &str) -> Signal {
    Signal {
        category: category.into(),
        ..omkijken_core::testing::signal_record(NOW, "schoolplein", urgency, facts)
    }
}

pub fn signal_header(author: &str, pupil: &str) -> Header {
    Header {
        kind: Kind::Signal.as_str().into(),
        school: SCHOOL.into(),
        pupil: Some(pupil.into()),
        author: author.into(),
        created_at: NOW,
        schema: SCHEMA_VERSION,
    }
}

/// A new signal document written by `dev`.
pub fn signal(dev: &Dev, pupil: &str, urgency: u8, category: &str) -> (DocumentId, Automerge) {
    let id = DocumentId::random();
    let d = doc::create(
        dev.actor.clone(),
        NOW,
        &signal_header(&dev.user, pupil),
        &signal_record(urgency, category, "viel stil in de pauze"),
    )
    .unwrap();
    (id, d)
}

/// The thermometer month of a pupil with one entry by `dev`.
pub fn thermometer(dev: &Dev, pupil: &str, month: &str) -> (DocumentId, Automerge) {
    let (id, mut d) = doc::thermometer_genesis(SCHOOL, pupil, month, 0).unwrap();
    doc::update(
        id,
        &mut d,
        &dev.actor,
        NOW,
        |t: &mut omkijken_core::model::ThermometerMonth| {
            t.entries.push(ThermometerEntry {
                id: format!("e-{}", dev.device),
                at: NOW,
                scale: "smileys-5".into(),
                score: 4,
                emotions: vec![],
                wants_to_talk: false,
                note: None,
                recorded_by: dev.user.clone(),
                source: None,
                session: None,
            });
            Ok(())
        },
    )
    .unwrap();
    (id, d)
}

pub fn push_frame(docs: &[(DocumentId, &Automerge)]) -> Frame {
    Frame::Push {
        docs: docs
            .iter()
            .map(|(id, d)| omkijken_core::sync::DocChanges::new(*id, d.save()))
            .collect(),
    }
}

/// The signal `d` with one more follow-up entry (id `fid`, of `kind`, saying `text`) written
/// by `dev`'s user on `dev`.
pub fn with_follow_up(
    dev: &Dev,
    id: DocumentId,
    d: &Automerge,
    fid: &str,
    kind: &str,
    text: &str,
) -> Automerge {
    let mut out = d.clone();
    doc::update(id, &mut out, &dev.actor, NOW, |s: &mut Signal| {
        s.follow_ups.push(FollowUp {
            id: fid.into(),
            author: dev.user.clone(),
            at: NOW,
            kind: kind.into(),
            text: text.into(),
        });
        Ok(())
    })
    .unwrap();
    out
}

/// A draft signal by `t1` about `pupil` (urgency 1, wellbeing: the care coordinator reads
/// it; not shared with the mentor yet).
pub fn draft(t1: &Dev, pupil: &str, facts: &str) -> (DocumentId, Automerge) {
    let mut rec = signal_record(1, "welbevinden", facts);
    rec.shared = false;
    let d = doc::create(t1.actor.clone(), NOW, &signal_header("t1", pupil), &rec).unwrap();
    (DocumentId::random(), d)
}

/// `d` with a signal edit by `dev`.
pub fn edited(
    d: &Automerge,
    id: DocumentId,
    dev: &Dev,
    edit: impl FnOnce(&mut Signal),
) -> Automerge {
    let mut out = d.clone();
    doc::update(id, &mut out, &dev.actor, NOW, |s: &mut Signal| {
        edit(s);
        Ok(())
    })
    .unwrap();
    out
}
