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
        .route("/schools", get(schools_page))
        .route("/settings", get(settings_page))
        .route("/settings/lease", post(lease_post))
        .route("/settings/retention", post(retention_post))
        .route("/backups", get(backups_page).post(backup_post))
        .route("/privacy", get(privacy_page))
        .route("/privacy/export", post(export_post))
        .route("/privacy/erase", post(erase_post))
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
        "outbox" => ("nog te versturen", "outbox"),
        "outbox_note" => (
            "Onder de laatste sync staat wat er nog te versturen was, zoals het apparaat het bij \
             zijn laatste sync meldde: wachtend zijn wijzigingen die de server nog niet heeft; \
             niet geaccepteerd zijn wijzigingen die de server weigerde en die op het apparaat \
             voor de auteur bewaard blijven. Alleen aantallen, nooit inhoud.",
            "Under the last sync: the outbox as the device reported it at its last sync. \
             Waiting are changes the server does not have yet; not accepted are changes the \
             server refused, kept on the device for their author. Counts only, never content.",
        ),
        "outbox_not_reported" => ("niet gemeld", "not reported"),
        "all_sent" => ("alles verstuurd", "all sent"),
        "waiting" => ("wachtend", "waiting"),
        "oldest" => ("oudste", "oldest"),
        "not_accepted" => ("niet geaccepteerd", "not accepted"),
        "at_last_sync" => ("bij laatste sync", "at last sync"),
        "day" => ("dag", "day"),
        "days" => ("dagen", "days"),
        "hour" => ("uur", "hour"),
        "hours" => ("uur", "hours"),
        "minutes" => ("min", "min"),
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
        "schools" => ("Scholen", "Schools"),
        "health" => ("Status van de server", "Server health"),
        "health_ok" => ("De server werkt.", "The server is working."),
        "storage" => ("Opslag", "Storage"),
        "catalog_seq" => ("Catalogusvolgnummer", "Catalog sequence"),
        "active_devices" => ("Actieve apparaten", "Active devices"),
        "school_id" => ("Schoolcode", "School id"),
        "created" => ("Aangemaakt", "Created"),
        "staff_count" => ("Actief personeel", "Active staff"),
        "no_schools" => ("Er zijn nog geen scholen.", "There are no schools yet."),
        "settings" => ("Instellingen", "Settings"),
        "choose" => ("Kies", "Choose"),
        "lease" => ("Offline-termijn", "Offline lease"),
        "lease_days" => (
            "Dagen zonder synchronisatie (0: geen termijn)",
            "Days without a sync (0: none)",
        ),
        "lease_help" => (
            "Zo lang mag een apparaat zonder geslaagde synchronisatie; daarna gaat de app op slot. \
             Apparaten horen een nieuwe termijn bij hun volgende synchronisatie.",
            "How long a device may go without a completed sync before the app locks. Devices \
             learn a new lease at their next sync.",
        ),
        "retention" => ("Bewaartermijnen", "Retention terms"),
        "pupil_file_years" => (
            "Jaren dat het leerlingdossier bewaard blijft na vertrek",
            "Years the pupil file is kept after the pupil left",
        ),
        "incident_years" => (
            "Jaren voor signalen (leeg: als het dossier)",
            "Years for signals (empty: as the pupil file)",
        ),
        "meldcode_case_years" => (
            "Jaren voor meldcodedossiers (leeg: niet automatisch wissen)",
            "Years for meldcode cases (empty: not erased by retention)",
        ),
        "school_year_ends" => (
            "Laatste dag van het schooljaar (MM-DD)",
            "Last day of the school year (MM-DD)",
        ),
        "save" => ("Opslaan", "Save"),
        "saved" => ("Opgeslagen.", "Saved."),
        "unchanged" => (
            "Niets gewijzigd: dit was al zo.",
            "Nothing changed: it was so already.",
        ),
        "bad_number" => ("Vul een heel getal in.", "Enter a whole number."),
        "backups" => ("Back-ups", "Backups"),
        "start_backup" => ("Maak nu een back-up", "Start a backup now"),
        "backup_done" => ("Back-up gemaakt", "Backup taken"),
        "documents" => ("documenten", "documents"),
        "bytes" => ("bytes", "bytes"),
        "file" => ("Bestand", "File"),
        "taken_at" => ("Gemaakt", "Taken"),
        "present" => ("Aanwezig", "Present"),
        "missing" => ("ontbreekt", "missing"),
        "yes" => ("ja", "yes"),
        "erased_since" => ("Sindsdien gewist", "Erased since"),
        "erased_since_help" => (
            "Een back-up met documenten die sindsdien zijn gewist, hoort vernietigd te worden.",
            "A backup that holds documents erased since should be destroyed.",
        ),
        "no_backups" => ("Er zijn nog geen back-ups.", "There are no backups yet."),
        "no_backup_dir" => (
            "De server heeft geen map voor back-ups (--backup-dir): starten kan hier niet.",
            "The server has no backup directory (--backup-dir): backups cannot be started here.",
        ),
        "privacy" => ("Privacy", "Privacy"),
        "export" => ("Inzage", "Inzage export"),
        "export_help" => (
            "Het volledige dossier van een leerling als PDF, voor een inzageverzoek van ouders. \
             Het downloaden komt in de auditlog.",
            "A pupil's full file as PDF, for a parent's inzage request. The download is written \
             to the audit log.",
        ),
        "requested_on" => ("Datum van het verzoek", "Date of the request"),
        "download_pdf" => ("Download inzage (PDF)", "Download inzage (PDF)"),
        "erase" => ("Dossier wissen", "Erase a pupil's file"),
        "erase_help" => (
            "Wist alle documenten over deze leerling op de server en op alle apparaten. \
             Dit kan niet ongedaan worden gemaakt.",
            "Erases every document about this pupil on the server and on every device. \
             This cannot be undone.",
        ),
        "erase_next" => ("Verder naar bevestigen", "Continue to confirm"),
        "erase_confirm" => ("Bevestig het wissen", "Confirm the erasure"),
        "erase_type" => (
            "Typ de leerlingcode nog een keer om te bevestigen",
            "Type the pupil id again to confirm",
        ),
        "erase_now" => ("Definitief wissen", "Erase for good"),
        "cancel" => ("Annuleren", "Cancel"),
        "erase_mismatch" => (
            "De leerlingcode komt niet overeen. Er is niets gewist.",
            "The pupil id does not match. Nothing was erased.",
        ),
        "erased" => ("Gewist: documenten over", "Erased: documents about"),
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

