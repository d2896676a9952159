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
    let (st, lang, s) = match v.signed_in() {
        Ok(a) => a,
        Err(r) => return r,
    };
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
    let mut body = format!(
        "<section id=\"health\"><h2>{}</h2><p class=\"msg\" id=\"health-status\">{} ({})</p>\
         <table><tr><th>{}</th><td id=\"health-storage\">{}</td></tr>\
         <tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td id=\"health-devices\">{}</td></tr></table></section>",
        t(lang, "health"),
        t(lang, "health_ok"),
        esc(&health.status),
        t(lang, "storage"),
        esc(&health.storage),
        t(lang, "catalog_seq"),
        health.catalog_seq,
        t(lang, "active_devices"),
        health.active_devices,
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
