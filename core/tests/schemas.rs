//! The record layouts in docs/schemas/ against the code, in both directions, so that the
//! documentation a client author builds from and the code cannot drift apart.
//!
//! - Docs to code: each example in docs/schemas/examples/ is written into an Automerge
//!   document using only the automerge crate, guided by its schema (a text field as a text
//!   object, every whole number as `int`, as Automerge's JavaScript and Python libraries write
//!   them). It must validate against its schema, be admitted by the server's rules
//!   (`rules::admit`) as a new document of its author, and read back through the typed
//!   records as the example says.
//! - Code to docs: the typed record read back is written again the way the code writes
//!   records (autosurgeon), and that document must validate against the schema with no key
//!   the schema does not name, while every key the schema names appears in it (the examples
//!   fill every field).
//!
//! No JSON Schema crate knows Automerge's types (text objects, `int` against `uint`), so
//! the walk below checks the subset of JSON Schema the files use, plus the `x-automerge`
//! annotation: `text` (an Automerge text object) or `uint` (written as `uint`; `int` read
//! alike).

use automerge::transaction::{Transactable, Transaction};
use automerge::{ActorId, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value as Am};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::model::rules::{Writer, admit};
use omkijken_core::model::{
    Case, Conversation, Excursion, Header, ParentContact, Record, Roster, SchoolSettings, Signal,
    SignalNotes, SociogramAnswers, SociogramRound, ThermometerMonth,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/schemas")
}

