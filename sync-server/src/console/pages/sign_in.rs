//! Signing in (password or the school's identity provider), out, and the language.

use super::CsrfForm;
use super::layout::{failed, page};
use super::text::t;
use super::{Lang, Visit, check_csrf, esc, lang};
use crate::console::{ConsoleError, ConsoleState, LANG_COOKIE, Peer, SESSION_COOKIE, Signed};
use crate::storage::AdminRole;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

pub(super) async fn home(signed: Result<Signed, ConsoleError>) -> Redirect {
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

/// The sign-in page again, answered with `status` and the message of text `key`.
fn login_again(lang: Lang, status: StatusCode, key: &str, oidc: bool) -> Response {
    (status, login_form(lang, Some(t(lang, key)), oidc)).into_response()
}

pub(super) async fn login_page(State(st): State<ConsoleState>, headers: HeaderMap) -> Html<String> {
    login_form(lang(&headers), None, st.settings.console.oidc.is_some())
}

pub(super) async fn oidc_login(State(st): State<ConsoleState>, headers: HeaderMap) -> Response {
    match st.oidc_start().await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => failed(lang(&headers), None, e),
    }
}

#[derive(Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
}

pub(super) async fn oidc_callback(
    State(st): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let lang = lang(&headers);
    let oidc = st.settings.console.oidc.is_some();
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return login_again(lang, StatusCode::UNAUTHORIZED, "bad_oidc", oidc);
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
        Err(ConsoleError::Unauthorized) => {
            login_again(lang, StatusCode::UNAUTHORIZED, "bad_oidc", oidc)
        }
        Err(ConsoleError::Forbidden) => {
            login_again(lang, StatusCode::FORBIDDEN, "no_account", oidc)
        }
        Err(e) => failed(lang, None, e),
    }
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    name: String,
    password: String,
}

pub(super) async fn login(
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
        Err(ConsoleError::Throttled(_)) => {
            login_again(lang, StatusCode::TOO_MANY_REQUESTS, "throttled", oidc)
        }
        Err(ConsoleError::Unauthorized) => {
            login_again(lang, StatusCode::UNAUTHORIZED, "bad_login", oidc)
        }
        Err(e) => failed(lang, None, e),
    }
}

pub(super) async fn logout(v: Visit, Form(f): Form<CsrfForm>) -> Response {
    let (st, lang, signed) = admit!(v.signed_in());
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

pub(super) async fn set_lang(Path(l): Path<String>) -> Response {
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
