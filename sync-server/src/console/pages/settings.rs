//! The settings page: the offline lease, the retention terms and the school's settings
//! (the acute screen, thermometer scales, templates, cadence) per school.

use super::layout::{failed, page};
use super::text::t;
use super::{Admitted, Lang, Visit, csrf_field, esc, school_options};
use crate::console::api;
use crate::console::{ConsoleError, ConsoleState, Signed};
use crate::storage::AdminRole;
use axum::extract::{Form, Query};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(super) struct SchoolQuery {
    #[serde(default)]
    school: Option<String>,
}

fn school_chooser(lang: Lang, action: &str, schools: &[api::SchoolInfo], chosen: &str) -> String {
    format!(
        "<section><form method=\"get\" action=\"{action}\">\
         <label for=\"school\">{}</label><select id=\"school\" name=\"school\">{}</select>\
         <button class=\"primary\" id=\"choose-school\">{}</button></form></section>",
        t(lang, "school"),
        school_options(schools, Some(chosen)),
        t(lang, "choose"),
    )
}

fn opt_num(o: Option<u32>) -> String {
    o.map(|n| n.to_string()).unwrap_or_default()
}

async fn settings_html(
    st: &ConsoleState,
    lang: Lang,
    s: &Signed,
    school: Option<String>,
    msg: &str,
) -> Response {
    settings_html_with(st, lang, s, school, msg, None).await
}

/// [`settings_html`], with the school's settings text as the admin typed it (a refused
/// save shows it again, so nothing typed is lost).
async fn settings_html_with(
    st: &ConsoleState,
    lang: Lang,
    s: &Signed,
    school: Option<String>,
    msg: &str,
    typed: Option<&str>,
) -> Response {
    let schools = match api::list_schools(st, false).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let Some(school) = school
        .filter(|x| !x.is_empty())
        .or_else(|| schools.first().map(|x| x.id.clone()))
    else {
        let body = format!(
            "<section><h2>{}</h2><p class=\"muted\">{}</p></section>",
            t(lang, "settings"),
            t(lang, "no_schools")
        );
        return page(lang, t(lang, "settings"), Some((s, "settings")), &body).into_response();
    };
    let lease = match api::lease_of(st, &school).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let r = match api::retention_of(st, &school).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let text = match typed {
        Some(t) => t.to_string(),
        None => match st.admin.school_settings(&school).await {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
            Err(e) => return failed(lang, Some(s), e.into()),
        },
    };
    let sc = esc(&school);
    let body = format!(
        "{msg}{}<section id=\"lease\"><h2>{}</h2><p class=\"muted\">{}</p>\
         <form method=\"post\" action=\"/settings/lease\">{}<input type=\"hidden\" name=\"school\" value=\"{sc}\">\
         <label for=\"days\">{}</label><input id=\"days\" name=\"days\" type=\"number\" min=\"0\" inputmode=\"numeric\" value=\"{lease}\" required>\
         <button class=\"primary\" id=\"save-lease\">{}</button></form></section>\
         <section id=\"retention\"><h2>{}</h2>\
         <form method=\"post\" action=\"/settings/retention\">{}<input type=\"hidden\" name=\"school\" value=\"{sc}\">\
         <label for=\"pupil_file_years\">{}</label><input id=\"pupil_file_years\" name=\"pupil_file_years\" type=\"number\" min=\"0\" inputmode=\"numeric\" value=\"{}\" required>\
         <label for=\"incident_years\">{}</label><input id=\"incident_years\" name=\"incident_years\" type=\"number\" min=\"0\" inputmode=\"numeric\" value=\"{}\">\
         <label for=\"meldcode_case_years\">{}</label><input id=\"meldcode_case_years\" name=\"meldcode_case_years\" type=\"number\" min=\"0\" inputmode=\"numeric\" value=\"{}\">\
         <label for=\"school_year_ends\">{}</label><input id=\"school_year_ends\" name=\"school_year_ends\" pattern=\"[0-9]{{2}}-[0-9]{{2}}\" value=\"{}\" required>\
         <button class=\"primary\" id=\"save-retention\">{}</button></form></section>\
         <section id=\"school-settings\"><h2>{}</h2><p class=\"muted\">{}</p>\
         <form method=\"post\" action=\"/settings/school\">{}<input type=\"hidden\" name=\"school\" value=\"{sc}\">\
         <label for=\"settings-json\">{}</label><textarea id=\"settings-json\" name=\"json\" spellcheck=\"false\">{}</textarea>\
         <button class=\"primary\" id=\"save-school-settings\">{}</button></form></section>",
        school_chooser(lang, "/settings", &schools, &school),
        t(lang, "lease"),
        t(lang, "lease_help"),
        csrf_field(s),
        t(lang, "lease_days"),
        t(lang, "save"),
        t(lang, "retention"),
        csrf_field(s),
        t(lang, "pupil_file_years"),
        r.pupil_file_years,
        t(lang, "incident_years"),
        opt_num(r.incident_years),
        t(lang, "meldcode_case_years"),
        opt_num(r.meldcode_case_years),
        t(lang, "school_year_ends"),
        esc(&r.school_year_ends),
        t(lang, "save"),
        t(lang, "school_settings"),
        t(lang, "school_settings_help"),
        csrf_field(s),
        t(lang, "settings_json"),
        esc(&text),
        t(lang, "save"),
    );
    page(lang, t(lang, "settings"), Some((s, "settings")), &body).into_response()
}