/// How long `ms` is, roughly, in the largest whole unit ("2 dagen", "5 hours", "3 min").
fn duration(lang: Lang, ms: i64) -> String {
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
fn outbox_cell(lang: Lang, outbox: Option<&api::OutboxInfo>, now: i64) -> String {
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
.outbox{font-size:.9rem}
.outbox.waiting{color:#8a4b00;font-weight:600}
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

// ------------------------------------------------------------------------ schools and health

async fn schools_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&headers);
    // Any role, as GET /api/health and GET /api/schools (staff for the IT admin only).
    let s = match signed {
        Ok(s) => s,
        Err(e) => return failed(lang, None, e),
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

// ------------------------------------------------------------------------ settings

#[derive(Deserialize, Default)]
struct SchoolQuery {
    #[serde(default)]
    school: Option<String>,
}

fn school_chooser(lang: Lang, action: &str, schools: &[api::SchoolInfo], chosen: &str) -> String {
    format!(
        "<section><form method=\"get\" action=\"{action}\">\
         <label for=\"school\">{}</label><select id=\"school\" name=\"school\">{}</select>\
         <button class=\"primary\" id=\"choose-school\">{}</button></form></section>",
        t(lang, "school"),
        school_options(schools, Some(chosen)),
        t(lang, "choose"),
    )
}

fn opt_num(o: Option<u32>) -> String {
    o.map(|n| n.to_string()).unwrap_or_default()
}

async fn settings_html(
    st: &ConsoleState,
    lang: Lang,
    s: &Signed,
    school: Option<String>,
    msg: &str,
) -> Response {
    let schools = match api::list_schools(st, false).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let Some(school) = school
        .filter(|x| !x.is_empty())
        .or_else(|| schools.first().map(|x| x.id.clone()))
    else {
        let body = format!(
            "<section><h2>{}</h2><p class=\"muted\">{}</p></section>",
            t(lang, "settings"),
            t(lang, "no_schools")
        );
        return page(lang, t(lang, "settings"), Some((s, "settings")), &body).into_response();
    };
    let lease = match api::lease_of(st, &school).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let r = match api::retention_of(st, &school).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let sc = esc(&school);
    let body = format!(
        "{msg}{}<section id=\"lease\"><h2>{}</h2><p class=\"muted\">{}</p>\
         <form method=\"post\" action=\"/settings/lease\">{}<input type=\"hidden\" name=\"school\" value=\"{sc}\">\
         <label for=\"days\">{}</label><input id=\"days\" name=\"days\" type=\"number\" min=\"0\" inputmode=\"numeric\" value=\"{lease}\" required>\
         <button class=\"primary\" id=\"save-lease\">{}</button></form></section>\
         <section id=\"retention\"><h2>{}</h2>\
         <form method=\"post\" action=\"/settings/retention\">{}<input type=\"hidden\" name=\"school\" value=\"{sc}\">\
         <label for=\"pupil_file_years\">{}</label><input id=\"pupil_file_years\" name=\"pupil_file_years\" type=\"number\" min=\"0\" inputmode=\"numeric\" value=\"{}\" required>\
         <label for=\"incident_years\">{}</label><input id=\"incident_years\" name=\"incident_years\" type=\"number\" min=\"0\" inputmode=\"numeric\" value=\"{}\">\
         <label for=\"meldcode_case_years\">{}</label><input id=\"meldcode_case_years\" name=\"meldcode_case_years\" type=\"number\" min=\"0\" inputmode=\"numeric\" value=\"{}\">\
         <label for=\"school_year_ends\">{}</label><input id=\"school_year_ends\" name=\"school_year_ends\" pattern=\"[0-9]{{2}}-[0-9]{{2}}\" value=\"{}\" required>\
         <button class=\"primary\" id=\"save-retention\">{}</button></form></section>",
        school_chooser(lang, "/settings", &schools, &school),
        t(lang, "lease"),
        t(lang, "lease_help"),
        csrf_field(s),
        t(lang, "lease_days"),
        t(lang, "save"),
        t(lang, "retention"),
        csrf_field(s),
        t(lang, "pupil_file_years"),
        r.pupil_file_years,
        t(lang, "incident_years"),
        opt_num(r.incident_years),
        t(lang, "meldcode_case_years"),
        opt_num(r.meldcode_case_years),
        t(lang, "school_year_ends"),
        esc(&r.school_year_ends),
        t(lang, "save"),
    );
    page(lang, t(lang, "settings"), Some((s, "settings")), &body).into_response()
}

fn changed_msg(lang: Lang, changed: bool) -> String {
    format!(
        "<p class=\"msg\" id=\"saved\">{}</p>",
        t(lang, if changed { "saved" } else { "unchanged" })
    )
}

async fn settings_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Query(q): Query<SchoolQuery>,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(
        &st,
        lang,
        signed,
        AdminRole::ItAdmin,
        "page_settings",
        q.school.as_deref(),
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    settings_html(&st, lang, &s, q.school, "").await
}

#[derive(Deserialize)]
struct LeaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    school: String,
    #[serde(default)]
    days: String,
}

fn number(lang: Lang, v: &str) -> Result<u32, ConsoleError> {
    v.trim()
        .parse()
        .map_err(|_| ConsoleError::Invalid(t(lang, "bad_number").into()))
}

fn opt_number(lang: Lang, v: &str) -> Result<Option<u32>, ConsoleError> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        number(lang, v).map(Some)
    }
}

