//! Roster import from CSV.
//!
//! One format, with a header row (column order free, unknown columns ignored):
//!
//! ```text
//! type,id,name,group,age_band,in_care,roles,mentors,teaches
//! group,g6b,Groep 6b,,,,,,
//! staff,m-jansen,Juf Jansen,,,,mentor,,g6b
//! staff,ib-de-vries,Mevr. de Vries,,,,care_coordinator;meldcode_duty,,
//! pupil,eck-0001,Sam,g6b,po_5_8,false,,m-jansen,
//! ```
//!
//! - `type`: `pupil`, `staff` or `group`; `id` and `name` are required on every row.
//! - pupil: `group` (a group id in the file), `age_band` (`po_1_4`, `po_5_8`, `vo_mbo`),
//!   `in_care` (`true`/`false`, also `ja`/`nee`, `1`/`0`, empty is false), `mentors`
//!   (`;`-separated staff ids in the file), `left_on` (optional, `YYYY-MM-DD`: the pupil
//!   left on that date; retention counts from it).
//! - staff: `roles` (`;`-separated: `mentor`, `teacher`, `care_coordinator`,
//!   `anti_bullying_coordinator`, `school_leader`, `admin`; the extra token
//!   `meldcode_duty` marks the aandachtsfunctionaris), `teaches` (`;`-separated group ids).
//!
//! The file is the whole roster: pupils and staff missing from it stay in the roster as
//! inactive (a pupil missing from it is recorded as left on the day of the import) (staff lose all access; a pupil's dossier stays readable but nothing new is
//! recorded), groups missing from it keep their id but lose their teachers. Errors name
//! the line and the column, never a value.

use crate::{Error, Result};
use omkijken_core::model::{AgeBand, Group, Pupil, Role, Roster, Staff};
use std::collections::{BTreeMap, HashMap};

/// Marker in `roles` for meldcode duty.
pub const MELDCODE_DUTY: &str = "meldcode_duty";

fn list(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

fn boolean(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "nee" | "no" | "n" => Some(false),
        "true" | "1" | "ja" | "yes" | "j" | "y" => Some(true),
        _ => None,
    }
}

/// The leaving dates the file gives (`left_on`, `YYYY-MM-DD`) by pupil id; [`parse`] has
/// checked them.
pub fn left_dates(csv: &str) -> BTreeMap<String, String> {
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let Ok(headers) = rd.headers().cloned() else {
        return BTreeMap::new();
    };
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(t), Some(i), Some(l)) = (find("type"), find("id"), find("left_on")) else {
        return BTreeMap::new();
    };
    rd.records()
        .filter_map(|r| r.ok())
        .filter(|r| r.get(t).is_some_and(|v| v.eq_ignore_ascii_case("pupil")))
        .filter_map(|r| {
            let left = r.get(l).filter(|v| !v.is_empty())?;
            Some((r.get(i)?.to_string(), left.to_string()))
        })
        .collect()
}