fn read(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn example(kind: &str) -> Value {
    read(dir().join("examples").join(format!("{kind}.json")))
}

/// A document as a tree, with Automerge's types kept.
#[derive(Debug, Clone)]
enum Tree {
    Map(BTreeMap<String, Tree>),
    List(Vec<Tree>),
    Text,
    Scalar(ScalarValue),
}

fn tree_of(doc: &Automerge, value: Am<'_>, id: ObjId) -> Tree {
    match value {
        Am::Object(ObjType::Map | ObjType::Table) => Tree::Map(
            doc.keys(&id)
                .map(|k| {
                    let (v, child) = doc.get(&id, k.as_str()).unwrap().unwrap();
                    (k, tree_of(doc, v, child))
                })
                .collect(),
        ),
        Am::Object(ObjType::List) => Tree::List(
            (0..doc.length(&id))
                .map(|i| {
                    let (v, child) = doc.get(&id, i).unwrap().unwrap();
                    tree_of(doc, v, child)
                })
                .collect(),
        ),
        Am::Object(ObjType::Text) => Tree::Text,
        Am::Scalar(s) => Tree::Scalar(s.into_owned()),
    }
}

fn tree(doc: &Automerge) -> Tree {
    tree_of(doc, Am::Object(ObjType::Map), ROOT)
}

/// The schema files, by file name.
struct Schemas(BTreeMap<String, Value>);

impl Schemas {
    fn load() -> Schemas {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".schema.json") {
                files.insert(name, read(path));
            }
        }
        Schemas(files)
    }

    /// Follow `$ref`s: another file's root, or a `#/$defs/...` of the current file.
    fn resolve<'a>(&'a self, file: &'a str, schema: &'a Value) -> (&'a str, &'a Value) {
        let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
            return (file, schema);
        };
        // `other.schema.json`, `#/$defs/name` or `other.schema.json#/$defs/name`.
        let (target, def) = r.split_once('#').unwrap_or((r, ""));
        let (name, root) = if target.is_empty() {
            self.0.get_key_value(file)
        } else {
            self.0.get_key_value(target)
        }
        .unwrap_or_else(|| panic!("{file}: $ref {r} names no schema file"));
        match def.strip_prefix("/$defs/") {
            Some(def) => self.resolve(name, &root["$defs"][def]),
            None => self.resolve(name, root),
        }
    }

    /// The schema of key `k` by `patternProperties` (prefix patterns `^literal` only, all
    /// the schemas use), else `additionalProperties` when that is a schema.
    fn extra<'s>(s: &'s Value, k: &str) -> Option<&'s Value> {
        let by_pattern = s
            .get("patternProperties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .find(|(p, _)| p.strip_prefix('^').is_some_and(|lit| k.starts_with(lit)))
            .map(|(_, v)| v);
        by_pattern.or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
    }

    fn types(schema: &Value) -> Vec<&str> {
        match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        }
    }

    /// Check `t` against `schema`; every mismatch is pushed to `errs` with its path.
    fn validate(&self, t: &Tree, file: &str, schema: &Value, path: &str, errs: &mut Vec<String>) {
        let (file, s) = self.resolve(file, schema);
        let types = Self::types(s);
        let am = s.get("x-automerge").and_then(Value::as_str);
        let mut fail = |what: String| errs.push(format!("{path}: {what}"));
        match t {
            Tree::Map(m) => {
                if !types.contains(&"object") {
                    return fail(format!("a map where the schema says {types:?}"));
                }
                let props = s.get("properties").and_then(Value::as_object);
                for (k, v) in m {
                    let p = format!("{path}.{k}");
                    match (props.and_then(|p| p.get(k)), Self::extra(s, k)) {
                        (Some(ps), _) | (None, Some(ps)) => self.validate(v, file, ps, &p, errs),
                        (None, None) => errs.push(format!("{p}: a key the schema does not name")),
                    }
                }
                for r in s["required"].as_array().into_iter().flatten() {
                    let r = r.as_str().unwrap();
                    if !m.contains_key(r) {
                        errs.push(format!("{path}: required key {r} is missing"));
                    }
                }
            }
            Tree::List(items) => {
                if !types.contains(&"array") {
                    return fail(format!("a list where the schema says {types:?}"));
                }
                for (i, item) in items.iter().enumerate() {
                    self.validate(item, file, &s["items"], &format!("{path}[{i}]"), errs);
                }
            }
            Tree::Text => {
                if !(types.contains(&"string") && am == Some("text")) {
                    fail("a text object where the schema wants no text object".into());
                }
            }
            Tree::Scalar(v) => {
                let ok = match v {
                    ScalarValue::Str(text) => {
                        let in_enum = s["enum"]
                            .as_array()
                            .is_none_or(|e| e.iter().any(|x| x.as_str() == Some(text)));
                        if !in_enum {
                            fail("a value outside the schema's enum".into());
                        }
                        types.contains(&"string") && am != Some("text")
                    }
                    ScalarValue::Int(_) => types.contains(&"integer"),
                    ScalarValue::Uint(_) => types.contains(&"integer") && am == Some("uint"),
                    ScalarValue::Boolean(_) => types.contains(&"boolean"),
                    ScalarValue::Null => types.contains(&"null"),
                    ScalarValue::F64(_) => types.contains(&"number"),
                    _ => false,
                };
                if !ok {
                    let am = am.unwrap_or("-");
                    fail(format!(
                        "{v:?} where the schema says {types:?} (x-automerge {am})"
                    ));
                }
            }
        }
    }

    /// Every key the schema names appears in `t` (for the examples, which fill every field).
    fn covered(&self, t: &Tree, file: &str, schema: &Value, path: &str, errs: &mut Vec<String>) {
        let (file, s) = self.resolve(file, schema);
        match t {
            Tree::Map(m) => {
                for (k, ps) in s["properties"].as_object().into_iter().flatten() {
                    match m.get(k) {
                        Some(v) => self.covered(v, file, ps, &format!("{path}.{k}"), errs),
                        None => errs.push(format!("{path}.{k}: named by the schema, not written")),
                    }
                }
                let props = s["properties"].as_object();
                for (k, v) in m {
                    if props.is_some_and(|p| p.contains_key(k)) {
                        continue;
                    }
                    if let Some(extra) = Self::extra(s, k) {
                        self.covered(v, file, extra, &format!("{path}.{k}"), errs);
                    }
                }
            }
            Tree::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.covered(item, file, &s["items"], &format!("{path}[{i}]"), errs);
                }
            }
            _ => {}
        }
    }

    fn check(&self, kind: &str, doc: &Automerge) -> Vec<String> {
        let file = format!("{kind}.schema.json");
        let mut errs = vec![];
        self.validate(&tree(doc), &file, &self.0[&file], kind, &mut errs);
        errs
    }
}