async fn lease_post(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Form(f): Form<LeaseForm>,
) -> Response {
    let lang = lang(&headers);
    let s = match for_form(
        &st,
        lang,
        signed,
        &f.csrf,
        AdminRole::ItAdmin,
        "set_lease",
        Some(&f.school),
        None,
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let days = match number(lang, &f.days) {
        Ok(d) => d,
        Err(e) => return failed(lang, Some(&s), e),
    };
    match st.admin.set_offline_lease(&f.school, days).await {
        Ok(changed) => {
            settings_html(&st, lang, &s, Some(f.school), &changed_msg(lang, changed)).await
        }
        Err(e) => failed(lang, Some(&s), e.into()),
    }
}

#[derive(Deserialize)]
struct RetentionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    school: String,
    #[serde(default)]
    pupil_file_years: String,
    #[serde(default)]
    incident_years: String,
    #[serde(default)]
    meldcode_case_years: String,
    #[serde(default)]
    school_year_ends: String,
}

fn retention_terms(
    lang: Lang,
    f: &RetentionForm,
) -> Result<crate::retention::Retention, ConsoleError> {
    Ok(crate::retention::Retention {
        pupil_file_years: number(lang, &f.pupil_file_years)?,
        incident_years: opt_number(lang, &f.incident_years)?,
        meldcode_case_years: opt_number(lang, &f.meldcode_case_years)?,
        school_year_ends: f.school_year_ends.trim().to_string(),
    })
}

