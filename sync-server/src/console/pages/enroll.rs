//! The enrollment page: a one-time code with its QR code.

use super::layout::{failed, page};
use super::text::t;
use super::{Lang, Visit, check_csrf, csrf_field, esc, when};
use crate::console::api;
use crate::console::{ConsoleError, Signed};
use crate::storage::AdminRole;
use axum::extract::Form;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write;

fn enroll_form(lang: Lang, s: &Signed, schools: &[api::SchoolInfo], result: &str) -> Html<String> {
    let mut staff = String::new();
    for sc in schools {
        let _ = write!(staff, "<optgroup label=\"{}\">", esc(&sc.name));
        for (id, name) in &sc.staff {
            let _ = write!(
                staff,
                "<option value=\"{}|{}\">{} ({})</option>",
                esc(&sc.id),
                esc(id),
                esc(name),
                esc(id)
            );
        }
        staff.push_str("</optgroup>");
    }
    let body = format!(
        "{result}<section><h2>{}</h2><form method=\"post\" action=\"/enroll\">{}\
         <label for=\"staff\">{}</label><select id=\"staff\" name=\"staff\">{staff}</select>\
         <button class=\"primary\" id=\"make-qr\">{}</button></form></section>",
        t(lang, "enroll"),
        csrf_field(s),
        t(lang, "staff"),
        t(lang, "make_qr"),
    );
    page(lang, t(lang, "enroll"), Some((s, "enroll")), &body)
}

pub(super) async fn enroll_page(v: Visit) -> Response {
    let (st, lang, s) = admit!(v.for_role(AdminRole::ItAdmin, "page_enroll", None).await);
    match api::list_schools(&st, true).await {
        Ok(schools) => enroll_form(lang, &s, &schools, "").into_response(),
        Err(e) => failed(lang, Some(&s), e),
    }
}

#[derive(Deserialize)]
pub(super) struct EnrollForm {
    #[serde(default)]
    csrf: String,
    staff: String,
}

pub(super) async fn enroll_post(v: Visit, Form(f): Form<EnrollForm>) -> Response {
    let (st, lang, s) = admit!(
        v.for_role(
            AdminRole::ItAdmin,
            "enrollment",
            f.staff.split_once('|').map(|x| x.0),
        )
        .await
    );
    if let Err(e) = check_csrf(&s, &f.csrf) {
        return failed(lang, Some(&s), e);
    }
    let Some((school, user)) = f.staff.split_once('|') else {
        return failed(
            lang,
            Some(&s),
            ConsoleError::Invalid("choose a staff member".into()),
        );
    };
    let issued = match st.admin.issue_code(school, user).await {
        Ok(code) => api::issue_enrollment(&st, user, code, api::now_ms()),
        Err(e) => Err(e.into()),
    };
    let e = match issued {
        Ok(e) => e,
        Err(e) => return failed(lang, Some(&s), e),
    };
    let schools = match api::list_schools(&st, true).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(&s), e),
    };
    let name = schools
        .iter()
        .find(|sc| sc.id == school)
        .and_then(|sc| sc.staff.get(user))
        .cloned()
        .unwrap_or_else(|| user.to_string());
    let result = format!(
        "<section id=\"enrollment\"><h2>{}</h2><p>{} <strong>{}</strong>.</p>\
         <div class=\"qr\" id=\"qr\">{}</div><p>{}: <code class=\"big\" id=\"code\">{}</code></p>\
         <p class=\"muted\">{}: {}</p></section>",
        t(lang, "enroll"),
        t(lang, "scan"),
        esc(&name),
        // Our own SVG from the qrcode crate: no user text inside but the payload's, which
        // the crate encodes as modules.
        strip_xml_prolog(&e.qr_svg),
        t(lang, "code"),
        esc(&e.code),
        t(lang, "valid_until"),
        when(e.expires_at),
    );
    enroll_form(lang, &s, &schools, &result).into_response()
}

fn strip_xml_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}
