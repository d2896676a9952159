//! The devices page: every device with its last connection, and revoking one.

use super::CsrfForm;
use super::layout::{failed, page};
use super::text::t;
use super::{Lang, Visit, check_csrf, csrf_field, esc, when};
use crate::console::api;
use crate::storage::AdminRole;
use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use std::fmt::Write;

pub(super) async fn devices_page(v: Visit) -> Response {
    let (st, lang, s) = admit!(v.for_role(AdminRole::ItAdmin, "page_devices", None).await);
    let list = match api::device_list(&st).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(&s), e),
    };
    let mut rows = String::new();
    let now = api::now_ms();
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
             <td>{}{}</td><td class=\"status\">{}</td><td>{}</td></tr>",
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
            outbox_cell(lang, d.outbox.as_ref(), now),
            esc(&status),
            action
        );
    }
    let body = format!(
        "<section><h2>{}</h2><div class=\"scroll\"><table id=\"devices\"><tr><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}<br><span class=\"muted\">{}</span></th><th>{}</th><th></th></tr>{rows}</table></div>\
         <p class=\"muted\">{}</p></section>",
        t(lang, "devices"),
        t(lang, "device"),
        t(lang, "school"),
        t(lang, "user"),
        t(lang, "label"),
        t(lang, "enrolled"),
        t(lang, "last_sync"),
        t(lang, "outbox"),
        t(lang, "status"),
        t(lang, "outbox_note"),
    );
    page(lang, t(lang, "devices"), Some((&s, "devices")), &body).into_response()
}

pub(super) async fn revoke_post(
    v: Visit,
    Path(device): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (st, lang, s) = admit!(v.for_role(AdminRole::ItAdmin, "revoke", None).await);
    if let Err(e) = check_csrf(&s, &f.csrf) {
        return failed(lang, Some(&s), e);
    }
    match st.admin.revoke_device(&device).await {
        Ok(()) => Redirect::to("/devices").into_response(),
        Err(e) => failed(lang, Some(&s), e.into()),
    }
}

/// How long `ms` is, roughly, in the largest whole unit ("2 dagen", "5 hours", "3 min").
pub(super) fn duration(lang: Lang, ms: i64) -> String {
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    let ms = ms.max(0);
    let (n, one, many) = if ms >= DAY {
        (ms / DAY, "day", "days")
    } else if ms >= HOUR {
        (ms / HOUR, "hour", "hours")
    } else {
        (ms / MIN, "minutes", "minutes")
    };
    format!("{n} {}", t(lang, if n == 1 { one } else { many }))
}

/// A device's reported outbox, shown under its last sync: "alles verstuurd", "3 wachtend,
/// oudste 2 dagen", "1 niet geaccepteerd" (when it was reported in its title: "bij laatste
/// sync").
pub(super) fn outbox_cell(lang: Lang, outbox: Option<&api::OutboxInfo>, now: i64) -> String {
    let Some(o) = outbox else {
        return format!(
            "<div class=\"outbox muted\">{}</div>",
            t(lang, "outbox_not_reported")
        );
    };
    let mut parts = vec![];
    if o.pending > 0 {
        let mut p = format!("{} {}", o.pending, t(lang, "waiting"));
        if let Some(at) = o.oldest_pending_at {
            let _ = write!(p, ", {} {}", t(lang, "oldest"), duration(lang, now - at));
        }
        parts.push(p);
    }
    if o.not_accepted > 0 {
        parts.push(format!("{} {}", o.not_accepted, t(lang, "not_accepted")));
    }
    if parts.is_empty() {
        parts.push(t(lang, "all_sent").to_string());
    }
    let class = if o.pending > 0 || o.not_accepted > 0 {
        "outbox waiting"
    } else {
        "outbox"
    };
    format!(
        "<div class=\"{class}\" title=\"{} ({})\">{}</div>",
        t(lang, "at_last_sync"),
        when(o.reported_at),
        esc(&parts.join("; ")),
    )
}