async fn retention_post(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Form(f): Form<RetentionForm>,
) -> Response {
    let lang = lang(&headers);
    let s = match for_form(
        &st,
        lang,
        signed,
        &f.csrf,
        AdminRole::ItAdmin,
        "set_retention",
        Some(&f.school),
        None,
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let terms = match retention_terms(lang, &f) {
        Ok(r) => r,
        Err(e) => return failed(lang, Some(&s), e),
    };
    match api::set_retention_of(&st, &f.school, terms).await {
        Ok(changed) => {
            settings_html(&st, lang, &s, Some(f.school), &changed_msg(lang, changed)).await
        }
        Err(e) => failed(lang, Some(&s), e),
    }
}

// ------------------------------------------------------------------------ backups

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

async fn backups_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(&st, lang, signed, AdminRole::ItAdmin, "page_backups", None).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    backups_html(&st, lang, &s, "").await
}

async fn backup_post(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let lang = lang(&headers);
    let s = match for_form(
        &st,
        lang,
        signed,
        &f.csrf,
        AdminRole::ItAdmin,
        "backup",
        None,
        None,
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
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

// ------------------------------------------------------------------------ privacy

async fn privacy_html(
    st: &ConsoleState,
    lang: Lang,
    s: &Signed,
    school: Option<&str>,
    msg: &str,
) -> Response {
    let schools = match api::list_schools(st, false).await {
        Ok(v) => v,
        Err(e) => return failed(lang, Some(s), e),
    };
    let opts = school_options(&schools, school);
    let body = format!(
        "{msg}<section id=\"export\"><h2>{}</h2><p class=\"muted\">{}</p>\
         <form method=\"post\" action=\"/privacy/export\">{}\
         <label for=\"export-school\">{}</label><select id=\"export-school\" name=\"school\">{opts}</select>\
         <label for=\"export-pupil\">{}</label><input id=\"export-pupil\" name=\"pupil\" autocomplete=\"off\" required>\
         <label for=\"requested_on\">{}</label><input id=\"requested_on\" name=\"requested_on\" type=\"date\">\
         <button class=\"primary\" id=\"download-export\">{}</button></form></section>\
         <section id=\"erase\"><h2>{}</h2><p>{}</p>\
         <form method=\"post\" action=\"/privacy/erase\">{}\
         <label for=\"erase-school\">{}</label><select id=\"erase-school\" name=\"school\">{opts}</select>\
         <label for=\"erase-pupil\">{}</label><input id=\"erase-pupil\" name=\"pupil\" autocomplete=\"off\" required>\
         <button class=\"primary\" id=\"erase-next\">{}</button></form></section>",
        t(lang, "export"),
        t(lang, "export_help"),
        csrf_field(s),
        t(lang, "school"),
        t(lang, "pupil"),
        t(lang, "requested_on"),
        t(lang, "download_pdf"),
        t(lang, "erase"),
        t(lang, "erase_help"),
        csrf_field(s),
        t(lang, "school"),
        t(lang, "pupil"),
        t(lang, "erase_next"),
    );
    page(lang, t(lang, "privacy"), Some((s, "privacy")), &body).into_response()
}

async fn privacy_page(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&headers);
    let s = match for_role(
        &st,
        lang,
        signed,
        AdminRole::PrivacyOfficer,
        "page_privacy",
        None,
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    privacy_html(&st, lang, &s, None, "").await
}

#[derive(Deserialize)]
struct ExportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    school: String,
    #[serde(default)]
    pupil: String,
    #[serde(default)]
    requested_on: String,
}

async fn export_post(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Form(f): Form<ExportForm>,
) -> Response {
    let lang = lang(&headers);
    let pupil = f.pupil.trim().to_string();
    let s = match for_form(
        &st,
        lang,
        signed,
        &f.csrf,
        AdminRole::PrivacyOfficer,
        "export_pupil",
        Some(&f.school),
        Some(&pupil),
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req = api::ExportRequest {
        requested_on: Some(f.requested_on).filter(|d| !d.trim().is_empty()),
        format: None,
    };
    match api::export_response(&st, &f.school, &pupil, req).await {
        Ok(mut r) => {
            // A download, named by the pupil id (its safe characters only).
            let name: String = pupil
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if let Ok(v) = header::HeaderValue::from_str(&format!(
                "attachment; filename=\"inzage-{name}.pdf\""
            )) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => failed(lang, Some(&s), e),
    }
}

/// A form's post for one role: as the API, the session first, then the CSRF token (a
/// refusal of either writes no operation's row), then the role (the operation audited, or
/// its refusal), naming the school and pupil in the audit row.
#[allow(clippy::too_many_arguments)]
async fn for_form(
    st: &ConsoleState,
    lang: Lang,
    signed: Result<Signed, ConsoleError>,
    csrf: &str,
    role: AdminRole,
    op: &str,
    school: Option<&str>,
    pupil: Option<&str>,
) -> Result<Signed, Response> {
    let s = signed.map_err(|e| failed(lang, None, e))?;
    check_csrf(&s, csrf).map_err(|e| failed(lang, Some(&s), e))?;
    st.authorize(&s.session, role, op, school, pupil)
        .await
        .map_err(|e| failed(lang, Some(&s), e))?;
    Ok(s)
}

#[derive(Deserialize)]
struct EraseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    school: String,
    #[serde(default)]
    pupil: String,
    /// The pupil id typed again (the second step); absent on the first.
    #[serde(default)]
    confirm: Option<String>,
}

async fn erase_post(
    State(st): State<ConsoleState>,
    signed: Result<Signed, ConsoleError>,
    headers: HeaderMap,
    Form(f): Form<EraseForm>,
) -> Response {
    let lang = lang(&headers);
    let pupil = f.pupil.trim().to_string();
    let confirmed = f.confirm.as_deref().map(str::trim);
    // The first step only shows the confirmation; the second erases when the id typed again
    // matches (a mismatch is audited as such, and erases nothing).
    let op = match confirmed {
        None => "page_erase_confirm",
        Some(c) if !pupil.is_empty() && c == pupil => "erase_pupil",
        Some(_) => "erase_pupil_unconfirmed",
    };
    let s = match for_form(
        &st,
        lang,
        signed,
        &f.csrf,
        AdminRole::PrivacyOfficer,
        op,
        Some(&f.school),
        Some(&pupil),
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    match op {
        "page_erase_confirm" => {
            let body = format!(
                "<section id=\"erase-confirm\"><h2>{}</h2><p class=\"msg err\">{}</p>\
                 <p>{}: <strong>{}</strong> &middot; {}: <code>{}</code></p>\
                 <form method=\"post\" action=\"/privacy/erase\">{}\
                 <input type=\"hidden\" name=\"school\" value=\"{}\"><input type=\"hidden\" name=\"pupil\" value=\"{}\">\
                 <label for=\"confirm\">{}</label><input id=\"confirm\" name=\"confirm\" autocomplete=\"off\" required>\
                 <p><button class=\"danger\" id=\"erase-now\">{}</button> <a class=\"button\" href=\"/privacy\" id=\"erase-cancel\">{}</a></p>\
                 </form></section>",
                t(lang, "erase_confirm"),
                t(lang, "erase_help"),
                t(lang, "pupil"),
                esc(&pupil),
                t(lang, "school"),
                esc(&f.school),
                csrf_field(&s),
                esc(&f.school),
                esc(&pupil),
                t(lang, "erase_type"),
                t(lang, "erase_now"),
                t(lang, "cancel"),
            );
            page(lang, t(lang, "erase_confirm"), Some((&s, "privacy")), &body).into_response()
        }
        "erase_pupil" => match st.admin.erase_pupil(&f.school, &pupil).await {
            Ok(n) => {
                let msg = format!(
                    "<p class=\"msg\" id=\"erased\">{} <strong>{}</strong>: {n}</p>",
                    t(lang, "erased"),
                    esc(&pupil)
                );
                privacy_html(&st, lang, &s, Some(&f.school), &msg).await
            }
            Err(e) => failed(lang, Some(&s), e.into()),
        },
        _ => {
            let msg = format!(
                "<p class=\"msg err\" id=\"error\">{}</p>",
                t(lang, "erase_mismatch")
            );
            (
                StatusCode::BAD_REQUEST,
                privacy_html(&st, lang, &s, Some(&f.school), &msg).await,
            )
                .into_response()
        }
    }
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
            "outbox",
            "outbox_note",
            "outbox_not_reported",
            "all_sent",
            "waiting",
            "oldest",
            "not_accepted",
            "at_last_sync",
            "day",
            "days",
            "hour",
            "hours",
            "minutes",
            "schools",
            "health",
            "settings",
            "lease",
            "retention",
            "backups",
            "start_backup",
            "privacy",
            "export",
            "erase",
            "erase_confirm",
            "erase_type",
            "erase_mismatch",
        ] {
            assert_ne!(t(Lang::Nl, key), "?", "{key}");
            assert_ne!(t(Lang::En, key), "?", "{key}");
        }
    }

    #[test]
    fn the_outbox_cell_says_what_waits_in_both_languages() {
        const DAY: i64 = 86_400_000;
        let now = 1_795_338_000_000;
        let report = |pending, not_accepted, oldest| api::OutboxInfo {
            pending,
            not_accepted,
            oldest_pending_at: oldest,
            reported_at: now - DAY,
        };
        let text = |lang, o: Option<api::OutboxInfo>| {
            let c = outbox_cell(lang, o.as_ref(), now);
            let inner = c.split_once('>').map(|(_, r)| r).unwrap_or_default();
            inner.trim_end_matches("</div>").to_string()
        };
        assert_eq!(text(Lang::Nl, Some(report(0, 0, None))), "alles verstuurd");
        assert_eq!(text(Lang::En, Some(report(0, 0, None))), "all sent");
        assert_eq!(
            text(Lang::Nl, Some(report(3, 0, Some(now - 2 * DAY - 5_000)))),
            "3 wachtend, oudste 2 dagen"
        );
        assert_eq!(
            text(Lang::En, Some(report(1, 0, Some(now - 3 * 3_600_000)))),
            "1 waiting, oldest 3 hours"
        );
        assert_eq!(
            text(Lang::Nl, Some(report(0, 1, None))),
            "1 niet geaccepteerd"
        );
        assert_eq!(
            text(Lang::En, Some(report(2, 1, Some(now - DAY)))),
            "2 waiting, oldest 1 day; 1 not accepted"
        );
        assert!(text(Lang::Nl, None).contains("niet gemeld"));
        let full = outbox_cell(Lang::Nl, Some(&report(0, 0, None)), now);
        assert!(full.contains("title=\"bij laatste sync ("), "{full}");
        let waiting = outbox_cell(Lang::Nl, Some(&report(0, 1, None)), now);
        assert!(
            waiting.starts_with("<div class=\"outbox waiting\""),
            "{waiting}"
        );
        assert_eq!(duration(Lang::Nl, 90_000), "1 min");
        assert_eq!(duration(Lang::En, -5), "0 min");
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
