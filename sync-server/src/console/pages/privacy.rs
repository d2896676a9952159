//! The privacy page: inzage export and erasure of a pupil.

use super::layout::{failed, page};
use super::text::t;
use super::{Admitted, Lang, Visit, csrf_field, esc, school_options};
use crate::console::api;
use crate::console::{ConsoleState, Signed};
use crate::storage::AdminRole;
use axum::extract::Form;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

async fn privacy_html(
    st: &ConsoleState,
    lang: Lang,
    s: &Signed,
    school: Option<&str>,
    msg: &str,
) -> Response {
    let schools = match api::list_schools(st, false).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let opts = school_options(&schools, school);
    let holds = match super::beside_hub(st, crate::retention::holds).await {
        Ok(h) => h,
        Err(e) => return failed(lang, Some(s), e),
    };
    let held = if holds.is_empty() {
        format!(
            "<p class=\"muted\" id=\"no-holds\">{}</p>",
            t(lang, "no_holds")
        )
    } else {
        let mut rows = format!(
            "<table id=\"holds\"><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
            t(lang, "school"),
            t(lang, "pupil"),
            t(lang, "since"),
        );
        for (school, pupil, at) in &holds {
            rows.push_str(&format!(
                "<tr class=\"hold\"><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(school),
                esc(pupil),
                super::when(*at),
            ));
        }
        rows + "</table>"
    };
    let body = format!(
        "{msg}<section id=\"export\"><h2>{}</h2><p class=\"muted\">{}</p>\
         <form method=\"post\" action=\"/privacy/export\">{}\
         <label for=\"export-school\">{}</label><select id=\"export-school\" name=\"school\">{opts}</select>\
         <label for=\"export-pupil\">{}</label><input id=\"export-pupil\" name=\"pupil\" autocomplete=\"off\" required>\
         <label for=\"requested_on\">{}</label><input id=\"requested_on\" name=\"requested_on\" type=\"date\">\
         <button class=\"primary\" id=\"download-export\">{}</button></form></section>\
         <section id=\"erase\"><h2>{}</h2><p>{}</p>\
         <form method=\"post\" action=\"/privacy/erase\">{}\
         <label for=\"erase-school\">{}</label><select id=\"erase-school\" name=\"school\">{opts}</select>\
         <label for=\"erase-pupil\">{}</label><input id=\"erase-pupil\" name=\"pupil\" autocomplete=\"off\" required>\
         <button class=\"primary\" id=\"erase-next\">{}</button></form></section>\
         <section id=\"legal-hold\"><h2>{}</h2><p class=\"muted\">{}</p>{held}\
         <form method=\"post\" action=\"/privacy/hold\">{}\
         <label for=\"hold-school\">{}</label><select id=\"hold-school\" name=\"school\">{opts}</select>\
         <label for=\"hold-pupil\">{}</label><input id=\"hold-pupil\" name=\"pupil\" autocomplete=\"off\" required>\
         <p><button class=\"primary\" id=\"place-hold\" name=\"action\" value=\"hold\">{}</button> \
         <button class=\"primary\" id=\"lift-hold\" name=\"action\" value=\"release\">{}</button></p></form></section>",
        t(lang, "export"),
        t(lang, "export_help"),
        csrf_field(s),
        t(lang, "school"),
        t(lang, "pupil"),
        t(lang, "requested_on"),
        t(lang, "download_pdf"),
        t(lang, "erase"),
        t(lang, "erase_help"),
        csrf_field(s),
        t(lang, "school"),
        t(lang, "pupil"),
        t(lang, "erase_next"),
        t(lang, "legal_hold"),
        t(lang, "legal_hold_help"),
        csrf_field(s),
        t(lang, "school"),
        t(lang, "pupil"),
        t(lang, "place_hold"),
        t(lang, "lift_hold"),
    );
    page(lang, t(lang, "privacy"), Some((s, "privacy")), &body).into_response()
}

pub(super) async fn privacy_page(v: Visit) -> Response {
    let (st, lang, s) = admit!(
        v.for_role(AdminRole::PrivacyOfficer, "page_privacy", None)
            .await
    );
    privacy_html(&st, lang, &s, None, "").await
}