/// Where a value goes: a map key or a list position.
enum At<'a> {
    Key(&'a str),
    Index(usize),
}

/// Write `v` at `at` in `obj` as its schema says: an `x-automerge: text` string as a text
/// object, every whole number as `int` (as Automerge's JavaScript library writes numbers).
fn put(
    tx: &mut Transaction<'_>,
    schemas: &Schemas,
    obj: &ObjId,
    at: At<'_>,
    v: &Value,
    file: &str,
    schema: &Value,
) {
    let (file, s) = schemas.resolve(file, schema);
    let object = |tx: &mut Transaction<'_>, ty: ObjType| match at {
        At::Key(k) => tx.put_object(obj, k, ty).unwrap(),
        At::Index(i) => tx.insert_object(obj, i, ty).unwrap(),
    };
    let scalar = |tx: &mut Transaction<'_>, sv: ScalarValue| match at {
        At::Key(k) => tx.put(obj, k, sv).unwrap(),
        At::Index(i) => tx.insert(obj, i, sv).unwrap(),
    };
    match v {
        Value::Object(m) => {
            let id = object(tx, ObjType::Map);
            for (k, child) in m {
                let cs = s["properties"]
                    .get(k)
                    .or_else(|| Schemas::extra(s, k))
                    .unwrap_or_else(|| panic!("{file}: the example has {k}, the schema not"));
                put(tx, schemas, &id, At::Key(k), child, file, cs);
            }
        }
        Value::Array(items) => {
            let id = object(tx, ObjType::List);
            for (i, item) in items.iter().enumerate() {
                put(tx, schemas, &id, At::Index(i), item, file, &s["items"]);
            }
        }
        Value::String(text) if s.get("x-automerge").and_then(Value::as_str) == Some("text") => {
            let id = object(tx, ObjType::Text);
            tx.splice_text(&id, 0, 0, text).unwrap();
        }
        Value::String(text) => scalar(tx, ScalarValue::Str(text.as_str().into())),
        Value::Number(n) => scalar(tx, ScalarValue::Int(n.as_i64().expect("whole numbers"))),
        Value::Bool(b) => scalar(tx, ScalarValue::Boolean(*b)),
        Value::Null => scalar(tx, ScalarValue::Null),
    }
}

/// A new document holding `example` (its root keys), written by `actor`.
fn build(schemas: &Schemas, kind: &str, example: &Value, actor: &[u8]) -> Automerge {
    let file = format!("{kind}.schema.json");
    let root = &schemas.0[&file];
    let mut d = Automerge::new().with_actor(ActorId::from(actor.to_vec()));
    let mut tx = d.transaction();
    for (k, v) in example.as_object().unwrap() {
        put(
            &mut tx,
            schemas,
            &ROOT,
            At::Key(k),
            v,
            &file,
            &root["properties"][k],
        );
    }
    tx.commit();
    d
}

fn actor(user: &str) -> Vec<u8> {
    let mut a = [0u8; 16];
    a[..user.len()].copy_from_slice(user.as_bytes());
    a.to_vec()
}

fn header_of(example: &Value) -> Header {
    serde_json::from_value(example["header"].clone()).unwrap()
}

/// The roster of the examples, read from the roster example written as a client would.
fn roster(schemas: &Schemas) -> Roster {
    let d = build(schemas, "roster", &example("roster"), &actor("server"));
    doc::record::<Roster>(DocumentId::random(), &d).unwrap()
}

