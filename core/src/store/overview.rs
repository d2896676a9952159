//! The group overview (SGF handreiking, Cirkel 3: following the group's climate "op
//! klasse-niveau"): per week the thermometer levels of a group, signals per category per
//! month, open agreements and the pupils to watch, for the group's mentors and the care team,
//! from the projections of what this device holds. And the group's trend as an SVG.

use super::Store;
use super::queries::{AttentionItem, SignalFilter};
use crate::model::Role;
use crate::{Error, Result};
use rusqlite::params;
use std::collections::{BTreeMap, BTreeSet};

const DAY_MS: i64 = 24 * 3600 * 1000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// One week of a group's thermometer.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupWeek {
    /// Monday of the week, `YYYY-MM-DD`.
    pub week_of: String,
    /// Readings per level, from 1 (lowest fifth of the scale) to 5 (highest).
    pub levels: [u32; 5],
    /// Readings in the week.
    pub readings: u32,
    /// Of them, how many asked to talk.
    pub wants_to_talk: u32,
    /// Mean level, 0 (lowest) to 1 (highest); None without readings.
    pub mean: Option<f64>,
}

/// The overview of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOverview {
    /// Group id.
    pub group: String,
    /// Active pupils in the group.
    pub pupils: u32,
    /// Thermometer per week, oldest first (weeks without readings included).
    pub weeks: Vec<GroupWeek>,
    /// (month `YYYY-MM`, category id, count) of shared signals, by month then category.
    pub signals: Vec<(String, String, u32)>,
    /// Agreements not done yet in the group's kindgesprekken this user reads.
    pub open_agreements: u32,
    /// The attention list, for this group's pupils.
    pub to_watch: Vec<AttentionItem>,
}

fn monday(ms: i64) -> i64 {
    // 1970-01-01 was a Thursday: shift so weeks start on Monday.
    let days = ms.div_euclid(DAY_MS);
    let monday = days - (days + 3).rem_euclid(7);
    monday * DAY_MS
}

impl Store {
    /// The overview of `group` over the weeks from `from` to `to` (unix ms): the group's
    /// mentors and the care team only (`Forbidden` for others).
    pub fn group_overview(&self, group: &str, from: i64, to: i64) -> Result<GroupOverview> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        if !roster.groups.contains_key(group) {
            return Err(Error::NotFound);
        }
        let pupils: BTreeSet<String> = roster
            .pupils
            .values()
            .filter(|p| p.group == group && p.active)
            .map(|p| p.id.clone())
            .collect();
        let care = roster
            .active_staff(&me.user)
            .is_some_and(|s| s.has(Role::CareCoordinator));
        let mentor = pupils.iter().any(|p| roster.is_mentor_of(&me.user, p));
        if !care && !mentor {
            return Err(Error::Forbidden(
                "the group overview is for the group's mentors and the care team",
            ));
        }
        if to < from || to - from > 366 * DAY_MS {
            return Err(Error::Invalid(
                "the period is at most a year, from before to".into(),
            ));
        }
        let rows: Vec<(String, i64, f64, bool)> = self.read(|tx| {
            let mut st = tx.prepare_cached(
                "SELECT pupil, at, level, wants_to_talk FROM thermometer_entries \
                 WHERE at >= ?1 AND at <= ?2",
            )?;
            let rows = st.query_map(params![from, to], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut weeks: BTreeMap<i64, GroupWeek> = BTreeMap::new();
        let mut w = monday(from);
        while w <= to {
            weeks.insert(
                w,
                GroupWeek {
                    week_of: crate::model::date_of(w),
                    levels: [0; 5],
                    readings: 0,
                    wants_to_talk: 0,
                    mean: None,
                },
            );
            w += WEEK_MS;
        }
        let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
        for (pupil, at, level, talk) in rows {
            if !pupils.contains(&pupil) {
                continue;
            }
            let key = monday(at);
            let Some(week) = weeks.get_mut(&key) else {
                continue;
            };
            let bucket = ((level.clamp(0.0, 1.0) * 5.0) as usize).min(4);
            week.levels[bucket] += 1;
            week.readings += 1;
            week.wants_to_talk += u32::from(talk);
            *sums.entry(key).or_default() += level;
        }
        for (k, week) in &mut weeks {
            if week.readings > 0 {
                week.mean = Some(sums[k] / f64::from(week.readings));
            }
        }
        let mut by_month: BTreeMap<(String, String), u32> = BTreeMap::new();
        let mut open_agreements = 0;
        for p in &pupils {
            for s in self.list_signals(&SignalFilter {
                pupil: Some(p.clone()),
                ..Default::default()
            })? {
                if s.shared && s.observed_at >= from && s.observed_at <= to {
                    let month = crate::model::month_of(s.observed_at);
                    *by_month.entry((month, s.category.clone())).or_default() += 1;
                }
            }
            for c in self.list_conversations(p)? {
                open_agreements += c.open_agreements;
            }
        }
        let to_watch = self
            .attention_list()?
            .into_iter()
            .filter(|i| pupils.contains(&i.pupil))
            .collect();
        Ok(GroupOverview {
            group: group.into(),
            pupils: pupils.len() as u32,
            weeks: weeks.into_values().collect(),
            signals: by_month.into_iter().map(|((m, c), n)| (m, c, n)).collect(),
            open_agreements,
            to_watch,
        })
    }
}

impl GroupOverview {
    /// The weekly mean level as a line chart (SVG, 600 x 200, no script, no fonts needed
    /// beyond the system's): a point per week with readings, a gap where a week has none.
    pub fn trend_svg(&self) -> String {
        let (w, h, pad) = (600.0, 200.0, 20.0);
        let n = self.weeks.len().max(2) as f64;
        let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (n - 1.0);
        let y = |m: f64| h - pad - (h - 2.0 * pad) * m;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" role=\"img\"><title>Groep {}</title>\
             <rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\
             <line x1=\"{pad}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#cccccc\"/>",
            xml_escape(&self.group),
            y0 = y(0.5),
            x1 = w - pad
        );
        let mut segment: Vec<String> = vec![];
        let flush = |svg: &mut String, seg: &mut Vec<String>| {
            if seg.len() > 1 {
                svg.push_str(&format!(
                    "<polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\" points=\"{}\"/>",
                    seg.join(" ")
                ));
            }
            seg.clear();
        };
        for (i, week) in self.weeks.iter().enumerate() {
            match week.mean {
                Some(m) => {
                    let (px, py) = (x(i), y(m));
                    segment.push(format!("{px:.1},{py:.1}"));
                    svg.push_str(&format!(
                        "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"#1f6feb\"/>"
                    ));
                }
                None => flush(&mut svg, &mut segment),
            }
        }
        flush(&mut svg, &mut segment);
        svg.push_str("</svg>");
        svg
    }
}

/// Escape the group for the trend's SVG title: `&`, `<`, `>` and `"` only (unlike
/// [`crate::markup::xml_escape`], an apostrophe and control characters stay as they are).
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::monday;

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-22 is a Sunday; its week began on Monday 2026-11-16.
        let sunday = 1_795_338_000_000;
        assert_eq!(crate::model::date_of(monday(sunday)), "2026-11-16");
        let monday_noon = 1_795_435_200_000; // 2026-11-23 12:00 UTC
        assert_eq!(crate::model::date_of(monday(monday_noon)), "2026-11-23");
    }
}