/// The answer to a settings form: the page again for `school`, saying whether the form
/// changed anything, or the failure.
async fn saved(
    st: &ConsoleState,
    lang: Lang,
    s: &Signed,
    school: String,
    changed: Result<bool, ConsoleError>,
) -> Response {
    match changed {
        Ok(changed) => {
            let msg = format!(
                "<p class=\"msg\" id=\"saved\">{}</p>",
                t(lang, if changed { "saved" } else { "unchanged" })
            );
            settings_html(st, lang, s, Some(school), &msg).await
        }
        Err(e) => failed(lang, Some(s), e),
    }
}

pub(super) async fn settings_page(v: Visit, Query(q): Query<SchoolQuery>) -> Response {
    let (st, lang, s) = admit!(
        v.for_role(AdminRole::ItAdmin, "page_settings", q.school.as_deref())
            .await
    );
    settings_html(&st, lang, &s, q.school, "").await
}

/// A settings form's post: the IT admin, `op` audited with the form's school.
async fn for_school(v: Visit, csrf: &str, op: &str, school: &str) -> Result<Admitted, Response> {
    v.for_form(csrf, AdminRole::ItAdmin, op, Some(school), None)
        .await
}

/// Every field may be missing from the post (then empty).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct LeaseForm {
    csrf: String,
    school: String,
    days: String,
}

pub(super) fn number(lang: Lang, v: &str) -> Result<u32, ConsoleError> {
    v.trim()
        .parse()
        .map_err(|_| ConsoleError::Invalid(t(lang, "bad_number").into()))
}

fn opt_number(lang: Lang, v: &str) -> Result<Option<u32>, ConsoleError> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        number(lang, v).map(Some)
    }
}

pub(super) async fn lease_post(v: Visit, Form(f): Form<LeaseForm>) -> Response {
    let (st, lang, s) = admit!(for_school(v, &f.csrf, "set_lease", &f.school).await);
    let changed = match number(lang, &f.days) {
        Ok(days) => st
            .admin
            .set_offline_lease(&f.school, days)
            .await
            .map_err(Into::into),
        Err(e) => Err(e),
    };
    saved(&st, lang, &s, f.school, changed).await
}

/// Every field may be missing from the post (then empty).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RetentionForm {
    csrf: String,
    school: String,
    pupil_file_years: String,
    incident_years: String,
    meldcode_case_years: String,
    school_year_ends: String,
}

fn retention_terms(
    lang: Lang,
    f: &RetentionForm,
) -> Result<crate::retention::Retention, ConsoleError> {
    Ok(crate::retention::Retention {
        pupil_file_years: number(lang, &f.pupil_file_years)?,
        incident_years: opt_number(lang, &f.incident_years)?,
        meldcode_case_years: opt_number(lang, &f.meldcode_case_years)?,
        school_year_ends: f.school_year_ends.trim().to_string(),
    })
}

pub(super) async fn retention_post(v: Visit, Form(f): Form<RetentionForm>) -> Response {
    let (st, lang, s) = admit!(for_school(v, &f.csrf, "set_retention", &f.school).await);
    let changed = match retention_terms(lang, &f) {
        Ok(terms) => api::set_retention_of(&st, &f.school, terms).await,
        Err(e) => Err(e),
    };
    saved(&st, lang, &s, f.school, changed).await
}

/// Every field may be missing from the post (then empty).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SchoolSettingsForm {
    csrf: String,
    school: String,
    json: String,
}

/// The school's settings as the form's JSON gives them (absent keys: their defaults). A
/// parse error names the line and column, never the text.
fn parsed_settings(
    lang: Lang,
    json: &str,
) -> Result<omkijken_core::model::SchoolSettings, ConsoleError> {
    serde_json::from_str(json).map_err(|e| {
        ConsoleError::Invalid(format!(
            "{} ({} {}, {} {})",
            t(lang, "bad_settings"),
            t(lang, "line"),
            e.line(),
            t(lang, "column"),
            e.column()
        ))
    })
}

/// Save the school's settings. Refused (nothing changes) when the JSON does not parse or
/// the settings fail their check: the page says why and keeps the text as typed.
pub(super) async fn school_settings_post(v: Visit, Form(f): Form<SchoolSettingsForm>) -> Response {
    let (st, lang, s) = admit!(for_school(v, &f.csrf, "set_school_settings", &f.school).await);
    let changed = match parsed_settings(lang, &f.json) {
        Ok(settings) => st
            .admin
            .set_school_settings(&f.school, settings)
            .await
            .map_err(ConsoleError::from),
        Err(e) => Err(e),
    };
    match changed {
        Err(ConsoleError::Invalid(why)) => {
            let msg = format!(
                "<p class=\"msg err\" id=\"error\">{}: {}</p>",
                t(lang, "not_saved"),
                esc(&why)
            );
            let page = settings_html_with(&st, lang, &s, Some(f.school), &msg, Some(&f.json)).await;
            (axum::http::StatusCode::BAD_REQUEST, page).into_response()
        }
        changed => saved(&st, lang, &s, f.school, changed).await,
    }
}
