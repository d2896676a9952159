//! List views, answered from projection tables only and filtered by the access rules.

use super::Store;
use crate::access::Access;
use crate::doc::AccessFields;
use crate::ids::DocumentId;
use crate::model::{Header, Kind, Roster, SignalNotes};
use crate::{Error, Result};
use rusqlite::{OptionalExtension, Params, Row, Transaction, params};

/// A conversation in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    /// Document id.
    pub id: DocumentId,
    /// Pupil.
    pub pupil: String,
    /// Author.
    pub author: String,
    /// Date held.
    pub held_on: String,
    /// "draft" / "final".
    pub status: String,
    /// "private" / "shared".
    pub visibility: String,
    /// Agreements not done.
    pub open_agreements: u32,
}

/// Filters for the signal list; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalFilter {
    /// One pupil.
    pub pupil: Option<String>,
    /// One category.
    pub category: Option<String>,
    /// At least this urgency.
    pub min_urgency: Option<u8>,
    /// Open (true) or closed (false) only.
    pub open: Option<bool>,
    /// By this author.
    pub author: Option<String>,
    /// Recorded on this excursion.
    pub excursion: Option<String>,
}

/// A signal in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalSummary {
    /// Document id.
    pub id: DocumentId,
    /// Pupil.
    pub pupil: String,
    /// Author.
    pub author: String,
    /// Category id.
    pub category: String,
    /// 0-3.
    pub urgency: u8,
    /// Unix ms.
    pub observed_at: i64,
    /// Shared (append-only) or draft.
    pub shared: bool,
    /// Not closed.
    pub open: bool,
    /// Someone picked it up.
    pub picked_up: bool,
    /// Number of follow-up entries the user reads of it: those on the signal and, for
    /// those who follow it up, the notes beside it (as [`Store::signal`] returns them).
    pub follow_ups: u32,
}

/// One thermometer reading in a trend.
#[derive(Debug, Clone, PartialEq)]
pub struct ThermometerPoint {
    /// Month document.
    pub doc: DocumentId,
    /// Entry id.
    pub entry: String,
    /// Unix ms.
    pub at: i64,
    /// Scale id.
    pub scale: String,
    /// Score on that scale.
    pub score: u8,
    /// Score mapped to 0..=1 (comparable across scales).
    pub level: f32,
    /// Asked to talk.
    pub wants_to_talk: bool,
}

/// Why a pupil is on the attention list.
#[derive(Debug, Clone, PartialEq)]
pub enum AttentionReason {
    /// An open signal of urgency >= 1 not yet picked up.
    OpenSignal {
        /// The signal.
        signal: DocumentId,
        /// Its urgency.
        urgency: u8,
        /// Its category.
        category: String,
    },
    /// The pupil asked to talk (thermometer flag) and nobody marked it answered yet: for
    /// those who write her thermometer (her mentors, the teachers of her group), from the
    /// moment she asks until it is answered.
    WantsToTalk {
        /// When.
        at: i64,
    },
    /// A request to talk that nobody answered for the school's number of school days
    /// (`talk_escalation_school_days`, default 3): for the care coordinator.
    TalkNotAnswered {
        /// When the pupil asked.
        at: i64,
        /// School days (Monday to Friday) since.
        school_days: u32,
    },
    /// The thermometer fell: mean of the last 7 days well below the 21 days before.
    FallingTrend {
        /// Mean level before (0..=1).
        before: f32,
        /// Mean level recently.
        recent: f32,
    },
    /// An agreement of a kindgesprek is past its follow-up date and not done.
    AgreementOverdue {
        /// The kindgesprek.
        conversation: DocumentId,
        /// The agreement's id.
        agreement: String,
        /// Its follow-up date, `YYYY-MM-DD`.
        due: String,
    },
    /// A meldcode case's feedback from Veilig Thuis is overdue (due five working days after
    /// the report, not recorded yet).
    CaseFeedbackOverdue {
        /// The case.
        case: DocumentId,
        /// When it was due, `YYYY-MM-DD`.
        due: String,
    },
    /// An open meldcode case's evaluation date has come.
    CaseEvaluationDue {
        /// The case.
        case: DocumentId,
        /// The evaluation date, `YYYY-MM-DD`.
        on: String,
    },
}