/// Code to docs: `record` written again as the code writes it validates strictly, and every
/// key the schema names is written.
fn rewritten_matches<R: Record>(schemas: &Schemas, kind: &str, header: &Header, record: &R) {
    let d = doc::create(ActorId::from(actor("again")), 0, header, record).unwrap();
    let file = format!("{kind}.schema.json");
    let t = tree(&d);
    let mut errs = vec![];
    schemas.validate(&t, &file, &schemas.0[&file], kind, &mut errs);
    let root = &schemas.0[&file];
    // The roster's optional settings key is written by another call (below).
    let mut wanted = root.clone();
    if kind == "roster" {
        wanted["properties"]
            .as_object_mut()
            .unwrap()
            .remove("settings");
    }
    schemas.covered(&t, &file, &wanted, kind, &mut errs);
    assert!(
        errs.is_empty(),
        "{kind} as the code writes it:\n{}",
        errs.join("\n")
    );
}

/// Docs to code for a kind a user creates: valid by its schema, admitted as a new
/// document of its author by the server's rules, and read back as the example says.
fn admitted_as_new<R: Record>(schemas: &Schemas, kind: &str) -> R {
    let ex = example(kind);
    let author = ex["header"]["author"].as_str().unwrap().to_string();
    let reg = actor(&author);
    let d = build(schemas, kind, &ex, &reg);
    let errs = schemas.check(kind, &d);
    assert!(errs.is_empty(), "the {kind} example:\n{}", errs.join("\n"));
    let r = roster(schemas);
    let id = DocumentId::random();
    let w = Writer {
        roster: &r,
        user: &author,
        actor: &reg,
        pupil_session: None,
    };
    if let Err(e) = admit(id, None, &d, &w) {
        panic!("the {kind} example, built from its schema, is refused: {e}");
    }
    let header = doc::header(id, &d).unwrap();
    assert_eq!(header, header_of(&ex));
    let record = doc::record::<R>(id, &d).unwrap();
    rewritten_matches(schemas, kind, &header, &record);
    record
}

#[test]
fn a_signal_built_from_the_documented_layout_is_admitted_and_reads_back() {
    let schemas = Schemas::load();
    let s: Signal = admitted_as_new(&schemas, "signal");
    let want: Signal = serde_json::from_value(example("signal")["record"].clone()).unwrap();
    assert_eq!(s, want);
    assert_eq!(s.urgency, 1, "an int urgency reads as the number");
}

#[test]
fn a_conversation_built_from_the_documented_layout_is_admitted_and_reads_back() {
    let schemas = Schemas::load();
    let c: Conversation = admitted_as_new(&schemas, "conversation");
    let ex = &example("conversation")["record"];
    assert_eq!(c.notes.as_str(), ex["notes"].as_str().unwrap());
    assert_eq!(
        c.answers["over-jou"].as_str(),
        ex["answers"]["over-jou"].as_str().unwrap()
    );
    assert_eq!(c.agreements[0].by.as_deref(), Some("m1"));
}

#[test]
fn a_parent_contact_built_from_the_documented_layout_is_admitted_and_reads_back() {
    let schemas = Schemas::load();
    let c: ParentContact = admitted_as_new(&schemas, "parent_contact");
    let ex = &example("parent_contact")["record"];
    assert_eq!(c.discussed.as_str(), ex["discussed"].as_str().unwrap());
    assert_eq!(c.parents[1].role, "vader");
    assert_eq!(c.agreements[0].by.as_deref(), Some("m1"));
}

#[test]
fn a_signals_notes_as_the_code_writes_them_match_the_schema() {
    let schemas = Schemas::load();
    let signal = DocumentId::random();
    let (id, d) = doc::signal_notes_genesis("s1", "p1", signal, "pesten", 2).unwrap();
    let mut notes = doc::record::<SignalNotes>(id, &d).unwrap();
    assert_eq!(notes.signal, signal.to_string());
    notes.notes.push(omkijken_core::model::FollowUp {
        id: "n-1".into(),
        author: "z1".into(),
        at: 1_764_410_400_000,
        kind: "follow_up".into(),
        text: "Gesprek met ouders gepland; zorgcoördinator volgt het.".into(),
    });
    notes.added_readers.push("z1".into());
    let header = doc::header(id, &d).unwrap();
    rewritten_matches(&schemas, "signal_notes", &header, &notes);
}

