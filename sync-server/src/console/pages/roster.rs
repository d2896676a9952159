//! The roster page: upload a CSV, preview what changes, import.

use super::layout::{failed, page};
use super::text::t;
use super::{Lang, Visit, check_csrf, csrf_field, esc, school_options};
use crate::admin::RosterPreview;
use crate::console::Signed;
use crate::console::api;
use crate::storage::AdminRole;
use axum::extract::Form;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write;

pub(super) async fn roster_page(v: Visit) -> Response {
    let (st, lang, s) = admit!(v.for_role(AdminRole::ItAdmin, "page_roster", None).await);
    match api::list_schools(&st, false).await {
        Ok(schools) => roster_form(lang, &s, &schools, None, "", None).into_response(),
        Err(e) => failed(lang, Some(&s), e),
    }
}

fn roster_form(
    lang: Lang,
    s: &Signed,
    schools: &[api::SchoolInfo],
    school: Option<&str>,
    csv: &str,
    result: Option<String>,
) -> Html<String> {
    let body = format!(
        "{}<section><h2>{}</h2><form method=\"post\" action=\"/roster\">{}\
         <label for=\"school\">{}</label><select id=\"school\" name=\"school\">{}</select>\
         <label for=\"csv\">{}</label><textarea id=\"csv\" name=\"csv\" spellcheck=\"false\">{}</textarea>\
         <p class=\"muted\">type,id,name,group,age_band,in_care,roles,mentors,teaches</p>\
         <button class=\"primary\" name=\"step\" value=\"preview\" id=\"preview\">{}</button></form></section>",
        result.unwrap_or_default(),
        t(lang, "roster"),
        csrf_field(s),
        t(lang, "school"),
        school_options(schools, school),
        t(lang, "csv"),
        esc(csv),
        t(lang, "preview"),
    );
    page(lang, t(lang, "roster"), Some((s, "roster")), &body)
}

fn preview_html(lang: Lang, p: &RosterPreview) -> String {
    if !p.changed {
        return format!(
            "<p class=\"msg\" id=\"no-changes\">{}</p>",
            t(lang, "no_changes")
        );
    }
    let mut h = String::new();
    let mut table = |id: &str, title: &str, head: &[&str], rows: Vec<Vec<String>>| {
        if rows.is_empty() {
            return;
        }
        let _ = write!(
            h,
            "<h3>{} ({})</h3><div class=\"scroll\"><table id=\"{id}\"><tr>",
            esc(title),
            rows.len()
        );
        for c in head {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr>");
        for r in rows {
            h.push_str("<tr>");
            for c in r {
                let _ = write!(h, "<td>{}</td>", esc(&c));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table></div>");
    };
    let pupil_rows = |v: &[crate::admin::PreviewPupil]| {
        v.iter()
            .map(|p| vec![p.id.clone(), p.name.clone(), p.group.clone()])
            .collect::<Vec<_>>()
    };
    let (pu, gr, be, af) = (
        t(lang, "pupil"),
        t(lang, "group"),
        t(lang, "before"),
        t(lang, "after"),
    );
    table(
        "added",
        t(lang, "added"),
        &["id", pu, gr],
        pupil_rows(&p.pupils_added),
    );
    table(
        "left",
        t(lang, "left"),
        &["id", pu, gr],
        pupil_rows(&p.pupils_left),
    );
    table(
        "moved",
        t(lang, "moved"),
        &["id", pu, be, af],
        p.pupils_moved
            .iter()
            .map(|m| vec![m.id.clone(), m.name.clone(), m.from.clone(), m.to.clone()])
            .collect(),
    );
    table(
        "mentors",
        t(lang, "mentors"),
        &["id", pu, be, af],
        p.mentors_changed
            .iter()
            .map(|m| {
                vec![
                    m.id.clone(),
                    m.name.clone(),
                    m.before.join(", "),
                    m.after.join(", "),
                ]
            })
            .collect(),
    );
    table(
        "care-opened",
        t(lang, "care_opened"),
        &["id"],
        p.care_opened.iter().map(|i| vec![i.clone()]).collect(),
    );
    table(
        "care-closed",
        t(lang, "care_closed"),
        &["id"],
        p.care_closed.iter().map(|i| vec![i.clone()]).collect(),
    );
    let staff_rows = |v: &[crate::admin::PreviewStaff]| {
        v.iter()
            .map(|s| vec![s.id.clone(), s.name.clone()])
            .collect::<Vec<_>>()
    };
    let n = t(lang, "name");
    table(
        "staff-added",
        t(lang, "staff_added"),
        &["id", n],
        staff_rows(&p.staff_added),
    );
    table(
        "staff-left",
        t(lang, "staff_left"),
        &["id", n],
        staff_rows(&p.staff_left),
    );
    h
}

#[derive(Deserialize)]
pub(super) struct RosterForm {
    #[serde(default)]
    csrf: String,
    school: String,
    csv: String,
    step: String,
}

pub(super) async fn roster_post(v: Visit, Form(f): Form<RosterForm>) -> Response {
    let (st, lang, s) = admit!(
        v.for_role(
            AdminRole::ItAdmin,
            if f.step == "import" {
                "import_roster"
            } else {
                "roster_preview"
            },
            Some(&f.school),
        )
        .await
    );
    if let Err(e) = check_csrf(&s, &f.csrf) {
        return failed(lang, Some(&s), e);
    }
    let schools = match api::list_schools(&st, false).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(&s), e),
    };
    if f.step == "import" {
        return match api::import(&st, &f.school, f.csv.clone()).await {
            Ok(r) => {
                let result = format!(
                    "<section><p class=\"msg\" id=\"imported\">{} {} / {} / {}</p>{}</section>",
                    t(lang, "imported"),
                    r.import.pupils,
                    r.import.staff,
                    r.import.groups,
                    preview_html(lang, &r.preview)
                );
                roster_form(lang, &s, &schools, Some(&f.school), "", Some(result)).into_response()
            }
            Err(e) => failed(lang, Some(&s), e),
        };
    }
    match api::preview(&st, &f.school, f.csv.clone()).await {
        Ok(p) => {
            let import = if p.changed {
                format!(
                    "<form method=\"post\" action=\"/roster\">{}\
                     <input type=\"hidden\" name=\"school\" value=\"{}\">\
                     <textarea name=\"csv\" hidden>{}</textarea>\
                     <button class=\"primary\" name=\"step\" value=\"import\" id=\"import\">{}</button></form>",
                    csrf_field(&s),
                    esc(&f.school),
                    esc(&f.csv),
                    t(lang, "import")
                )
            } else {
                String::new()
            };
            let result = format!(
                "<section id=\"preview-result\"><h2>{}</h2>{}{import}</section>",
                t(lang, "preview"),
                preview_html(lang, &p)
            );
            roster_form(lang, &s, &schools, Some(&f.school), &f.csv, Some(result)).into_response()
        }
        Err(e) => failed(lang, Some(&s), e),
    }
}