/// Parse `csv` into the new roster of `school`, starting from `old` (see the module docs
/// for what happens to people missing from the file).
pub fn parse(school: &str, csv: &str, old: &Roster) -> Result<Roster> {
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(csv.as_bytes());
    let headers = rd
        .headers()
        .map_err(|_| Error::Invalid("line 1: not a CSV header".into()))?
        .clone();
    let col: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.to_ascii_lowercase(), i))
        .collect();
    for required in ["type", "id", "name"] {
        if !col.contains_key(required) {
            return Err(Error::Invalid(format!("header lacks column `{required}`")));
        }
    }
    let mut pupils: BTreeMap<String, Pupil> = BTreeMap::new();
    let mut staff: BTreeMap<String, Staff> = BTreeMap::new();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut teaches: Vec<(usize, String, Vec<String>)> = vec![];
    let mut mentors: Vec<(usize, String, Vec<String>)> = vec![];
    for (i, rec) in rd.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|_| Error::Invalid(format!("line {line}: not valid CSV")))?;
        let get =
            |name: &str| -> &str { col.get(name).and_then(|&c| rec.get(c)).unwrap_or_default() };
        let bad = |what: &str| Error::Invalid(format!("line {line}: {what}"));
        let id = get("id").to_string();
        let name = get("name").to_string();
        if id.is_empty() {
            return Err(bad("empty `id`"));
        }
        if name.is_empty() {
            return Err(bad("empty `name`"));
        }
        let dup = match get("type").to_ascii_lowercase().as_str() {
            "pupil" => {
                let age_band = get("age_band");
                if AgeBand::parse(age_band).is_none() {
                    return Err(bad("unknown `age_band`"));
                }
                let in_care = boolean(get("in_care")).ok_or_else(|| bad("bad `in_care`"))?;
                let left_on = get("left_on");
                if !left_on.is_empty() && left_on.parse::<jiff::civil::Date>().is_err() {
                    return Err(bad("`left_on` must be YYYY-MM-DD"));
                }
                mentors.push((line, id.clone(), list(get("mentors"))));
                // Not in the file: how often her file was erased is kept.
                let erasures = old.pupils.get(&id).map_or(0, |p| p.erasures);
                pupils
                    .insert(
                        id.clone(),
                        Pupil {
                            id,
                            display_name: name,
                            group: get("group").to_string(),
                            age_band: age_band.to_string(),
                            // A pupil with a leaving date has left (retention counts from it).
                            active: left_on.is_empty(),
                            in_care,
                            mentors: vec![],
                            erasures,
                        },
                    )
                    .is_some()
            }
            "staff" => {
                let mut roles = vec![];
                let mut meldcode_duty = false;
                for r in list(get("roles")) {
                    if r == MELDCODE_DUTY {
                        meldcode_duty = true;
                    } else if let Some(role) = Role::parse(&r) {
                        roles.push(role.as_str().to_string());
                    } else {
                        return Err(bad("unknown role in `roles`"));
                    }
                }
                teaches.push((line, id.clone(), list(get("teaches"))));
                staff
                    .insert(
                        id.clone(),
                        Staff {
                            id,
                            display_name: name,
                            roles,
                            meldcode_duty,
                            active: true,
                        },
                    )
                    .is_some()
            }
            "group" => groups
                .insert(
                    id.clone(),
                    Group {
                        id,
                        name,
                        teachers: vec![],
                    },
                )
                .is_some(),
            _ => return Err(bad("`type` must be pupil, staff or group")),
        };
        if dup {
            return Err(bad("duplicate `id`"));
        }
    }
    for p in pupils.values() {
        if !groups.contains_key(&p.group) {
            return Err(Error::Invalid(format!(
                "pupil row: `group` is not a group in the file ({} pupils checked)",
                pupils.len()
            )));
        }
    }
    for (line, pupil, ms) in mentors {
        for m in &ms {
            if !staff.contains_key(m) {
                return Err(Error::Invalid(format!(
                    "line {line}: `mentors` names a staff id not in the file"
                )));
            }
        }
        if let Some(p) = pupils.get_mut(&pupil) {
            p.mentors = ms;
        }
    }
    for (line, teacher, gs) in teaches {
        for g in gs {
            let Some(group) = groups.get_mut(&g) else {
                return Err(Error::Invalid(format!(
                    "line {line}: `teaches` names a group id not in the file"
                )));
            };
            if !group.teachers.contains(&teacher) {
                group.teachers.push(teacher.clone());
            }
        }
    }
    // People who left stay, inactive; groups that are gone keep no teachers.
    for (id, p) in &old.pupils {
        pupils.entry(id.clone()).or_insert_with(|| Pupil {
            active: false,
            ..p.clone()
        });
    }
    for (id, s) in &old.staff {
        staff.entry(id.clone()).or_insert_with(|| Staff {
            active: false,
            ..s.clone()
        });
    }
    for (id, g) in &old.groups {
        groups.entry(id.clone()).or_insert_with(|| Group {
            teachers: vec![],
            ..g.clone()
        });
    }
    Ok(Roster {
        school: school.to_string(),
        pupils,
        groups,
        staff,
        // A school setting, not in the CSV: kept.
        offline_lease_days: old.offline_lease_days,
        viewer: None,
        parent_names: old.parent_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6b,Groep 6b,,,,,,
staff,m1,Juf Jansen,,,,mentor,,g6b
staff,ib,Mevr. de Vries,,,,care_coordinator;meldcode_duty,,
pupil,p1,\"Sam, de Boer\",g6b,po_5_8,ja,,m1,
pupil,p2,Noor,g6b,po_5_8,,,m1;ib,
";

    #[test]
    fn parses_the_documented_format() {
        let r = parse("s1", CSV, &Roster::default()).unwrap();
        assert_eq!(r.school, "s1");
        assert_eq!(r.pupils["p1"].display_name, "Sam, de Boer");
        assert!(r.pupils["p1"].in_care && !r.pupils["p2"].in_care);
        assert_eq!(r.pupils["p2"].mentors, vec!["m1", "ib"]);
        assert_eq!(r.groups["g6b"].teachers, vec!["m1"]);
        assert!(r.staff["ib"].meldcode_duty);
        assert_eq!(r.staff["ib"].roles, vec!["care_coordinator"]);
        assert!(r.is_mentor_of("m1", "p1"));
    }

    #[test]
    fn people_missing_from_the_file_become_inactive() {
        let old = parse("s1", CSV, &Roster::default()).unwrap();
        let csv = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g7,Groep 7,,,,,,
staff,ib,Mevr. de Vries,,,,care_coordinator,,
pupil,p2,Noor,g7,po_5_8,,,ib,
";
        let r = parse("s1", csv, &old).unwrap();
        assert!(!r.staff["m1"].active);
        assert!(!r.pupils["p1"].active);
        assert!(r.pupils["p2"].active);
        assert!(r.groups["g6b"].teachers.is_empty());
    }

    #[test]
    fn a_pupils_erasures_outlive_a_new_import() {
        let mut old = parse("s1", CSV, &Roster::default()).unwrap();
        old.pupils.get_mut("p2").unwrap().erasures = 2;
        let r = parse("s1", CSV, &old).unwrap();
        assert_eq!(r.pupils["p2"].erasures, 2, "her months keep their ids");
        assert_eq!(r.pupils["p1"].erasures, 0);
        let gone = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6b,Groep 6b,,,,,,
";
        assert_eq!(parse("s1", gone, &old).unwrap().pupils["p2"].erasures, 2);
    }

    #[test]
    fn errors_name_line_and_column_not_values() {
        let bad = "type,id,name,group,age_band\npupil,p1,Sam Geheim,g1,po_9\n";
        let e = parse("s1", bad, &Roster::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("age_band"), "{e}");
        assert!(!e.contains("Geheim"));
        let e = parse("s1", "id,name\n", &Roster::default()).unwrap_err();
        assert!(e.to_string().contains("type"));
        let role = "type,id,name,roles\nstaff,s,X,wizard\n";
        assert!(parse("s1", role, &Roster::default()).is_err());
        let mentor =
            "type,id,name,group,age_band,mentors\ngroup,g,G,,,\npupil,p,P,g,po_1_4,nobody\n";
        assert!(parse("s1", mentor, &Roster::default()).is_err());
    }
}