#[test]
fn a_case_built_from_the_documented_layout_is_admitted_and_reads_back() {
    let schemas = Schemas::load();
    let c: Case = admitted_as_new(&schemas, "case");
    let want: Case = serde_json::from_value(example("case")["record"].clone()).unwrap();
    assert_eq!(c, want);
}

#[test]
fn an_excursion_built_from_the_documented_layout_is_admitted_and_reads_back() {
    let schemas = Schemas::load();
    let e: Excursion = admitted_as_new(&schemas, "excursion");
    let want: Excursion = serde_json::from_value(example("excursion")["record"].clone()).unwrap();
    assert_eq!(e, want);
}

#[test]
fn thermometer_entries_appended_as_documented_are_admitted_and_read_back() {
    let schemas = Schemas::load();
    let ex = example("thermometer");
    let header = header_of(&ex);
    let month = ex["record"]["month"].as_str().unwrap();
    let id = doc::thermometer_id(&header.school, header.pupil.as_deref().unwrap(), month, 0);
    let empty = ThermometerMonth {
        month: month.into(),
        entries: vec![],
        answers: vec![],
    };
    let genesis = doc::genesis_singleton(id, &header, &empty).unwrap();
    // The writer appends the example's entries to the shared genesis.
    let user = "m1";
    let reg = actor(user);
    let mut d = genesis.fork().with_actor(ActorId::from(reg.clone()));
    let file = "thermometer.schema.json";
    let entry_schema = &schemas.0[file]["$defs"]["month"]["properties"]["entries"]["items"];
    let mut tx = d.transaction();
    let (_, record) = tx.get(ROOT, "record").unwrap().unwrap();
    let (_, entries) = tx.get(&record, "entries").unwrap().unwrap();
    for (i, e) in ex["record"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        put(
            &mut tx,
            &schemas,
            &entries,
            At::Index(i),
            e,
            file,
            entry_schema,
        );
    }
    // ... and the example's answers (record keys of their own).
    let month_schema = &schemas.0[file]["$defs"]["month"];
    for (k, v) in ex["record"].as_object().unwrap() {
        if k.starts_with("answered:") {
            let answer = &month_schema["patternProperties"]["^answered:"];
            put(&mut tx, &schemas, &record, At::Key(k), v, file, answer);
        }
    }
    tx.commit();
    let errs = schemas.check("thermometer", &d);
    assert!(
        errs.is_empty(),
        "the thermometer example:\n{}",
        errs.join("\n")
    );
    let r = roster(&schemas);
    let w = Writer {
        roster: &r,
        user,
        actor: &reg,
        pupil_session: None,
    };
    if let Err(e) = admit(id, Some(&genesis), &d, &w) {
        panic!("entries built from the schema are refused: {e}");
    }
    let m = doc::record::<ThermometerMonth>(id, &d).unwrap();
    let want: ThermometerMonth = serde_json::from_value(ex["record"].clone()).unwrap();
    assert_eq!(m, want);
    assert_eq!(m.entries[0].score, 2);
    assert_eq!(m.answers.len(), 1, "the example's answer reads back");
    rewritten_matches(&schemas, "thermometer", &header, &m);
}

#[test]
fn a_sociogram_round_built_from_the_documented_layout_is_admitted_and_reads_back() {
    let schemas = Schemas::load();
    let r: SociogramRound = admitted_as_new(&schemas, "sociogram_round");
    let want: SociogramRound =
        serde_json::from_value(example("sociogram_round")["record"].clone()).unwrap();
    assert_eq!(r, want);
    assert!(r.questions[1].is_negative());
}

