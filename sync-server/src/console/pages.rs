//! The console's web pages: server-rendered HTML with its stylesheet inline, no JavaScript
//! and nothing loaded from elsewhere; Dutch, with English a click away (a cookie); large
//! touch targets for a tablet. Each page calls the same functions as the JSON API
//! ([`super::api`]) and is audited like it; forms carry the session's CSRF token.

use super::api::{self, AuditQuery};
use super::{ConsoleError, ConsoleState, LANG_COOKIE, Peer, SESSION_COOKIE, Signed, cookie};
use crate::admin::RosterPreview;
use crate::storage::AdminRole;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::fmt::Write;

/// The pages' routes.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/oidc/login", get(oidc_login))
        .route("/oidc/callback", get(oidc_callback))
        .route("/logout", post(logout))
        .route("/lang/{lang}", get(set_lang))
        .route("/roster", get(roster_page).post(roster_post))
        .route("/devices", get(devices_page))
        .route("/devices/{device}/revoke", post(revoke_post))
        .route("/enroll", get(enroll_page).post(enroll_post))
        .route("/activity", get(activity_page))
        .route("/audit", get(audit_page))
}

/// The pages' language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Dutch (the default).
    Nl,
    /// English.
    En,
}

fn lang(headers: &HeaderMap) -> Lang {
    match cookie(headers, LANG_COOKIE).as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Nl,
    }
}

