//! The backups page: the backups taken, and starting one.

use super::CsrfForm;
use super::layout::{failed, page};
use super::text::t;
use super::{Lang, Visit, csrf_field, esc, when};
use crate::console::api;
use crate::console::{ConsoleState, Signed};
use crate::storage::AdminRole;
use axum::extract::Form;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

async fn backups_html(st: &ConsoleState, lang: Lang, s: &Signed, msg: &str) -> Response {
    let list = match api::backup_list(st).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let start = if st.settings.console.backup_dir.is_some() {
        format!(
            "<form method=\"post\" action=\"/backups\">{}<button class=\"primary\" id=\"start-backup\">{}</button></form>",
            csrf_field(s),
            t(lang, "start_backup")
        )
    } else {
        format!(
            "<p class=\"muted\" id=\"no-backup-dir\">{}</p>",
            t(lang, "no_backup_dir")
        )
    };
    let mut rows = String::new();
    for b in list.iter().rev() {
        // The file name only: where the backup directory is, is the server's business.
        let name = std::path::Path::new(&b.path)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| b.path.clone());
        let _ = write!(
            rows,
            "<tr class=\"backup\"><td><code>{}</code></td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
            esc(&name),
            when(b.taken_at),
            t(lang, if b.present { "yes" } else { "missing" }),
            if b.erased_since > 0 {
                " class=\"err\""
            } else {
                ""
            },
            b.erased_since,
        );
    }
    let table = if list.is_empty() {
        format!(
            "<p class=\"muted\" id=\"no-backups\">{}</p>",
            t(lang, "no_backups")
        )
    } else {
        format!(
            "<div class=\"scroll\"><table id=\"backups\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table></div>\
             <p class=\"muted\">{}</p>",
            t(lang, "file"),
            t(lang, "taken_at"),
            t(lang, "present"),
            t(lang, "erased_since"),
            t(lang, "erased_since_help"),
        )
    };
    let body = format!(
        "{msg}<section><h2>{}</h2>{start}</section><section>{table}</section>",
        t(lang, "backups")
    );
    page(lang, t(lang, "backups"), Some((s, "backups")), &body).into_response()
}

pub(super) async fn backups_page(v: Visit) -> Response {
    let (st, lang, s) = admit!(v.for_role(AdminRole::ItAdmin, "page_backups", None).await);
    backups_html(&st, lang, &s, "").await
}

pub(super) async fn backup_post(v: Visit, Form(f): Form<CsrfForm>) -> Response {
    let (st, lang, s) = admit!(
        v.for_form(&f.csrf, AdminRole::ItAdmin, "backup", None, None)
            .await
    );
    match api::take_backup(&st).await {
        Ok(b) => {
            let msg = format!(
                "<p class=\"msg\" id=\"backup-done\">{}: {} {}, {} {}</p>",
                t(lang, "backup_done"),
                b.documents,
                t(lang, "documents"),
                b.bytes,
                t(lang, "bytes")
            );
            backups_html(&st, lang, &s, &msg).await
        }
        Err(e) => failed(lang, Some(&s), e),
    }
}