#[test]
fn sociogram_answers_appended_as_documented_are_admitted_and_read_back() {
    let schemas = Schemas::load();
    let ex = example("sociogram_answers");
    let header = header_of(&ex);
    let round: DocumentId = ex["record"]["round"].as_str().unwrap().parse().unwrap();
    let group = ex["record"]["group"].as_str().unwrap();
    let pupil = header.pupil.as_deref().unwrap();
    let (id, genesis) =
        doc::sociogram_answers_genesis(&header.school, round, group, pupil).unwrap();
    assert_eq!(doc::header(id, &genesis).unwrap(), header);
    // The writer appends the example's answers to the shared genesis.
    let user = "m1";
    let reg = actor(user);
    let mut d = genesis.fork().with_actor(ActorId::from(reg.clone()));
    let file = "sociogram_answers.schema.json";
    let item = &schemas.0[file]["$defs"]["answers"]["properties"]["answers"]["items"];
    let mut tx = d.transaction();
    let (_, record) = tx.get(ROOT, "record").unwrap().unwrap();
    let (_, answers) = tx.get(&record, "answers").unwrap().unwrap();
    for (i, a) in ex["record"]["answers"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        put(&mut tx, &schemas, &answers, At::Index(i), a, file, item);
    }
    tx.commit();
    let errs = schemas.check("sociogram_answers", &d);
    assert!(errs.is_empty(), "the answers example:\n{}", errs.join("\n"));
    let r = roster(&schemas);
    let w = Writer {
        roster: &r,
        user,
        actor: &reg,
        pupil_session: None,
    };
    if let Err(e) = admit(id, Some(&genesis), &d, &w) {
        panic!("answers built from the schema are refused: {e}");
    }
    let a = doc::record::<SociogramAnswers>(id, &d).unwrap();
    let want: SociogramAnswers = serde_json::from_value(ex["record"].clone()).unwrap();
    assert_eq!(a, want);
    assert_eq!(a.current().len(), 2);
    rewritten_matches(&schemas, "sociogram_answers", &header, &a);
}

#[test]
fn the_roster_and_settings_as_documented_read_back_and_as_written_match_the_schema() {
    let schemas = Schemas::load();
    let ex = example("roster");
    let d = build(&schemas, "roster", &ex, &actor("server"));
    let errs = schemas.check("roster", &d);
    assert!(errs.is_empty(), "the roster example:\n{}", errs.join("\n"));
    let r = roster(&schemas);
    assert_eq!(r.pupils["p1"].display_name, "Zoë de Vries");
    assert!(r.staff["z1"].meldcode_duty);
    assert_eq!(
        r.offline_lease_days,
        Some(30),
        "an int reads as a uint field"
    );
    let settings = doc::school_settings(&d);
    assert_eq!(settings.leader_phone.as_deref(), Some("+31 50 765 4321"));

    let header = header_of(&ex);
    rewritten_matches(&schemas, "roster", &header, &r);
    let mut again = doc::create(ActorId::from(actor("again")), 0, &header, &r).unwrap();
    let all: SchoolSettings = serde_json::from_value(ex["settings"].clone()).unwrap();
    assert_eq!(settings, all, "the settings read as the example says");
    doc::set_school_settings(&mut again, &ActorId::from(actor("again")), 0, &all).unwrap();
    let errs = schemas.check("roster", &again);
    assert!(
        errs.is_empty(),
        "settings as the code writes them:\n{}",
        errs.join("\n")
    );
    let mut errs = vec![];
    let file = "roster.schema.json";
    schemas.covered(&tree(&again), file, &schemas.0[file], "roster", &mut errs);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn the_check_sees_an_undocumented_key_a_wrong_type_and_a_missing_field() {
    let schemas = Schemas::load();
    // Spoilt by hand: the example builder refuses a key its schema lacks.
    let mut d = build(&schemas, "signal", &example("signal"), &actor("t1"));
    let mut tx = d.transaction();
    let (_, record) = tx.get(ROOT, "record").unwrap().unwrap();
    tx.put(&record, "mood", "stil").unwrap();
    tx.put(&record, "facts", 3i64).unwrap();
    tx.delete(&record, "category").unwrap();
    tx.commit();
    let errs = schemas.check("signal", &d).join("\n");
    assert!(
        errs.contains("signal.record.mood: a key the schema does not name"),
        "{errs}"
    );
    assert!(errs.contains("signal.record.facts: Int(3)"), "{errs}");
    assert!(errs.contains("required key category is missing"), "{errs}");
}
