//! The privacy officer's admin commands through the binary: retention terms and the dry run,
//! a legal hold, the inzage export (PDF and JSON, owner-only files), erasing one record, and
//! the list of backups that still hold erased data.

use std::path::Path;
use std::process::{Command, Output};

const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches,left_on
group,g6,Groep 6,,,,,,,
staff,m1,Mentor Een,,,,mentor,,g6,
pupil,p1,Zoë,g6,po_5_8,false,,m1,,
pupil,p2,Daan,g6,po_5_8,false,,m1,,2026-07-10
";

fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omkijken-server"))
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn admin(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn retention_holds_export_and_erasure_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    admin(
        &data,
        &["create-school", "--id", "s1", "--name", "De Linde"],
    );
    let csv = dir.path().join("roster.csv");
    std::fs::write(&csv, ROSTER).unwrap();
    admin(
        &data,
        &["import-roster", "--school", "s1", csv.to_str().unwrap()],
    );

    // 1. Terms: the defaults, then a school's own; a bad date is refused clearly.
    let out = admin(&data, &["retention", "--school", "s1", "--dry-run"]);
    assert!(out.contains("pupil file: 2 years after leaving"), "{out}");
    assert!(
        out.contains("meldcode cases: not erased by retention"),
        "{out}"
    );
    let out = admin(
        &data,
        &[
            "retention",
            "--school",
            "s1",
            "--meldcode-case-years",
            "20",
            "--school-year-ends",
            "08-15",
        ],
    );
    assert!(out.contains("retention terms changed"), "{out}");
    assert!(
        out.contains("meldcode cases: 20 years after leaving"),
        "{out}"
    );
    let bad = run(
        &data,
        &["retention", "--school", "s1", "--school-year-ends", "13-45"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("MM-DD"));

    // 2. A legal hold, and lifting it, are audit rows about the pupil.
    assert!(admin(&data, &["hold", "--school", "s1", "--pupil", "p2"]).contains("hold placed"));
    assert!(
        admin(
            &data,
            &["hold", "--school", "s1", "--pupil", "p2", "--release"]
        )
        .contains("hold lifted")
    );
    let audit = admin(&data, &["audit", "--pupil", "p2", "--format", "json"]);
    assert!(
        audit.contains("\"hold\"") && audit.contains("\"release\""),
        "{audit}"
    );

    // 3. The inzage export: a PDF and its JSON, readable by the owner only, never over an
    //    existing file, and in the audit log.
    let pdf = dir.path().join("inzage-p1.pdf");
    let out = admin(
        &data,
        &[
            "export-pupil",
            "--school",
            "s1",
            "--pupil",
            "p1",
            "--to",
            pdf.to_str().unwrap(),
            "--requested-on",
            "2026-11-20",
        ],
    );
    assert!(out.contains("audit log"), "{out}");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let json = std::fs::read_to_string(pdf.with_extension("json")).unwrap();
    assert!(json.contains("\"pupil_name\": \"Zoë\""), "{json}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [pdf.clone(), pdf.with_extension("json")] {
            assert_eq!(
                std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
    assert!(
        !run(
            &data,
            &[
                "export-pupil",
                "--school",
                "s1",
                "--pupil",
                "p1",
                "--to",
                pdf.to_str().unwrap()
            ]
        )
        .status
        .success()
    );
    let audit = admin(&data, &["audit", "--pupil", "p1", "--format", "json"]);
    assert!(audit.contains("\"export\""), "{audit}");

    // 4. School settings for the acute screen: a number that is not one is refused.
    let out = admin(
        &data,
        &[
            "settings",
            "--school",
            "s1",
            "--leader-phone",
            "+31 20 123 4567",
        ],
    );
    assert!(out.contains("phone: +31 20 123 4567"), "{out}");
    let bad = run(
        &data,
        &["settings", "--school", "s1", "--leader-phone", "=cmd|calc"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("digits"));
    // Scales, templates and cadence from a JSON file: each key it names replaces that
    // setting, the leader's number stays; a file that does not fit changes nothing.
    let file = data.join("instellingen.json");
    std::fs::write(
        &file,
        r#"{"thermometer": {"vo_mbo": {"scale": "cijfer-10", "talk_flag": {"nl": "Ik wil mijn mentor spreken"}}},
            "conversations_per_year": 3, "thermometer_months": [10, 3]}"#,
    )
    .unwrap();
    let out = admin(
        &data,
        &[
            "settings",
            "--school",
            "s1",
            "--file",
            file.to_str().unwrap(),
            "--json",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&out[out.find('{').unwrap()..]).unwrap();
    assert_eq!(json["conversations_per_year"], 3);
    assert_eq!(json["thermometer_months"], serde_json::json!([10, 3]));
    assert_eq!(json["leader_phone"], "+31 20 123 4567");
    std::fs::write(&file, r#"{"conversations_per_year": 40}"#).unwrap();
    let bad = run(
        &data,
        &[
            "settings",
            "--school",
            "s1",
            "--file",
            file.to_str().unwrap(),
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("conversations_per_year"));
    let out = admin(
        &data,
        &["settings", "--school", "s1", "--parent-names", "true"],
    );
    assert!(out.contains("3 kindgesprekken a year"), "{out}");
    assert!(
        out.contains("parents' names on an oudercontact: recorded"),
        "{out}"
    );

    // 5. Erasing a record that is not there is a clear error; no backups yet.
    let bad = run(
        &data,
        &["erase-record", "--school", "s1", "--document", "not-an-id"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a document id"));
    assert!(admin(&data, &["backups"]).contains("no backups recorded"));
}
