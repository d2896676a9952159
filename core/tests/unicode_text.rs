//! Kindgesprek text in real Dutch (and any Unicode): positions count UTF-16 code units
//! across the API, edits land where they were made, survive a reopen and merge with
//! concurrent edits on another device character by character. A panic inside a call leaves
//! the store working.

mod common;

use common::*;
use omkijken_core::text::utf16_len;
use omkijken_core::{DocumentId, Error, Store};
use proptest::prelude::*;

fn conversation(m1: &Store) -> DocumentId {
    m1.start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap()
}

fn notes(s: &Store, id: DocumentId) -> String {
    s.conversation(id).unwrap().notes.as_str().to_string()
}

/// UTF-16 offset of char index `i` of `s`.
fn u16_at(s: &str, i: usize) -> usize {
    s.chars().take(i).map(char::len_utf16).sum()
}

#[test]
fn dutch_notes_edited_after_accents_land_where_they_were_made() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let id = conversation(&m1);
    m1.set_notes(id, "één twee drie").unwrap();
    let end = utf16_len("één twee drie");
    m1.edit_notes(id, end, 0, " EXTRA").unwrap();
    assert_eq!(notes(&m1, id), "één twee drie EXTRA");
    // Inside the text, right after the accented letters.
    m1.edit_notes(id, 3, 0, ",").unwrap();
    assert_eq!(notes(&m1, id), "één, twee drie EXTRA");
    // Replace "drie" with "drieën".
    let at = u16_at("één, twee drie EXTRA", 10);
    m1.edit_notes(id, at, 4, "drieën").unwrap();
    assert_eq!(notes(&m1, id), "één, twee drieën EXTRA");

    m1.set_answer(id, "goed-in", "de zorgcoördinator zegt: ideeën")
        .unwrap();
    m1.set_answer(id, "goed-in", "de zorgcoördinator zei: goede ideeën, privé")
        .unwrap();
    m1.set_notes(id, "één twee drie 😀 privé").unwrap();
    let c = m1.conversation(id).unwrap();
    assert_eq!(
        c.answers["goed-in"].as_str(),
        "de zorgcoördinator zei: goede ideeën, privé"
    );
    assert_eq!(c.notes.as_str(), "één twee drie 😀 privé");
}

#[test]
fn emoji_combining_marks_and_right_to_left_text_keep_their_places() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let id = conversation(&m1);
    // "e" + combining acute, an emoji with a skin tone (4 UTF-16 units), Arabic and Hebrew.
    let base = "cafe\u{301} 👍🏽 مرحبا שלום";
    m1.set_notes(id, base).unwrap();
    // After the emoji (c a f e ◌́ space = 6 units, the emoji 4 more).
    m1.edit_notes(id, 10, 0, "!").unwrap();
    assert_eq!(notes(&m1, id), "cafe\u{301} 👍🏽! مرحبا שלום");
    // Delete the Arabic word (5 units after "! ").
    m1.edit_notes(id, 12, 6, "").unwrap();
    assert_eq!(notes(&m1, id), "cafe\u{301} 👍🏽! שלום");
    // A position inside the emoji's surrogate pair is refused and changes nothing.
    let err = m1.edit_notes(id, 7, 0, "x").unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    let err = m1.edit_notes(id, 6, 1, "").unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    // Past the end too.
    let len = utf16_len(&notes(&m1, id));
    assert!(matches!(
        m1.edit_notes(id, len + 1, 0, "x"),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        m1.edit_notes(id, len, 1, ""),
        Err(Error::Invalid(_))
    ));
    assert_eq!(notes(&m1, id), "cafe\u{301} 👍🏽! שלום");
    // An error message names no content.
    let msg = m1.edit_notes(id, 7, 0, "geheim").unwrap_err().to_string();
    assert!(!msg.contains("geheim") && !msg.contains("שלום"), "{msg}");
}

#[test]
fn concurrent_dutch_edits_on_two_devices_merge_word_for_word() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let (cc, _) = store_for(dir.path(), "cc");
    let id = conversation(&m1);
    m1.set_notes(id, "Gesprek met één leerling over ideeën.")
        .unwrap();
    m1.share_conversation(id).unwrap();
    exchange(&m1, &cc);
    // Offline on both: the mentor adds after "één", the coordinator at the end.
    m1.edit_notes(id, 15, 0, " (zorgcoördinator erbij 🙂)")
        .unwrap();
    let end = utf16_len(&notes(&cc, id));
    cc.edit_notes(id, end, 0, " Privé: ouders gebeld.").unwrap();
    exchange(&m1, &cc);
    let want =
        "Gesprek met één (zorgcoördinator erbij 🙂) leerling over ideeën. Privé: ouders gebeld.";
    assert_eq!(notes(&m1, id), want);
    assert_eq!(notes(&cc, id), want);
}

