//! The audit log page (privacy officer): a search of the log, and a check of its chain.

use super::Lang;
use super::layout::{failed, page};
use super::text::t;
use super::{Visit, esc, when};
use crate::admin::AuditVerification;
use crate::console::api::{self, AuditQuery};
use crate::console::{ConsoleError, ConsoleState};
use crate::storage::AdminRole;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// The page's query: a search of the log, or `verify` to check its chain.
#[derive(Debug, serde::Deserialize)]
pub(super) struct AuditPageQuery {
    #[serde(flatten)]
    search: AuditQuery,
    verify: Option<String>,
}

pub(super) async fn audit_page(v: Visit, Query(page_q): Query<AuditPageQuery>) -> Response {
    let verify = page_q.verify.is_some();
    let op = if verify { "audit_verify" } else { "page_audit" };
    let (st, lang, s) = admit!(v.for_role(AdminRole::PrivacyOfficer, op, None).await);
    let q = page_q.search;
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
    if verify {
        return match verified(&st).await {
            Ok(v) => page(
                lang,
                t(lang, "audit"),
                Some((&s, "audit")),
                &(check_section(lang, Some(&v)) + &form),
            )
            .into_response(),
            Err(e) => failed(lang, Some(&s), e),
        };
    }
    let asked = [&q.pupil, &q.staff, &q.from, &q.to]
        .iter()
        .any(|o| o.as_deref().is_some_and(|x| !x.is_empty()));
    if !asked {
        let body = form + &check_section(lang, None);
        return page(lang, t(lang, "audit"), Some((&s, "audit")), &body).into_response();
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

/// Check the log's chain (`admin audit verify`) on a storage connection of its own, beside
/// the hub: reading every row of a large log must not hold up syncing devices.
async fn verified(st: &ConsoleState) -> Result<AuditVerification, ConsoleError> {
    super::beside_hub(st, crate::admin::verify_audit).await
}

/// The check of the chain: what it is, the button, and what the last check found.
fn check_section(lang: Lang, found: Option<&AuditVerification>) -> String {
    let found = match found {
        None => String::new(),
        Some(v) if v.rows == 0 => format!(
            "<p class=\"msg\" id=\"audit-verified\">{}</p>",
            t(lang, "audit_empty")
        ),
        Some(AuditVerification {
            broken_at: Some(seq),
            rows,
            ..
        }) => format!(
            "<p class=\"msg err\" id=\"audit-broken\">{} <strong>#{seq}</strong>: {} \
             <span class=\"muted\">({rows} {})</span></p>",
            t(lang, "audit_broken"),
            t(lang, "audit_broken_help"),
            t(lang, "rows_checked"),
        ),
        Some(v) => {
            let head = v.head.as_ref().map_or(String::new(), |(seq, link)| {
                format!(
                    "<p>{} #{seq}: <code id=\"audit-head\">{}</code></p>",
                    t(lang, "audit_head"),
                    esc(link)
                )
            });
            format!(
                "<p class=\"msg\" id=\"audit-verified\">{}: <strong>{}</strong> {}{}</p>{head}",
                t(lang, "audit_intact"),
                v.rows,
                t(lang, "rows_checked"),
                if v.unlinked > 0 {
                    format!(" ({} {})", v.unlinked, t(lang, "rows_unlinked"))
                } else {
                    String::new()
                },
            )
        }
    };
    format!(
        "<section id=\"audit-check\"><h2>{}</h2>{found}<p class=\"muted\">{}</p>\
         <form method=\"get\" action=\"/audit\"><input type=\"hidden\" name=\"verify\" value=\"1\">\
         <button class=\"primary\" id=\"verify\">{}</button></form></section>",
        t(lang, "audit_check"),
        t(lang, "audit_check_help"),
        t(lang, "check_now"),
    )
}
