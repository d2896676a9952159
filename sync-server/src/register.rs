//! The incident register ("aard en omvang", Sociale veiligheid binnen het onderwijs; the
//! school leader's monitoring, Schoolleiders aan de slag §3): per month and per signal
//! category and route, how many signals were shared, and how many meldcode cases were opened
//! and closed. Built on the server from the stored documents, so the leader's device never
//! receives them; no pupil or staff identity in it, and a count under the school's threshold
//! (default 5) shows as "< N" so nobody is identified by a number.

use crate::storage::Storage;
use crate::{Error, Result};
use automerge::Automerge;
use omkijken_core::defaults::{self, Route};
use omkijken_core::model::{Case, Kind, Signal};
use omkijken_core::{DocumentId, doc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Default threshold under which a count is not shown.
pub const DEFAULT_THRESHOLD: u32 = 5;

/// A count as shown: the number, or "< threshold".
pub fn shown(n: u32, threshold: u32) -> String {
    if n > 0 && n < threshold {
        format!("< {threshold}")
    } else {
        n.to_string()
    }
}

/// One row of signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalRow {
    /// Month, `YYYY-MM`.
    pub month: String,
    /// Category id.
    pub category: String,
    /// Route: `normal`, `anti_bullying`, `meldcode`, `board`.
    pub route: &'static str,
    /// Shared signals, as shown.
    pub signals: String,
}

/// One month of meldcode cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseRow {
    /// Month, `YYYY-MM`.
    pub month: String,
    /// Cases opened, as shown.
    pub opened: String,
    /// Cases closed, as shown.
    pub closed: String,
}

/// The register of one school over a span of months.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Register {
    /// School.
    pub school: String,
    /// First month, `YYYY-MM`.
    pub from: String,
    /// Last month, `YYYY-MM`.
    pub to: String,
    /// Counts under this are shown as "< threshold".
    pub threshold: u32,
    /// Signals per month and category.
    pub signals: Vec<SignalRow>,
    /// Cases per month.
    pub cases: Vec<CaseRow>,
}

fn route_name(r: Route) -> &'static str {
    match r {
        Route::Normal => "normal",
        Route::AntiBullying => "anti_bullying",
        Route::Meldcode => "meldcode",
        Route::BoardRoute => "board",
    }
}

fn month_ok(m: &str) -> bool {
    m.len() == 7 && format!("{m}-01").parse::<jiff::civil::Date>().is_ok()
}

fn load(st: &mut dyn Storage, id: DocumentId) -> Result<Option<Automerge>> {
    Ok(match st.load_doc(id)? {
        Some(b) => Some(Automerge::load(&b).map_err(|_| Error::Corrupt("a stored document"))?),
        None => None,
    })
}

/// Build the register of `school` from month `from` to month `to` (`YYYY-MM`, inclusive).
pub fn build(st: &mut dyn Storage, school: &str, from: &str, to: &str) -> Result<Register> {
    if !month_ok(from) || !month_ok(to) || from > to {
        return Err(Error::Invalid(
            "months are YYYY-MM, from not after to".into(),
        ));
    }
    let threshold = crate::retention::policy(st, school)?.register_threshold;
    let in_span = |m: &str| m >= from && m <= to;
    let mut signals: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut opened: BTreeMap<String, u32> = BTreeMap::new();
    let mut closed: BTreeMap<String, u32> = BTreeMap::new();
    // The school's signals and cases (read page by page: not the whole catalog at once).
    let mut counted: Vec<(DocumentId, Kind)> = vec![];
    st.for_each_in_school(school, &mut |row| {
        match row.header.kind.parse::<Kind>() {
            Ok(kind @ (Kind::Signal | Kind::Case)) if !row.erased => counted.push((row.id, kind)),
            _ => {}
        }
        Ok(())
    })?;
    for (id, kind) in counted {
        match kind {
            Kind::Signal => {
                let Some(d) = load(st, id)? else { continue };
                let Ok(s) = doc::record::<Signal>(id, &d) else {
                    continue;
                };
                let month = omkijken_core::model::month_of(s.observed_at);
                if s.shared && in_span(&month) {
                    *signals.entry((month, s.category)).or_default() += 1;
                }
            }
            Kind::Case => {
                let Some(d) = load(st, id)? else { continue };
                let Ok(c) = doc::record::<Case>(id, &d) else {
                    continue;
                };
                let month = omkijken_core::model::month_of(c.opened_at);
                if in_span(&month) {
                    *opened.entry(month).or_default() += 1;
                }
                if let Some(at) = c.closed_at {
                    let month = omkijken_core::model::month_of(at);
                    if in_span(&month) {
                        *closed.entry(month).or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let mut months: Vec<String> = opened.keys().chain(closed.keys()).cloned().collect();
    months.sort();
    months.dedup();
    Ok(Register {
        school: school.into(),
        from: from.into(),
        to: to.into(),
        threshold,
        signals: signals
            .into_iter()
            .map(|((month, category), n)| SignalRow {
                route: defaults::category(&category)
                    .map(|c| route_name(c.route))
                    .unwrap_or("normal"),
                month,
                category,
                signals: shown(n, threshold),
            })
            .collect(),
        cases: months
            .into_iter()
            .map(|m| CaseRow {
                opened: shown(opened.get(&m).copied().unwrap_or(0), threshold),
                closed: shown(closed.get(&m).copied().unwrap_or(0), threshold),
                month: m,
            })
            .collect(),
    })
}

impl Register {
    /// As CSV for the school's annual monitor: one row per month and category of signals,
    /// then one per month of cases (`kind` says which).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("kind,month,category,route,count,opened,closed\n");
        for r in &self.signals {
            out.push_str(&format!(
                "signals,{},{},{},{},,\n",
                r.month, r.category, r.route, r.signals
            ));
        }
        for c in &self.cases {
            out.push_str(&format!(
                "meldcode_cases,{},,,,{},{}\n",
                c.month, c.opened, c.closed
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn small_counts_are_not_shown() {
        assert_eq!(shown(0, 5), "0");
        assert_eq!(shown(1, 5), "< 5");
        assert_eq!(shown(4, 5), "< 5");
        assert_eq!(shown(5, 5), "5");
        assert_eq!(shown(2, 1), "2");
    }
}
