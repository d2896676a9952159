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
    let (st, lang, s) = admit!(
        v.for_role(AdminRole::PrivacyOfficer, "page_audit", None)
            .await
    );
    // A search field, named as its label's text, with what was searched for.
    let field = |name: &str, kind: &str, o: &Option<String>| {
        format!(
            "<label for=\"{name}\">{}</label><input id=\"{name}\" name=\"{name}\"{kind} value=\"{}\">",
            t(lang, name),
            esc(o.as_deref().unwrap_or_default())
        )
    };
    let date = " type=\"date\"";
    let form = format!(
        "<section><h2>{}</h2><form method=\"get\" action=\"/audit\">{}{}{}{}\
         <button class=\"primary\" id=\"search\">{}</button></form></section>",
        t(lang, "audit"),
        field("pupil", "", &q.pupil),
        field("staff", "", &q.staff),
        field("from", date, &q.from),
        field("to", date, &q.to),
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