/// The text of `key` in `lang`.
fn t(lang: Lang, key: &str) -> &'static str {
    let (nl, en) = match key {
        "title" => ("Omkijken beheer", "Omkijken admin"),
        "sign_in" => ("Inloggen", "Sign in"),
        "name" => ("Naam", "Name"),
        "password" => ("Wachtwoord", "Password"),
        "bad_login" => ("Naam of wachtwoord onjuist.", "Wrong name or password."),
        "throttled" => (
            "Te veel mislukte pogingen. Probeer het later opnieuw.",
            "Too many failed attempts. Try again later.",
        ),
        "sign_out" => ("Uitloggen", "Sign out"),
        "sign_in_oidc" => (
            "Inloggen met je schoolaccount",
            "Sign in with your school account",
        ),
        "bad_oidc" => (
            "Inloggen via het schoolaccount is niet gelukt.",
            "Signing in with the school account failed.",
        ),
        "no_account" => (
            "Dit schoolaccount heeft geen beheerdersaccount in Omkijken.",
            "This school account has no admin account in Omkijken.",
        ),
        "roster" => ("Leerlingen en personeel", "Roster"),
        "devices" => ("Apparaten", "Devices"),
        "enroll" => ("Apparaat koppelen", "Enroll a device"),
        "activity" => ("Activiteit", "Activity"),
        "audit" => ("Auditlog", "Audit log"),
        "school" => ("School", "School"),
        "csv" => ("Roosterbestand (CSV)", "Roster file (CSV)"),
        "preview" => ("Bekijk wijzigingen", "Preview changes"),
        "import" => ("Importeren", "Import"),
        "imported" => ("Het rooster is geïmporteerd.", "The roster was imported."),
        "no_changes" => ("Geen wijzigingen.", "No changes."),
        "added" => ("Nieuwe leerlingen", "Pupils added"),
        "left" => ("Vertrokken leerlingen", "Pupils who left"),
        "moved" => ("Naar een andere groep", "Moved to another group"),
        "mentors" => ("Mentor gewijzigd", "Mentors changed"),
        "care_opened" => ("Zorgtraject geopend", "Care track opened"),
        "care_closed" => ("Zorgtraject gesloten", "Care track closed"),
        "staff_added" => ("Nieuw personeel", "Staff added"),
        "staff_left" => ("Vertrokken personeel", "Staff who left"),
        "pupil" => ("Leerling", "Pupil"),
        "group" => ("Groep", "Group"),
        "from" => ("Van", "From"),
        "to" => ("Tot en met", "To"),
        "before" => ("Voor", "Before"),
        "after" => ("Na", "After"),
        "device" => ("Apparaat", "Device"),
        "user" => ("Gebruiker", "User"),
        "label" => ("Omschrijving", "Label"),
        "enrolled" => ("Gekoppeld", "Enrolled"),
        "last_sync" => ("Laatst gesynchroniseerd", "Last sync"),
        "outbox_unknown" => (
            "Wat op een apparaat nog wacht om verstuurd te worden, weet alleen het apparaat zelf; \
             de laatste synchronisatie zegt of het bijblijft.",
            "What waits on a device to be sent is known to the device alone; the last sync \
             tells whether it keeps up.",
        ),
        "status" => ("Status", "Status"),
        "active" => ("actief", "active"),
        "revoked" => ("ingetrokken", "revoked"),
        "revoke" => ("Intrekken", "Revoke"),
        "never" => ("nog niet", "not yet"),
        "pupil_session" => ("leerlingmodus", "pupil mode"),
        "staff" => ("Medewerker", "Staff member"),
        "make_qr" => ("Maak QR-code", "Make QR code"),
        "scan" => (
            "Scan deze code met de Omkijken-app op het apparaat van",
            "Scan this code with the Omkijken app on the device of",
        ),
        "code" => ("Koppelcode (eenmalig)", "Enrollment code (one time)"),
        "valid_until" => ("Geldig tot", "Valid until"),
        "chart" => (
            "Wijzigingen die apparaten stuurden of kregen, en weigeringen, per dag (uit de auditlog)",
            "Changes devices sent or received, and refusals, per day (from the audit log)",
        ),
        "syncs" => (
            "wijzigingen ontvangen en afgeleverd",
            "changes received and delivered",
        ),
        "refusals" => ("weigeringen", "refusals"),
        "search" => ("Zoeken", "Search"),
        "when" => ("Wanneer", "When"),
        "action" => ("Actie", "Action"),
        "document" => ("Document", "Document"),
        "kind" => ("Soort", "Kind"),
        "rows" => ("regels", "rows"),
        "forbidden" => ("Uw rol mag dit niet.", "Your role may not do this."),
        "error" => ("Er ging iets mis", "Something went wrong"),
        "csrf" => (
            "Dit formulier is verlopen of kwam niet van deze pagina. Laad de pagina opnieuw.",
            "This form expired or did not come from this page. Reload the page.",
        ),
        _ => ("?", "?"),
    };
    match lang {
        Lang::Nl => nl,
        Lang::En => en,
    }
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn when(ms: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

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
.qr{background:#fff;display:inline-block;padding:.5rem}
.qr svg{width:300px;height:300px}
code.big{font-size:1.4rem;letter-spacing:.08em}
#devices code{font-size:.8rem;word-break:break-all}
.lang{margin-left:.5rem}
";

fn page(lang: Lang, title: &str, nav: Option<(&Signed, &str)>, body: &str) -> Html<String> {
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
                ("/roster", "roster"),
                ("/enroll", "enroll"),
                ("/devices", "devices"),
                ("/activity", "activity"),
            ],
            AdminRole::PrivacyOfficer => &[("/audit", "audit")],
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
fn failed(lang: Lang, signed: Option<&Signed>, e: ConsoleError) -> Response {
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

fn check_csrf(signed: &Signed, sent: &str) -> Result<(), ConsoleError> {
    if super::constant_time_eq(sent.as_bytes(), signed.session.csrf.as_bytes()) {
        Ok(())
    } else {
        Err(ConsoleError::Csrf)
    }
}

fn csrf_field(signed: &Signed) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&signed.session.csrf)
    )
}

// ------------------------------------------------------------------------ sign-in

async fn home(signed: Result<Signed, ConsoleError>) -> Redirect {
    match signed {
        Ok(s) if s.session.role == AdminRole::PrivacyOfficer => Redirect::to("/audit"),
        Ok(_) => Redirect::to("/devices"),
        Err(_) => Redirect::to("/login"),
    }
}