/// Every field may be missing from the post (then empty).
/// A privacy form's post: the privacy officer, `op` audited with the form's school and pupil.
async fn for_pupil(
    v: Visit,
    csrf: &str,
    op: &str,
    school: &str,
    pupil: &str,
) -> Result<Admitted, Response> {
    let role = AdminRole::PrivacyOfficer;
    v.for_form(csrf, role, op, Some(school), Some(pupil)).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ExportForm {
    csrf: String,
    school: String,
    pupil: String,
    requested_on: String,
}

pub(super) async fn export_post(v: Visit, Form(f): Form<ExportForm>) -> Response {
    let pupil = f.pupil.trim().to_string();
    let (st, lang, s) = admit!(for_pupil(v, &f.csrf, "export_pupil", &f.school, &pupil).await);
    let req = api::ExportRequest {
        requested_on: Some(f.requested_on).filter(|d| !d.trim().is_empty()),
        format: None,
    };
    match api::export_response(&st, &f.school, &pupil, req).await {
        Ok(mut r) => {
            // A download, named by the pupil id (its safe characters only).
            let name: String = pupil
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if let Ok(v) = header::HeaderValue::from_str(&format!(
                "attachment; filename=\"inzage-{name}.pdf\""
            )) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => failed(lang, Some(&s), e),
    }
}

/// Every field may be missing from the post (then empty).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct EraseForm {
    csrf: String,
    school: String,
    pupil: String,
    /// The pupil id typed again (the second step); absent on the first.
    confirm: Option<String>,
}

pub(super) async fn erase_post(v: Visit, Form(f): Form<EraseForm>) -> Response {
    let pupil = f.pupil.trim().to_string();
    let confirmed = f.confirm.as_deref().map(str::trim);
    // The first step only shows the confirmation; the second erases when the id typed again
    // matches (a mismatch is audited as such, and erases nothing).
    let op = match confirmed {
        None => "page_erase_confirm",
        Some(c) if !pupil.is_empty() && c == pupil => "erase_pupil",
        Some(_) => "erase_pupil_unconfirmed",
    };
    let (st, lang, s) = admit!(for_pupil(v, &f.csrf, op, &f.school, &pupil).await);
    match op {
        "page_erase_confirm" => {
            let body = format!(
                "<section id=\"erase-confirm\"><h2>{}</h2><p class=\"msg err\">{}</p>\
                 <p>{}: <strong>{}</strong> &middot; {}: <code>{}</code></p>\
                 <form method=\"post\" action=\"/privacy/erase\">{}\
                 <input type=\"hidden\" name=\"school\" value=\"{}\"><input type=\"hidden\" name=\"pupil\" value=\"{}\">\
                 <label for=\"confirm\">{}</label><input id=\"confirm\" name=\"confirm\" autocomplete=\"off\" required>\
                 <p><button class=\"danger\" id=\"erase-now\">{}</button> <a class=\"button\" href=\"/privacy\" id=\"erase-cancel\">{}</a></p>\
                 </form></section>",
                t(lang, "erase_confirm"),
                t(lang, "erase_help"),
                t(lang, "pupil"),
                esc(&pupil),
                t(lang, "school"),
                esc(&f.school),
                csrf_field(&s),
                esc(&f.school),
                esc(&pupil),
                t(lang, "erase_type"),
                t(lang, "erase_now"),
                t(lang, "cancel"),
            );
            page(lang, t(lang, "erase_confirm"), Some((&s, "privacy")), &body).into_response()
        }
        "erase_pupil" => match st.admin.erase_pupil(&f.school, &pupil).await {
            Ok(n) => {
                let msg = format!(
                    "<p class=\"msg\" id=\"erased\">{} <strong>{}</strong>: {n}</p>",
                    t(lang, "erased"),
                    esc(&pupil)
                );
                privacy_html(&st, lang, &s, Some(&f.school), &msg).await
            }
            Err(e) => failed(lang, Some(&s), e.into()),
        },
        _ => {
            let msg = format!(
                "<p class=\"msg err\" id=\"error\">{}</p>",
                t(lang, "erase_mismatch")
            );
            (
                StatusCode::BAD_REQUEST,
                privacy_html(&st, lang, &s, Some(&f.school), &msg).await,
            )
                .into_response()
        }
    }
}

/// Every field may be missing from the post (then empty).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct HoldForm {
    csrf: String,
    school: String,
    pupil: String,
    /// `hold` or `release` (the button pressed).
    action: String,
}

/// Place a legal hold on a pupil's file (a pupil the roster knows) or lift one that stands:
/// an audit row (`hold`, `release`), as `admin hold` writes.
pub(super) async fn hold_post(v: Visit, Form(f): Form<HoldForm>) -> Response {
    let pupil = f.pupil.trim().to_string();
    let hold = f.action != "release";
    let op = if hold { "hold_pupil" } else { "release_pupil" };
    let (st, lang, s) = admit!(for_pupil(v, &f.csrf, op, &f.school, &pupil).await);
    let school = f.school.clone();
    let who = pupil.clone();
    let done = st
        .admin
        .call(move |hub, now| {
            if hold {
                crate::retention::known_pupil(hub.storage(), &school, &who)?;
            } else {
                crate::retention::held(hub.storage(), &school, &who)?;
            }
            crate::retention::set_hold(hub.storage(), now, &school, &who, hold)?;
            Ok(((), vec![]))
        })
        .await;
    match done {
        Ok(()) => {
            let msg = format!(
                "<p class=\"msg\" id=\"hold-done\">{} <strong>{}</strong></p>",
                t(lang, if hold { "hold_placed" } else { "hold_lifted" }),
                esc(&pupil)
            );
            privacy_html(&st, lang, &s, Some(&f.school), &msg).await
        }
        Err(e) => failed(lang, Some(&s), e.into()),
    }
}