#[test]
fn a_panic_inside_a_call_is_an_internal_error_and_the_store_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let id = conversation(&m1);
    m1.set_notes(id, "vóór").unwrap();
    let err = m1
        .update_conversation(id, |c| {
            c.notes.update("half geschreven");
            panic!("a bug in an edit");
        })
        .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err}");
    // Nothing of the call was written, and every later call works (no poisoned lock).
    assert_eq!(notes(&m1, id), "vóór");
    m1.edit_notes(id, 4, 0, " en na").unwrap();
    assert_eq!(notes(&m1, id), "vóór en na");
    assert_eq!(m1.list_conversations("p1").unwrap().len(), 1);
}

/// An edit as an app makes it: a char index turned into UTF-16 units.
#[derive(Debug, Clone)]
struct Edit {
    at: usize,
    delete: usize,
    insert: String,
}

fn edit() -> impl Strategy<Value = Edit> {
    (any::<usize>(), 0usize..4, "\\PC{0,6}").prop_map(|(at, delete, insert)| Edit {
        at,
        delete,
        insert,
    })
}

/// Apply `e` to the model string (chars), returning the UTF-16 (pos, delete) to send.
fn apply(model: &mut String, e: &Edit) -> (usize, usize) {
    let chars: Vec<char> = model.chars().collect();
    let at = e.at % (chars.len() + 1);
    let delete = e.delete.min(chars.len() - at);
    let pos = u16_at(model, at);
    let del16: usize = chars[at..at + delete].iter().map(|c| c.len_utf16()).sum();
    let mut out: String = chars[..at].iter().collect();
    out.push_str(&e.insert);
    out.extend(&chars[at + delete..]);
    *model = out;
    (pos, del16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any Unicode text, any valid edits: the stored notes equal the model after each
    /// edit and after the store is closed and opened again.
    #[test]
    fn any_unicode_edits_read_back_exactly_after_reopen(
        start in "\\PC{0,24}",
        edits in prop::collection::vec(edit(), 1..8),
        answer in "\\PC{0,24}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        let id;
        let mut model = start.clone();
        {
            let (m1, _) = store_for(dir.path(), "m1");
            id = conversation(&m1);
            m1.set_notes(id, &start).unwrap();
            for e in &edits {
                let (pos, del) = apply(&mut model, e);
                m1.edit_notes(id, pos, del, &e.insert).unwrap();
                prop_assert_eq!(notes(&m1, id), model.clone());
            }
            m1.set_answer(id, "goed-in", &answer).unwrap();
            m1.set_answer(id, "goed-in", &format!("{answer}é")).unwrap();
        }
        let (m1, _) = store_for(dir.path(), "m1");
        let c = m1.conversation(id).unwrap();
        prop_assert_eq!(c.notes.as_str(), model.as_str());
        prop_assert_eq!(c.answers["goed-in"].as_str(), format!("{answer}é"));
    }

    /// Two devices insert concurrently (the mentor Dutch letters, the coordinator emoji and
    /// Hebrew) into shared Unicode notes: after merging both hold the same text, and each
    /// side's text is in it in order, word for word.
    #[test]
    fn concurrent_unicode_inserts_merge_keeping_each_side_in_order(
        base in "[a-z ïé]{0,16}",
        mine in prop::collection::vec((any::<usize>(), "[ëöüáàç]{1,4}"), 1..5),
        theirs in prop::collection::vec((any::<usize>(), "[😀🙂👍🏽שלום]{1,4}"), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (m1, _) = store_for(dir.path(), "m1");
        let (cc, _) = store_for(dir.path(), "cc");
        let id = conversation(&m1);
        m1.set_notes(id, &base).unwrap();
        m1.share_conversation(id).unwrap();
        exchange(&m1, &cc);
        let (mut a, mut b) = (base.clone(), base.clone());
        for (at, s) in &mine {
            let (pos, del) = apply(&mut a, &Edit { at: *at, delete: 0, insert: s.clone() });
            m1.edit_notes(id, pos, del, s).unwrap();
        }
        for (at, s) in &theirs {
            let (pos, del) = apply(&mut b, &Edit { at: *at, delete: 0, insert: s.clone() });
            cc.edit_notes(id, pos, del, s).unwrap();
        }
        exchange(&m1, &cc);
        let merged = notes(&m1, id);
        prop_assert_eq!(&notes(&cc, id), &merged);
        let theirs_chars: String = theirs.iter().map(|(_, s)| s.as_str()).collect();
        let mine_chars: String = mine.iter().map(|(_, s)| s.as_str()).collect();
        let without_theirs: String =
            merged.chars().filter(|c| !theirs_chars.contains(*c)).collect();
        let without_mine: String =
            merged.chars().filter(|c| !mine_chars.contains(*c)).collect();
        prop_assert_eq!(without_theirs, a);
        prop_assert_eq!(without_mine, b);
    }
}
