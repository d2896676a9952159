//! The schools and health page.

use super::layout::{failed, page};
use super::text::t;
use super::{Visit, esc, when};
use crate::console::api;
use crate::storage::AdminRole;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

pub(super) async fn schools_page(v: Visit) -> Response {
    // Any role, as GET /api/health and GET /api/schools (staff for the IT admin only).
    let (st, lang, s) = admit!(v.signed_in());
    let it_admin = s.session.role == AdminRole::ItAdmin;
    let health = match api::health_info(&st).await {
        Ok(h) => h,
        Err(e) => return failed(lang, Some(&s), e),
    };
    let schools = match api::list_schools(&st, it_admin).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(&s), e),
    };
    st.audit(Some(&s.session.name), "page_schools", None, None)
        .await;
    // A row of the health table: its label's text, the cell's attributes, its value.
    let row = |key: &str, attrs: &str, value: String| {
        format!("<tr><th>{}</th><td{attrs}>{value}</td></tr>", t(lang, key))
    };
    let mut body = format!(
        "<section id=\"health\"><h2>{}</h2><p class=\"msg\" id=\"health-status\">{} ({})</p>\
         <table>{}{}{}</table></section>",
        t(lang, "health"),
        t(lang, "health_ok"),
        esc(&health.status),
        row("storage", " id=\"health-storage\"", esc(&health.storage)),
        row("catalog_seq", "", health.catalog_seq.to_string()),
        row(
            "active_devices",
            " id=\"health-devices\"",
            health.active_devices.to_string()
        ),
    );
    let _ = write!(body, "<section><h2>{}</h2>", t(lang, "schools"));
    if schools.is_empty() {
        let _ = write!(body, "<p class=\"muted\">{}</p>", t(lang, "no_schools"));
    } else {
        let _ = write!(
            body,
            "<div class=\"scroll\"><table id=\"schools\"><tr><th>{}</th><th>{}</th><th>{}</th>{}</tr>",
            t(lang, "school_id"),
            t(lang, "name"),
            t(lang, "created"),
            if it_admin {
                format!("<th>{}</th><th></th>", t(lang, "staff_count"))
            } else {
                String::new()
            }
        );
        for sc in &schools {
            let _ = write!(
                body,
                "<tr id=\"school-{}\"><td><code>{}</code></td><td>{}</td><td>{}</td>",
                esc(&sc.id),
                esc(&sc.id),
                esc(&sc.name),
                when(sc.created_at)
            );
            if it_admin {
                let _ = write!(
                    body,
                    "<td>{}</td><td><a class=\"button\" href=\"/settings?school={}\">{}</a></td>",
                    sc.staff.len(),
                    esc(&sc.id),
                    t(lang, "settings")
                );
            }
            body.push_str("</tr>");
        }
        body.push_str("</table></div>");
    }
    body.push_str("</section>");
    page(lang, t(lang, "schools"), Some((&s, "schools")), &body).into_response()
}
