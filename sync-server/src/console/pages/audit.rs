//! The audit log page (privacy officer).

use super::layout::{failed, page};
use super::text::t;
use super::{Visit, esc, when};
use crate::console::api::{self, AuditQuery};
use crate::storage::AdminRole;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

pub(super) async fn audit_page(v: Visit, Query(q): Query<AuditQuery>) -> Response {
    let (st, lang, s) = match v
        .for_role(AdminRole::PrivacyOfficer, "page_audit", None)
        .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    let v = |o: &Option<String>| esc(o.as_deref().unwrap_or_default());
    let form = format!(
        "<section><h2>{}</h2><form method=\"get\" action=\"/audit\">\
         <label for=\"pupil\">{}</label><input id=\"pupil\" name=\"pupil\" value=\"{}\">\
         <label for=\"staff\">{}</label><input id=\"staff\" name=\"staff\" value=\"{}\">\
         <label for=\"from\">{}</label><input id=\"from\" name=\"from\" type=\"date\" value=\"{}\">\
         <label for=\"to\">{}</label><input id=\"to\" name=\"to\" type=\"date\" value=\"{}\">\
         <button class=\"primary\" id=\"search\">{}</button></form></section>",
        t(lang, "audit"),
        t(lang, "pupil"),
        v(&q.pupil),
        t(lang, "staff"),
        v(&q.staff),
        t(lang, "from"),
        v(&q.from),
        t(lang, "to"),
        v(&q.to),
        t(lang, "search"),
    );
    let asked = [&q.pupil, &q.staff, &q.from, &q.to]
        .iter()
        .any(|o| o.as_deref().is_some_and(|x| !x.is_empty()));
    if !asked {
        return page(lang, t(lang, "audit"), Some((&s, "audit")), &form).into_response();
    }
    let rows = match api::audit_rows(&st, &s.session.name, q).await {
        Ok(r) => r,
        Err(e) => return failed(lang, Some(&s), e),
    };
    let mut table = format!(
        "<section><h2>{} <span class=\"muted\" id=\"row-count\">({} {})</span></h2><div class=\"scroll\">\
         <table id=\"audit\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(lang, "audit"),
        rows.len(),
        t(lang, "rows"),
        t(lang, "when"),
        t(lang, "action"),
        t(lang, "user"),
        t(lang, "device"),
        t(lang, "kind"),
        t(lang, "pupil"),
        t(lang, "document"),
    );
    for r in rows.iter().rev().take(500) {
        let o = |x: &Option<String>| esc(x.as_deref().unwrap_or_default());
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            when(r.at),
            esc(&r.action),
            o(&r.user),
            o(&r.device),
            o(&r.kind),
            o(&r.pupil),
            o(&r.document),
        );
    }
    table.push_str("</table></div></section>");
    page(
        lang,
        t(lang, "audit"),
        Some((&s, "audit")),
        &(form + &table),
    )
    .into_response()
}