fn login_form(lang: Lang, error: Option<&str>, oidc: bool) -> Html<String> {
    let err = error
        .map(|e| format!("<p class=\"msg err\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let oidc = if oidc {
        format!(
            "<p><a class=\"button\" href=\"/oidc/login\" id=\"sign-in-oidc\">{}</a></p>",
            t(lang, "sign_in_oidc")
        )
    } else {
        String::new()
    };
    page(
        lang,
        t(lang, "sign_in"),
        None,
        &format!(
            "<section><h2>{}</h2>{err}{oidc}<form method=\"post\" action=\"/login\">\
             <label for=\"name\">{}</label><input id=\"name\" name=\"name\" autocomplete=\"username\" required>\
             <label for=\"password\">{}</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button class=\"primary\" id=\"sign-in\">{}</button></form></section>",
            t(lang, "sign_in"),
            t(lang, "name"),
            t(lang, "password"),
            t(lang, "sign_in")
        ),
    )
}

async fn login_page(State(st): State<ConsoleState>, headers: HeaderMap) -> Html<String> {
    login_form(lang(&headers), None, st.settings.console.oidc.is_some())
}

async fn oidc_login(State(st): State<ConsoleState>, headers: HeaderMap) -> Response {
    match st.oidc_start().await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => failed(lang(&headers), None, e),
    }
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

async fn oidc_callback(
    State(st): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let lang = lang(&headers);
    let oidc = st.settings.console.oidc.is_some();
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return (
            StatusCode::UNAUTHORIZED,
            login_form(lang, Some(t(lang, "bad_oidc")), oidc),
        )
            .into_response();
    };
    match st.oidc_finish(&code, &state).await {
        // Not a redirect: this response ends a chain of redirects that began at the
        // identity provider, another site, so a redirect to "/" would go without the
        // SameSite=Strict cookie. A page of our own that moves on is same-site.
        Ok((token, _)) => (
            [(header::SET_COOKIE, st.session_cookie(&token))],
            Html(format!(
                "<!doctype html><html><head><meta charset=\"utf-8\">\
                 <meta http-equiv=\"refresh\" content=\"0;url=/\"></head>\
                 <body><a href=\"/\">{}</a></body></html>",
                t(lang, "title")
            )),
        )
            .into_response(),
        Err(ConsoleError::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            login_form(lang, Some(t(lang, "bad_oidc")), oidc),
        )
            .into_response(),
        Err(ConsoleError::Forbidden) => (
            StatusCode::FORBIDDEN,
            login_form(lang, Some(t(lang, "no_account")), oidc),
        )
            .into_response(),
        Err(e) => failed(lang, None, e),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(
    State(st): State<ConsoleState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang(&headers);
    let oidc = st.settings.console.oidc.is_some();
    match st.sign_in(&f.name, &f.password, peer).await {
        Ok((token, _)) => (
            [(header::SET_COOKIE, st.session_cookie(&token))],
            Redirect::to("/"),
        )
            .into_response(),
        Err(ConsoleError::Throttled(_)) => (
            StatusCode::TOO_MANY_REQUESTS,
            login_form(lang, Some(t(lang, "throttled")), oidc),
        )
            .into_response(),
        Err(ConsoleError::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            login_form(lang, Some(t(lang, "bad_login")), oidc),
        )
            .into_response(),
        Err(e) => failed(lang, None, e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let lang = lang(&headers);
    let signed = match signed {
        Ok(s) => s,
        Err(e) => return failed(lang, None, e),
    };
    if let Err(e) = check_csrf(&signed, &f.csrf) {
        return failed(lang, Some(&signed), e);
    }
    st.sign_out(&signed.token);
    st.audit(Some(&signed.session.name), "sign_out", None, None)
        .await;
    (
        [(
            header::SET_COOKIE,
            format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

async fn set_lang(Path(l): Path<String>) -> Response {
    let l = if l == "en" { "en" } else { "nl" };
    (
        [(
            header::SET_COOKIE,
            format!("{LANG_COOKIE}={l}; Path=/; SameSite=Strict; Max-Age=31536000"),
        )],
        Redirect::to("/"),
    )
        .into_response()
}

/// A page for one role: the signed-in admin (the view of page `op` audited), or the
/// answer to give instead (a refusal audited too).
async fn for_role(
    st: &ConsoleState,
    lang: Lang,
    signed: Result<Signed, ConsoleError>,
    role: AdminRole,
    op: &str,
    school: Option<&str>,
) -> Result<Signed, Response> {
    let s = signed.map_err(|e| failed(lang, None, e))?;
    st.authorize(&s.session, role, op, school, None)
        .await
        .map_err(|e| failed(lang, Some(&s), e))?;
    Ok(s)
}

fn school_options(schools: &[api::SchoolInfo], chosen: Option<&str>) -> String {
    schools
        .iter()
        .map(|s| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                esc(&s.id),
                if chosen == Some(s.id.as_str()) {
                    " selected"
                } else {
                    ""
                },
                esc(&s.name)
            )
        })
        .collect()
}

// ------------------------------------------------------------------------ roster

async fn roster_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(&st, lang, signed, AdminRole::ItAdmin, "page_roster", None).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match api::list_schools(&st, false).await {
        Ok(schools) => roster_form(lang, &s, &schools, None, "", None).into_response(),
        Err(e) => failed(lang, Some(&s), e),
    }
}

fn roster_form(
    lang: Lang,
    s: &Signed,
    schools: &[api::SchoolInfo],
    school: Option<&str>,
    csv: &str,
    result: Option<String>,
) -> Html<String> {
    let body = format!(
        "{}<section><h2>{}</h2><form method=\"post\" action=\"/roster\">{}\
         <label for=\"school\">{}</label><select id=\"school\" name=\"school\">{}</select>\
         <label for=\"csv\">{}</label><textarea id=\"csv\" name=\"csv\" spellcheck=\"false\">{}</textarea>\
         <p class=\"muted\">type,id,name,group,age_band,in_care,roles,mentors,teaches</p>\
         <button class=\"primary\" name=\"step\" value=\"preview\" id=\"preview\">{}</button></form></section>",
        result.unwrap_or_default(),
        t(lang, "roster"),
        csrf_field(s),
        t(lang, "school"),
        school_options(schools, school),
        t(lang, "csv"),
        esc(csv),
        t(lang, "preview"),
    );
    page(lang, t(lang, "roster"), Some((s, "roster")), &body)
}

fn preview_html(lang: Lang, p: &RosterPreview) -> String {
    if !p.changed {
        return format!(
            "<p class=\"msg\" id=\"no-changes\">{}</p>",
            t(lang, "no_changes")
        );
    }
    let mut h = String::new();
    let mut table = |id: &str, title: &str, head: &[&str], rows: Vec<Vec<String>>| {
        if rows.is_empty() {
            return;
        }
        let _ = write!(
            h,
            "<h3>{} ({})</h3><div class=\"scroll\"><table id=\"{id}\"><tr>",
            esc(title),
            rows.len()
        );
        for c in head {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr>");
        for r in rows {
            h.push_str("<tr>");
            for c in r {
                let _ = write!(h, "<td>{}</td>", esc(&c));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table></div>");
    };
    let pupil_rows = |v: &[crate::admin::PreviewPupil]| {
        v.iter()
            .map(|p| vec![p.id.clone(), p.name.clone(), p.group.clone()])
            .collect::<Vec<_>>()
    };
    let (pu, gr, be, af) = (
        t(lang, "pupil"),
        t(lang, "group"),
        t(lang, "before"),
        t(lang, "after"),
    );
    table(
        "added",
        t(lang, "added"),
        &["id", pu, gr],
        pupil_rows(&p.pupils_added),
    );
    table(
        "left",
        t(lang, "left"),
        &["id", pu, gr],
        pupil_rows(&p.pupils_left),
    );
    table(
        "moved",
        t(lang, "moved"),
        &["id", pu, be, af],
        p.pupils_moved
            .iter()
            .map(|m| vec![m.id.clone(), m.name.clone(), m.from.clone(), m.to.clone()])
            .collect(),
    );
    table(
        "mentors",
        t(lang, "mentors"),
        &["id", pu, be, af],
        p.mentors_changed
            .iter()
            .map(|m| {
                vec![
                    m.id.clone(),
                    m.name.clone(),
                    m.before.join(", "),
                    m.after.join(", "),
                ]
            })
            .collect(),
    );
    table(
        "care-opened",
        t(lang, "care_opened"),
        &["id"],
        p.care_opened.iter().map(|i| vec![i.clone()]).collect(),
    );
    table(
        "care-closed",
        t(lang, "care_closed"),
        &["id"],
        p.care_closed.iter().map(|i| vec![i.clone()]).collect(),
    );
    let staff_rows = |v: &[crate::admin::PreviewStaff]| {
        v.iter()
            .map(|s| vec![s.id.clone(), s.name.clone()])
            .collect::<Vec<_>>()
    };
    let n = t(lang, "name");
    table(
        "staff-added",
        t(lang, "staff_added"),
        &["id", n],
        staff_rows(&p.staff_added),
    );
    table(
        "staff-left",
        t(lang, "staff_left"),
        &["id", n],
        staff_rows(&p.staff_left),
    );
    h
}

#[derive(Deserialize)]
struct RosterForm {
    #[serde(default)]
    csrf: String,
    school: String,
    csv: String,
    step: String,
}

async fn roster_post(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Form(f): Form<RosterForm>,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(
        &st,
        lang,
        signed,
        AdminRole::ItAdmin,
        if f.step == "import" {
            "import_roster"
        } else {
            "roster_preview"
        },
        Some(&f.school),
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = check_csrf(&s, &f.csrf) {
        return failed(lang, Some(&s), e);
    }
    let schools = match api::list_schools(&st, false).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(&s), e),
    };
    if f.step == "import" {
        return match api::import(&st, &f.school, f.csv.clone()).await {
            Ok(r) => {
                let result = format!(
                    "<section><p class=\"msg\" id=\"imported\">{} {} / {} / {}</p>{}</section>",
                    t(lang, "imported"),
                    r.import.pupils,
                    r.import.staff,
                    r.import.groups,
                    preview_html(lang, &r.preview)
                );
                roster_form(lang, &s, &schools, Some(&f.school), "", Some(result)).into_response()
            }
            Err(e) => failed(lang, Some(&s), e),
        };
    }
    match api::preview(&st, &f.school, f.csv.clone()).await {
        Ok(p) => {
            let import = if p.changed {
                format!(
                    "<form method=\"post\" action=\"/roster\">{}\
                     <input type=\"hidden\" name=\"school\" value=\"{}\">\
                     <textarea name=\"csv\" hidden>{}</textarea>\
                     <button class=\"primary\" name=\"step\" value=\"import\" id=\"import\">{}</button></form>",
                    csrf_field(&s),
                    esc(&f.school),
                    esc(&f.csv),
                    t(lang, "import")
                )
            } else {
                String::new()
            };
            let result = format!(
                "<section id=\"preview-result\"><h2>{}</h2>{}{import}</section>",
                t(lang, "preview"),
                preview_html(lang, &p)
            );
            roster_form(lang, &s, &schools, Some(&f.school), &f.csv, Some(result)).into_response()
        }
        Err(e) => failed(lang, Some(&s), e),
    }
}

// ------------------------------------------------------------------------ devices

async fn devices_page(
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

async fn revoke_post(
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

// ------------------------------------------------------------------------ enroll

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

async fn enroll_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(&st, lang, signed, AdminRole::ItAdmin, "page_enroll", None).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match api::list_schools(&st, true).await {
        Ok(schools) => enroll_form(lang, &s, &schools, "").into_response(),
        Err(e) => failed(lang, Some(&s), e),
    }
}

#[derive(Deserialize)]
struct EnrollForm {
    #[serde(default)]
    csrf: String,
    staff: String,
}

async fn enroll_post(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Form(f): Form<EnrollForm>,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(
        &st,
        lang,
        signed,
        AdminRole::ItAdmin,
        "enrollment",
        f.staff.split_once('|').map(|x| x.0),
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
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

// ------------------------------------------------------------------------ activity

/// A bar chart (SVG) of accepted changes and refusals per day.
pub fn chart_svg(lang: Lang, days: &[api::Day]) -> String {
    let (w, h, pad) = (720.0_f64, 240.0_f64, 30.0_f64);
    let max = days
        .iter()
        .map(|d| (d.writes + d.deliveries).max(d.refusals))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = days.len().max(1) as f64;
    let slot = (w - 2.0 * pad) / n;
    let bar = (slot / 2.0 - 2.0).max(2.0);
    let mut s = format!(
        "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {}\" role=\"img\" \
         aria-label=\"{}\" style=\"width:100%;max-width:{w}px;height:auto\">",
        h + 40.0,
        esc(t(lang, "chart"))
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{h}\" x2=\"{}\" y2=\"{h}\" stroke=\"#9aa9b6\"/>\
         <text x=\"{pad}\" y=\"14\" font-size=\"12\" fill=\"#5b6b78\">max {}</text>",
        w - pad,
        max as u64
    );
    for (i, d) in days.iter().enumerate() {
        let x = pad + i as f64 * slot;
        let syncs = d.writes + d.deliveries;
        let hw = (syncs as f64 / max) * (h - 30.0);
        let hr = (d.refusals as f64 / max) * (h - 30.0);
        let _ = write!(
            s,
            "<rect class=\"syncs\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{hw:.1}\" fill=\"#24527a\"><title>{} {}: {}</title></rect>\
             <rect class=\"refusals\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{hr:.1}\" fill=\"#c0392b\"><title>{} {}: {}</title></rect>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"11\" fill=\"#5b6b78\" text-anchor=\"middle\">{}</text>",
            h - hw,
            esc(&d.day),
            t(lang, "syncs"),
            syncs,
            x + bar + 2.0,
            h - hr,
            esc(&d.day),
            t(lang, "refusals"),
            d.refusals,
            x + bar,
            h + 16.0,
            esc(d.day.get(5..).unwrap_or(&d.day)),
        );
    }
    let _ = write!(
        s,
        "<rect x=\"{pad}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#24527a\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>\
         <rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#c0392b\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text></svg>",
        h + 24.0,
        pad + 16.0,
        h + 34.0,
        t(lang, "syncs"),
        pad + 300.0,
        h + 24.0,
        pad + 316.0,
        h + 34.0,
        t(lang, "refusals"),
    );
    s
}

async fn activity_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(&st, lang, signed, AdminRole::ItAdmin, "stats", None).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match api::daily_stats(&st, 14).await {
        Ok(d) => {
            let body = format!(
                "<section><h2>{}</h2><p class=\"muted\">{}</p>{}</section>",
                t(lang, "activity"),
                t(lang, "chart"),
                chart_svg(lang, &d.days)
            );
            page(lang, t(lang, "activity"), Some((&s, "activity")), &body).into_response()
        }
        Err(e) => failed(lang, Some(&s), e),
    }
}

// ------------------------------------------------------------------------ audit

async fn audit_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(
        &st,
        lang,
        signed,
        AdminRole::PrivacyOfficer,
        "page_audit",
        None,
    )
    .await
    {
        Ok(s) => s,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn every_key_the_pages_use_has_both_languages() {
        for key in [
            "title",
            "sign_in",
            "roster",
            "devices",
            "enroll",
            "activity",
            "audit",
            "preview",
            "import",
            "revoke",
            "chart",
            "syncs",
            "refusals",
            "forbidden",
            "csrf",
            "outbox_unknown",
        ] {
            assert_ne!(t(Lang::Nl, key), "?", "{key}");
            assert_ne!(t(Lang::En, key), "?", "{key}");
        }
    }

    #[test]
    fn the_chart_has_a_bar_pair_per_day() {
        let days: Vec<api::Day> = (1..=3)
            .map(|i| api::Day {
                day: format!("2026-12-0{i}"),
                writes: i * 2,
                deliveries: 0,
                refusals: i,
            })
            .collect();
        let s = chart_svg(Lang::Nl, &days);
        assert_eq!(s.matches("class=\"syncs\"").count(), 3);
        assert_eq!(s.matches("class=\"refusals\"").count(), 3);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
    }
}
