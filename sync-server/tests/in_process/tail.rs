//! Short catch-ups judged from the school's newest catalog rows kept in memory (the hub's
//! `tail`): what they list and purge is what a read of the store gives, however the catalog
//! moved on between them (rewrites, a record taken out of reach, an erasure, a write by
//! another process on the same store).

use crate::common;

use common::*;
use omkijken_core::DocumentId;
use omkijken_core::sync::{DocChanges, Frame};
use omkijken_server::hub::{ConnId, Hub};
use std::collections::BTreeSet;

fn push(hub: &mut Hub, c: ConnId, id: DocumentId, d: &automerge::Automerge) {
    let out = to(
        &hub.receive(
            NOW,
            c,
            Frame::Push {
                docs: vec![DocChanges::new(id, d.save())],
            },
        ),
        c,
    );
    assert!(
        out.iter()
            .any(|f| matches!(f, Frame::Ack { docs } if docs.len() == 1)),
        "acknowledged: {out:?}"
    );
}

/// Of a catch-up's frames: the drafts among `ours` listed and purged, and the cursor.
fn seen(
    frames: &[Frame],
    ours: &[DocumentId],
) -> (BTreeSet<DocumentId>, BTreeSet<DocumentId>, u64) {
    let (listed, purged, cursor) = catalog(frames);
    let mine = |ids: Vec<DocumentId>| ids.into_iter().filter(|id| ours.contains(id)).collect();
    (mine(listed), mine(purged), cursor)
}

fn set(ids: &[DocumentId]) -> BTreeSet<DocumentId> {
    ids.iter().copied().collect()
}

#[test]
fn short_catch_ups_from_the_schools_rows_in_memory_list_and_purge_what_the_store_holds_now() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut hub = school_hub(&path);
    let t1 = enroll(&mut hub, "t1", 1);
    let ib = enroll(&mut hub, "ib", 2);
    let ib_phone = enroll(&mut hub, "ib", 3);
    let ib_laptop = enroll(&mut hub, "ib", 4);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let mut drafts = vec![];
    for (i, pupil) in ["p2", "p2", "p2", "p2", "p3"].iter().enumerate() {
        let (id, d) = draft(&t1, pupil, &format!("Zoë huilde bij de kapstok ({i})"));
        push(&mut hub, ct, id, &d);
        drafts.push((id, d));
    }
    let ids: Vec<DocumentId> = drafts.iter().map(|(id, _)| *id).collect();
    let mut ours = ids.clone();

    // The coordinator's tablet catches up from nothing: all five (and the school's rows
    // are in memory from now on).
    let (c, frames) = connect(&mut hub, &ib, 0);
    let (listed, purged, cursor) = seen(&frames, &ours);
    assert_eq!(listed, set(&ids));
    assert!(purged.is_empty());
    hub.disconnect(c);

    // Meanwhile: a draft taken out of her reach (staff misconduct: the board's only), one
    // rewritten, a new one, and the pupil of the last one erased.
    let out = edited(&drafts[1].1, ids[1], &t1, |s| {
        s.category = "medewerker".into()
    });
    push(&mut hub, ct, ids[1], &out);
    let more = edited(&drafts[2].1, ids[2], &t1, |s| {
        s.facts = "Hij at niet, en zei dat hij moe was.".into()
    });
    push(&mut hub, ct, ids[2], &more);
    let (new, d) = draft(&t1, "p2", "Schreef 'ik ben niks waard' in zijn schrift");
    push(&mut hub, ct, new, &d);
    ours.push(new);
    let (n, _) = hub.erase_pupil(NOW, SCHOOL, "p3").unwrap();
    assert_eq!(n, 1);

    // Her phone catches up from nothing: what the store holds now, nothing to purge.
    let (c, frames) = connect(&mut hub, &ib_phone, 0);
    let (listed, purged, _) = seen(&frames, &ours);
    assert_eq!(listed, set(&[ids[0], ids[2], ids[3], new]));
    assert!(purged.is_empty(), "the phone never held any");
    hub.disconnect(c);

    // The tablet again, from its cursor: the rewritten and the new one, and a purge of what
    // it holds and may no longer read (out of reach, erased).
    let (c, frames) = connect(&mut hub, &ib, cursor);
    let (listed, purged, tablet_cursor) = seen(&frames, &ours);
    assert_eq!(listed, set(&[ids[2], new]));
    assert_eq!(purged, set(&[ids[1], ids[4]]));
    hub.disconnect(c);

    // Another process on the same store (a second node, the admin CLI) writes a draft;
    // this hub's next catch-ups have it, from nothing and from the tablet's cursor.
    let mut other = hub_at(&path);
    let (co, _) = connect(&mut other, &t1, 0);
    let (elsewhere, d) = draft(&t1, "p2", "Kwam te laat en had een blauwe plek");
    push(&mut other, co, elsewhere, &d);
    ours.push(elsewhere);
    drop(other);
    let (_, frames) = connect(&mut hub, &ib_laptop, 0);
    let (listed, purged, _) = seen(&frames, &ours);
    assert_eq!(listed, set(&[ids[0], ids[2], ids[3], new, elsewhere]));
    assert!(purged.is_empty());
    let (_, frames) = connect(&mut hub, &ib, tablet_cursor);
    let (listed, purged, _) = seen(&frames, &ours);
    assert_eq!(listed, set(&[elsewhere]));
    assert!(
        purged.is_empty(),
        "purged once, and told again only when held again"
    );
}
