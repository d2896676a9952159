//! The page around every screen: style sheet, header with the navigation per role, and
//! the error page.

use super::text::t;
use super::{Lang, esc};
use crate::console::{ConsoleError, Signed};
use crate::storage::AdminRole;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::fmt::Write;

const STYLE: &str = "
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2b36;background:#f4f6f8;font-size:17px}
header{background:#24527a;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;align-items:center;gap:.4rem 1rem}
header h1{font-size:1.15rem;margin:0 1rem 0 0}
header a,header button{color:#fff;text-decoration:none;padding:.55rem .7rem;border-radius:6px;min-height:44px;display:inline-flex;align-items:center}
header a.on{background:#163a59}
header form{margin:0 0 0 auto}
header button{background:#163a59;border:0;font:inherit;cursor:pointer}
main{max-width:1100px;margin:1rem auto;padding:0 1rem}
section{background:#fff;border-radius:10px;padding:1rem 1.2rem;margin-bottom:1rem;box-shadow:0 1px 3px #0002}
h2{font-size:1.25rem;margin-top:0}
label{display:block;margin:.6rem 0 .25rem;font-weight:600}
input,select,textarea{font:inherit;padding:.55rem;border:1px solid #9aa9b6;border-radius:6px;width:100%;max-width:32rem;min-height:44px}
textarea{max-width:none;min-height:12rem;font-family:ui-monospace,monospace;font-size:.9rem}
a.button{display:inline-flex;align-items:center;min-height:44px;padding:.6rem 1.2rem;border-radius:6px;background:#e7eef5;color:#163a59;font-weight:600;text-decoration:none;border:1px solid #9aa9b6}
button.primary,button.danger{font:inherit;border:0;border-radius:6px;padding:.6rem 1.2rem;min-height:44px;margin-top:.8rem;cursor:pointer;color:#fff;background:#24527a}
button.danger{background:#a3282e;margin:0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.5rem;border-bottom:1px solid #dde3e8;vertical-align:top}
.scroll{overflow-x:auto}
.msg{padding:.7rem 1rem;border-radius:6px;background:#e8f3e8;border:1px solid #8bc18b}
.err{background:#fbe9e9;border-color:#d98b8b}
.muted{color:#5b6b78;font-size:.9rem}
.outbox{font-size:.9rem}
.outbox.waiting{color:#8a4b00;font-weight:600}
.qr{background:#fff;display:inline-block;padding:.5rem}
.qr svg{width:300px;height:300px}
code.big{font-size:1.4rem;letter-spacing:.08em}
#devices code{font-size:.8rem;word-break:break-all}
.lang{margin-left:.5rem}
";

pub(super) fn page(
    lang: Lang,
    title: &str,
    nav: Option<(&Signed, &str)>,
    body: &str,
) -> Html<String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} - {}</title><style>{STYLE}</style></head><body><header><h1>{}</h1>",
        if lang == Lang::En { "en" } else { "nl" },
        esc(title),
        t(lang, "title"),
        t(lang, "title"),
    );
    if let Some((signed, on)) = nav {
        let items: &[(&str, &str)] = match signed.session.role {
            AdminRole::ItAdmin => &[
                ("/schools", "schools"),
                ("/roster", "roster"),
                ("/enroll", "enroll"),
                ("/devices", "devices"),
                ("/settings", "settings"),
                ("/backups", "backups"),
                ("/activity", "activity"),
            ],
            AdminRole::PrivacyOfficer => &[
                ("/schools", "schools"),
                ("/audit", "audit"),
                ("/privacy", "privacy"),
            ],
        };
        for (href, key) in items {
            let _ = write!(
                h,
                "<a href=\"{href}\" id=\"nav-{key}\"{}>{}</a>",
                if *key == on { " class=\"on\"" } else { "" },
                t(lang, key)
            );
        }
        let _ = write!(
            h,
            "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button id=\"sign-out\">{} ({})</button></form>",
            esc(&signed.session.csrf),
            t(lang, "sign_out"),
            esc(&signed.session.name)
        );
    }
    let _ = write!(
        h,
        "<span class=\"lang\"><a href=\"/lang/nl\">NL</a> <a href=\"/lang/en\" id=\"lang-en\">EN</a></span>\
         </header><main>{body}</main></body></html>"
    );
    Html(h)
}

/// What a page answers when something failed: sign-in for no session, a message else.
pub(super) fn failed(lang: Lang, signed: Option<&Signed>, e: ConsoleError) -> Response {
    match e {
        ConsoleError::Unauthorized => Redirect::to("/login").into_response(),
        e => {
            let (status, msg) = e.parts();
            let msg = match e {
                ConsoleError::Forbidden => t(lang, "forbidden").to_string(),
                ConsoleError::Csrf => t(lang, "csrf").to_string(),
                _ => msg,
            };
            let body = format!(
                "<section><h2>{}</h2><p class=\"msg err\" id=\"error\">{}</p></section>",
                t(lang, "error"),
                esc(&msg)
            );
            (
                status,
                page(lang, t(lang, "error"), signed.map(|s| (s, "")), &body),
            )
                .into_response()
        }
    }
}
