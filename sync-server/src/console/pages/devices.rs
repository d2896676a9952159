//! The devices page: every device with its last connection, and revoking one.

use super::CsrfForm;
use super::layout::{failed, page};
use super::text::t;
use super::{check_csrf, csrf_field, esc, for_role, lang, when};
use crate::console::api;
use crate::console::{ConsoleError, ConsoleState, Signed};
use crate::storage::AdminRole;
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use std::fmt::Write;

pub(super) async fn devices_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(&st, lang, signed, AdminRole::ItAdmin, "page_devices", None).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let list = match api::device_list(&st).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(&s), e),
    };
    let mut rows = String::new();
    for d in &list {
        let status = match d.revoked_at {
            Some(at) => format!("{} {}", t(lang, "revoked"), when(at)),
            None => t(lang, "active").to_string(),
        };
        let action = if d.revoked_at.is_none() {
            format!(
                "<form method=\"post\" action=\"/devices/{}/revoke\">{}\
                 <button class=\"danger\" id=\"revoke-{}\">{}</button></form>",
                esc(&d.id),
                csrf_field(&s),
                esc(&d.id),
                t(lang, "revoke")
            )
        } else {
            String::new()
        };
        let _ = write!(
            rows,
            "<tr id=\"device-{}\"><td><code>{}</code></td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"status\">{}</td><td>{}</td></tr>",
            esc(&d.id),
            esc(&d.id),
            esc(&d.school),
            esc(&d.user),
            if d.pupil_session {
                format!(
                    " <span class=\"muted\">({})</span>",
                    t(lang, "pupil_session")
                )
            } else {
                String::new()
            },
            esc(&d.label),
            when(d.created_at),
            d.last_seen
                .map(when)
                .unwrap_or_else(|| t(lang, "never").into()),
            esc(&status),
            action
        );
    }
    let body = format!(
        "<section><h2>{}</h2><div class=\"scroll\"><table id=\"devices\"><tr><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table></div>\
         <p class=\"muted\">{}</p></section>",
        t(lang, "devices"),
        t(lang, "device"),
        t(lang, "school"),
        t(lang, "user"),
        t(lang, "label"),
        t(lang, "enrolled"),
        t(lang, "last_sync"),
        t(lang, "status"),
        t(lang, "outbox_unknown"),
    );
    page(lang, t(lang, "devices"), Some((&s, "devices")), &body).into_response()
}

pub(super) async fn revoke_post(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Path(device): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(&st, lang, signed, AdminRole::ItAdmin, "revoke", None).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = check_csrf(&s, &f.csrf) {
        return failed(lang, Some(&s), e);
    }
    match st.admin.revoke_device(&device).await {
        Ok(()) => Redirect::to("/devices").into_response(),
        Err(e) => failed(lang, Some(&s), e.into()),
    }
}