/// One row of the care team's attention list.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionItem {
    /// Pupil.
    pub pupil: String,
    /// Why.
    pub reason: AttentionReason,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The header of a listed document as far as access rules read it (kind, school, pupil,
/// author), rebuilt from its projection row.
pub(crate) fn header(kind: Kind, school: &str, pupil: Option<&str>, author: &str) -> Header {
    Header::new(kind, school, pupil, author, 0)
}

/// Whether `user` reads a listed document of `kind` about `pupil` by `author` with these
/// access fields (its [`header`] rebuilt from the projection row).
pub(crate) fn may_read_listed(
    roster: &Roster,
    user: &str,
    kind: Kind,
    pupil: Option<&str>,
    author: &str,
    fields: &AccessFields,
) -> bool {
    let h = header(kind, &roster.school, pupil, author);
    crate::access(roster, user, &h, fields) >= Access::Read
}

fn is_board_route(category: &str) -> bool {
    crate::defaults::category(category)
        .is_some_and(|c| c.route == crate::defaults::Route::BoardRoute)
}

/// `fields`: the document's access fields (JSON), read for the readers a school leader added
/// to a staff-misconduct signal; the other fields are in the projection row.
fn may_read_signal(roster: &Roster, user: &str, s: &SignalSummary, fields: Option<&str>) -> bool {
    let readers = match fields {
        Some(json) if is_board_route(&s.category) => serde_json::from_str::<AccessFields>(json)
            .map(|f| f.readers)
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let f = AccessFields {
        urgency: Some(s.urgency),
        category: Some(s.category.clone()),
        readers,
        ..Default::default()
    };
    may_read_listed(roster, user, Kind::Signal, Some(&s.pupil), &s.author, &f)
}

fn may_read_thermometer(roster: &Roster, user: &str, pupil: &str) -> bool {
    let f = AccessFields::default();
    may_read_listed(roster, user, Kind::Thermometer, Some(pupil), "system", &f)
}

impl Store {
    /// A list view: runs `sql`, whose first column is the document id, builds each row with
    /// `row` (rows whose id does not parse are left out) and keeps what `readable` returns
    /// for the unlocked user under the school's roster, in the query's order. `readable`
    /// runs in the same read transaction, for the rare row whose access fields it must read.
    pub(crate) fn list_readable<T, S>(
        &self,
        sql: &str,
        params: impl Params,
        row: impl Fn(DocumentId, &Row<'_>) -> rusqlite::Result<T>,
        readable: impl Fn(&Transaction<'_>, &Roster, &str, T) -> Result<Option<S>>,
    ) -> Result<Vec<S>> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(sql)?;
            let rows = stmt
                .query_map(params, |r| match r.get::<_, String>(0)?.parse() {
                    Ok(id) => row(id, r).map(Some),
                    Err(_) => Ok(None),
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for t in rows.into_iter().flatten() {
                out.extend(readable(tx, &roster, &me.user, t)?);
            }
            Ok(out)
        })
    }

    /// [`Store::list_readable`] for a pupil's records whose projection row holds all that
    /// decides access: `who` gives a row's pupil, author and access fields.
    pub(crate) fn list_pupil_records<S>(
        &self,
        sql: &str,
        params: impl Params,
        kind: Kind,
        row: impl Fn(DocumentId, &Row<'_>) -> rusqlite::Result<S>,
        who: impl Fn(&S) -> (&str, &str, AccessFields),
    ) -> Result<Vec<S>> {
        self.list_readable(sql, params, row, |_, roster, user, s| {
            let (pupil, author, f) = who(&s);
            let may = may_read_listed(roster, user, kind, Some(pupil), author, &f);
            Ok(may.then_some(s))
        })
    }

    /// Conversations about a pupil that the user may read, newest first.
    pub fn list_conversations(&self, pupil: &str) -> Result<Vec<ConversationSummary>> {
        self.list_pupil_records(
            "SELECT id, pupil, author, held_on, status, visibility, open_agreements
             FROM conversations WHERE pupil = ?1 ORDER BY held_on DESC, id",
            [pupil],
            Kind::Conversation,
            |id, r| {
                Ok(ConversationSummary {
                    id,
                    pupil: r.get(1)?,
                    author: r.get(2)?,
                    held_on: r.get(3)?,
                    status: r.get(4)?,
                    visibility: r.get(5)?,
                    open_agreements: r.get(6)?,
                })
            },
            |c| {
                (
                    &c.pupil,
                    &c.author,
                    AccessFields::of_visibility(&c.visibility),
                )
            },
        )
    }

    /// Signals the user may read, matching the filter, newest first.
    pub fn list_signals(&self, filter: &SignalFilter) -> Result<Vec<SignalSummary>> {
        let mut listed = self.list_readable_signals(filter)?;
        self.count_signal_notes(&mut listed)?;
        Ok(listed)
    }

    /// Add to each listed signal's `follow_ups` the notes beside it ([`SignalNotes`]) that
    /// the user reads: only the notes documents this device holds are opened (a handful,
    /// found in one query), and reading a count is not logged as reading the notes.
    fn count_signal_notes(&self, listed: &mut [SignalSummary]) -> Result<()> {
        if listed.is_empty() {
            return Ok(());
        }
        let held: std::collections::HashSet<String> = self.read(|tx| {
            let mut stmt =
                tx.prepare_cached("SELECT id FROM documents WHERE kind = ?1 AND valid = 1")?;
            let ids = stmt
                .query_map([Kind::SignalNotes.as_str()], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })?;
        if held.is_empty() {
            return Ok(());
        }
        let school = self.unlocked_identity()?.school;
        for s in listed.iter_mut() {
            let nid = crate::doc::signal_notes_id(&school, &s.pupil, s.id, &s.category, s.urgency);
            if !held.contains(&nid.to_string()) {
                continue;
            }
            match self.read_record::<SignalNotes>(nid, false) {
                Ok((_, n, _)) => {
                    s.follow_ups = s.follow_ups.saturating_add(n.notes.len() as u32);
                }
                Err(Error::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn list_readable_signals(&self, filter: &SignalFilter) -> Result<Vec<SignalSummary>> {
        self.list_readable(
            "SELECT id, pupil, author, category, urgency, observed_at, shared, open, picked_up, follow_ups
             FROM signals
             WHERE (?1 IS NULL OR pupil = ?1) AND (?2 IS NULL OR category = ?2)
               AND (?3 IS NULL OR urgency >= ?3) AND (?4 IS NULL OR open = ?4)
               AND (?5 IS NULL OR author = ?5) AND (?6 IS NULL OR excursion = ?6)
             ORDER BY observed_at DESC, id",
            params![filter.pupil, filter.category, filter.min_urgency, filter.open, filter.author, filter.excursion],
            |id, r| {
                Ok(SignalSummary {
                    id,
                    pupil: r.get(1)?,
                    author: r.get(2)?,
                    category: r.get(3)?,
                    urgency: r.get(4)?,
                    observed_at: r.get(5)?,
                    shared: r.get(6)?,
                    open: r.get(7)?,
                    picked_up: r.get(8)?,
                    follow_ups: r.get(9)?,
                })
            },
            |tx, roster, user, s| {
                // The readers a school leader added matter on the board route only (rare):
                // their access fields are read for those rows alone.
                let fields: Option<String> = if is_board_route(&s.category) {
                    tx.prepare_cached("SELECT fields FROM documents WHERE id = ?1")?
                        .query_row([s.id.to_string()], |r| r.get(0))
                        .optional()?
                } else {
                    None
                };
                Ok(may_read_signal(roster, user, &s, fields.as_deref()).then_some(s))
            },
        )
    }

    /// A pupil's thermometer readings in `[from, to)` (unix ms), oldest first.
    pub fn thermometer_entries(
        &self,
        pupil: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<ThermometerPoint>> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        if !may_read_thermometer(&roster, &me.user, pupil) {
            return Ok(vec![]);
        }
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT doc_id, entry_id, at, scale, score, level, wants_to_talk FROM thermometer_entries
                 WHERE pupil = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, entry_id",
            )?;
            let rows = stmt.query_map(params![pupil, from, to], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u8>(4)?,
                    r.get::<_, f64>(5)?,
                    r.get::<_, bool>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (doc, entry, at, scale, score, level, wants_to_talk) = r?;
                let Ok(doc) = doc.parse() else { continue };
                out.push(ThermometerPoint { doc, entry, at, scale, score, level: level as f32, wants_to_talk });
            }
            Ok(out)
        })
    }

    /// The care team's attention list: open signals (urgency >= 1) not yet picked up,
    /// requests to talk not answered yet (for the care coordinator once they waited the
    /// school's number of school days), overdue agreements of kindgesprekken, falling
    /// thermometer trends, and meldcode
    /// cases whose Veilig Thuis feedback is overdue or whose evaluation date has come, for
    /// the pupils this user may see. Urgent first.
    pub fn attention_list(&self) -> Result<Vec<AttentionItem>> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let now = self.now();
        let mut items = Vec::new();
        for s in self.list_signals(&SignalFilter {
            min_urgency: Some(1),
            open: Some(true),
            ..Default::default()
        })? {
            if !s.picked_up && s.shared {
                items.push((
                    s.urgency,
                    AttentionItem {
                        pupil: s.pupil.clone(),
                        reason: AttentionReason::OpenSignal {
                            signal: s.id,
                            urgency: s.urgency,
                            category: s.category,
                        },
                    },
                ));
            }
        }
        let rows: Vec<(String, i64, f64, bool)> = self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT pupil, at, level, wants_to_talk FROM thermometer_entries WHERE at >= ?1 AND at <= ?2 ORDER BY pupil, at",
            )?;
            let rows = stmt.query_map(params![now - 28 * DAY_MS, now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut i = 0;
        while i < rows.len() {
            let pupil = rows[i].0.clone();
            let mut j = i;
            while j < rows.len() && rows[j].0 == pupil {
                j += 1;
            }
            let group = &rows[i..j];
            i = j;
            if !may_read_thermometer(&roster, &me.user, &pupil) {
                continue;
            }
            let (recent, before): (Vec<_>, Vec<_>) =
                group.iter().partition(|r| r.1 >= now - 7 * DAY_MS);
            if recent.len() >= 2 && before.len() >= 2 {
                let mean = |v: &[&(String, i64, f64, bool)]| {
                    v.iter().map(|r| r.2).sum::<f64>() / v.len() as f64
                };
                let (r, b) = (mean(&recent), mean(&before));
                if b - r >= 0.25 {
                    items.push((
                        1,
                        AttentionItem {
                            pupil: pupil.clone(),
                            reason: AttentionReason::FallingTrend {
                                before: b as f32,
                                recent: r as f32,
                            },
                        },
                    ));
                }
            }
        }
        items.extend(self.talk_attention(&roster, &me.user, now)?);
        let today = crate::model::date_of(now);
        for a in self.overdue_agreements(&today)? {
            items.push((
                1,
                AttentionItem {
                    pupil: a.pupil,
                    reason: AttentionReason::AgreementOverdue {
                        conversation: a.conversation,
                        agreement: a.agreement,
                        due: a.due,
                    },
                },
            ));
        }
        for c in self.list_cases(None)? {
            if let Some(due) = c.feedback_due.filter(|d| *d < today) {
                items.push((
                    2,
                    AttentionItem {
                        pupil: c.pupil.clone(),
                        reason: AttentionReason::CaseFeedbackOverdue { case: c.id, due },
                    },
                ));
            }
            if let Some(on) = c.evaluation_on.filter(|d| *d <= today)
                && c.status == crate::model::CaseStatus::Open
            {
                items.push((
                    1,
                    AttentionItem {
                        pupil: c.pupil.clone(),
                        reason: AttentionReason::CaseEvaluationDue { case: c.id, on },
                    },
                ));
            }
        }
        items.sort_by_key(|i| std::cmp::Reverse(i.0));
        Ok(items.into_iter().map(|(_, i)| i).collect())
    }
}
