//! Console sign-in through the school's identity provider: OpenID Connect, authorization
//! code flow with PKCE (the `openidconnect` crate). The console is a confidential client
//! (client id and secret); the identity provider's user is mapped to the admin account of
//! the same name (the ID token's `preferred_username`, or another claim: [`OidcSettings`]),
//! which must exist and be enabled: the provider proves who someone is, the account says what
//! they may do. Pending sign-ins (state, PKCE verifier, nonce) live in memory for ten minutes
//! and are used once.

use super::{ConsoleError, ConsoleState};
use crate::{Error, Result};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a started sign-in may take.
const PENDING_FOR: Duration = Duration::from_secs(600);

/// The identity provider the console signs in through.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    /// The console's client id at the provider.
    pub client_id: String,
    /// Its client secret (never printed).
    pub client_secret: Option<String>,
    /// The console's callback as the browser reaches it (`https://…/oidc/callback`),
    /// registered at the provider.
    pub redirect_url: String,
    /// The ID token claim that names the admin account (and, for devices, the staff id):
    /// `preferred_username` (default), `email`, or `sub`.
    pub claim: String,
    /// The sync server's callback for device enrollment through the provider
    /// (`https://…/v1/oidc/callback`, registered at the provider); none: devices enroll with
    /// codes only.
    pub device_redirect_url: Option<String>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("claim", &self.claim)
            .field("device_redirect_url", &self.device_redirect_url)
            .finish_non_exhaustive()
    }
}

/// A sign-in at the provider in progress: what its callback is checked against, and what
/// else it carries (`extra`: nothing for the console, the app's challenge and return URL for
/// a device).
struct Pending<E> {
    verifier: String,
    nonce: String,
    since: Instant,
    extra: E,
}

/// Sign-ins in progress by their `state`, each kept [`PENDING_FOR`] and used once.
struct Pendings<E>(Mutex<HashMap<String, Pending<E>>>);

impl<E> Default for Pendings<E> {
    fn default() -> Self {
        Pendings(Mutex::default())
    }
}

impl<E> Pendings<E> {
    /// Start one at the provider of `client` (PKCE, a nonce, scope `profile`): the
    /// authorization URL to send the browser to. Those expired are dropped.
    fn start(&self, client: &Client, extra: E) -> String {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let now = Instant::now();
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|_, v| now.saturating_duration_since(v.since) < PENDING_FOR);
        p.insert(
            state.secret().clone(),
            Pending {
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                since: now,
                extra,
            },
        );
        url.to_string()
    }

    /// The one of `state`, taken (None when unknown or expired).
    fn take(&self, state: &str) -> Option<Pending<E>> {
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        p.remove(state).filter(|v| v.since.elapsed() < PENDING_FOR)
    }
}

/// Pending sign-ins by their `state`.
#[derive(Default)]
pub struct OidcState {
    pending: Pendings<()>,
}

impl std::fmt::Debug for OidcState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcState").finish_non_exhaustive()
    }
}

fn config(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("identity provider: {e}"))
}

/// An HTTP client for the provider's discovery, keys and token endpoints: one HTTP/1.1
/// request per connection (hyper), TLS with the public web roots for `https://`. It never
/// follows redirects (as OAuth 2.0 asks of a token client).
async fn http_client(
    req: openidconnect::HttpRequest,
) -> std::result::Result<openidconnect::HttpResponse, Error> {
    use http_body_util::BodyExt;
    let uri = req.uri().clone();
    let host = uri
        .host()
        .ok_or_else(|| config("a URL without a host"))?
        .to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| config("connecting timed out"))??;
    let (parts, body) = req.into_parts();
    let mut out =
        axum::http::Request::from_parts(parts, http_body_util::Full::new(bytes::Bytes::from(body)));
    // Origin form with a Host header, as servers expect from a client.
    *out.uri_mut() = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()
        .map_err(config)?;
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or(host.clone());
    out.headers_mut()
        .insert(axum::http::header::HOST, authority.parse().map_err(config)?);
    async fn send<S>(
        io: S,
        req: axum::http::Request<http_body_util::Full<bytes::Bytes>>,
    ) -> std::result::Result<openidconnect::HttpResponse, Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(config)?;
        tokio::spawn(conn);
        let resp = tokio::time::timeout(Duration::from_secs(20), sender.send_request(req))
            .await
            .map_err(|_| config("the provider did not answer in time"))?
            .map_err(config)?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(config)?.to_bytes();
        Ok(axum::http::Response::from_parts(parts, body.to_vec()))
    }
    if https {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(config)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(host).map_err(config)?;
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
            .connect(name, tcp)
            .await?;
        send(stream, out).await
    } else {
        send(tcp, out).await
    }
}

/// The console's client as the provider's discovery document describes it.
type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

async fn client(s: &OidcSettings, redirect: &str) -> Result<Client> {
    let issuer = IssuerUrl::new(s.issuer.clone()).map_err(config)?;
    let meta = CoreProviderMetadata::discover_async(issuer, &http_client)
        .await
        .map_err(config)?;
    Ok(CoreClient::from_provider_metadata(
        meta,
        ClientId::new(s.client_id.clone()),
        s.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.to_string()).map_err(config)?))
}

/// Exchange `code` (with the PKCE verifier), check the ID token (signature, issuer,
/// audience, expiry, `nonce`) and answer the configured claim; none if anything fails.
async fn signed_in_as(
    s: &OidcSettings,
    client: &Client,
    code: &str,
    verifier: String,
    nonce: String,
) -> Option<String> {
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .ok()?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http_client)
        .await
        .ok()?;
    let id = token.id_token()?.clone();
    let claims = id
        .claims(&client.id_token_verifier(), &Nonce::new(nonce))
        .ok()?;
    match s.claim.as_str() {
        "sub" => Some(claims.subject().to_string()),
        "email" => claims.email().map(|e| e.to_string()),
        _ => claims.preferred_username().map(|u| u.to_string()),
    }
}

impl ConsoleState {
    fn oidc_settings(&self) -> Result<&OidcSettings, ConsoleError> {
        self.settings
            .console
            .oidc
            .as_ref()
            .ok_or_else(|| ConsoleError::NotFound("identity provider".into()))
    }

    /// Start a sign-in: the provider's authorization URL to send the browser to.
    pub(crate) async fn oidc_start(&self) -> Result<String, ConsoleError> {
        let s = self.oidc_settings()?;
        let client = client(s, &s.redirect_url).await?;
        Ok(self.oidc.pending.start(&client, ()))
    }

    /// Finish a sign-in at the callback: exchange the code (with the PKCE verifier), check
    /// the ID token (signature, issuer, audience, expiry, nonce), and open a session for
    /// the admin account the configured claim names. Audited either way.
    pub(crate) async fn oidc_finish(
        &self,
        code: &str,
        state: &str,
    ) -> Result<(String, super::Session), ConsoleError> {
        let s = self.oidc_settings()?;
        let Some(pending) = self.oidc.pending.take(state) else {
            self.audit(None, "sign_in_oidc_failed", None, None).await;
            return Err(ConsoleError::Unauthorized);
        };
        let client = client(s, &s.redirect_url).await?;
        let name = signed_in_as(s, &client, code, pending.verifier, pending.nonce).await;
        let Some(name) = name else {
            tracing::warn!("console sign-in through the identity provider failed");
            self.audit(None, "sign_in_oidc_failed", None, None).await;
            return Err(ConsoleError::Unauthorized);
        };
        let lookup = name.clone();
        let account = self
            .admin
            .call(move |hub, _| Ok((hub.storage().admin_account(&lookup)?, vec![])))
            .await?;
        match account {
            Some(a) if !a.disabled => {
                let (token, session) = self.open_session(&a);
                self.audit(Some(&a.name), "sign_in_oidc", None, None).await;
                Ok((token, session))
            }
            _ => {
                // The provider's user has no admin account here: refused, and not named
                // (it is no account of ours).
                tracing::warn!("identity provider user without an admin account");
                self.audit(None, "sign_in_oidc_no_account", None, None)
                    .await;
                Err(ConsoleError::Forbidden)
            }
        }
    }
}

// ------------------------------------------------------------------------ devices

/// What a device enrollment through the provider in progress carries besides (see
/// `omkijken_core::invite::oidc`).
struct DevicePending {
    challenge: String,
    return_url: String,
}

/// Device enrollment through the school's identity provider, on the sync listener:
/// `GET /v1/oidc/enroll?challenge=C&return=URL` sends the phone's browser to the provider;
/// `GET /v1/oidc/callback` checks the sign-in, maps the configured claim to the staff id of
/// the one school whose roster has it, stores a one-time enrollment ticket under the app's
/// challenge (`admin::issue_oidc_ticket`), and sends the browser back to the app's return URL
/// with `enrollment=ready` (or `refused`). The app then enrolls with its verifier over
/// `/v1/enroll`, as with a code.
pub struct DeviceOidc {
    settings: OidcSettings,
    redirect: String,
    admin: crate::server::Admin,
    code_ttl_ms: i64,
    pending: Pendings<DevicePending>,
}

impl std::fmt::Debug for DeviceOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceOidc").finish_non_exhaustive()
    }
}

/// Whether the app's return URL is one a browser may be sent to with the outcome: the app's
/// own scheme (reverse domain, `nl.school.app:/…`), `https://`, or `http://` on loopback
/// (RFC 8252).
fn return_url_ok(u: &str) -> bool {
    let Some((scheme, rest)) = u.split_once(':') else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" => rest.starts_with("//"),
        "http" => ["//127.0.0.1", "//localhost", "//[::1]"]
            .iter()
            .any(|h| rest.starts_with(h)),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => false,
        s => {
            s.contains('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+')
        }
    }
}

fn with_outcome(url: &str, outcome: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}enrollment={outcome}")
}

impl DeviceOidc {
    /// Device enrollment through `settings`' provider, when it names a device callback.
    pub fn new(
        settings: &OidcSettings,
        admin: crate::server::Admin,
        code_ttl_ms: i64,
    ) -> Option<DeviceOidc> {
        Some(DeviceOidc {
            redirect: settings.device_redirect_url.clone()?,
            settings: settings.clone(),
            admin,
            code_ttl_ms,
            pending: Pendings::default(),
        })
    }

    /// Begin: the provider's authorization URL for the phone's browser.
    pub async fn start(&self, challenge: &str, return_url: &str) -> Result<String> {
        if !omkijken_core::invite::oidc::is_verifier(challenge) {
            return Err(Error::Invalid("challenge must be 64 hex digits".into()));
        }
        if !return_url_ok(return_url) {
            return Err(Error::Invalid(
                "the return URL must be the app's own scheme, https, or loopback".into(),
            ));
        }
        let client = client(&self.settings, &self.redirect).await?;
        Ok(self.pending.start(
            &client,
            DevicePending {
                challenge: challenge.to_ascii_lowercase(),
                return_url: return_url.into(),
            },
        ))
    }

    /// Finish at the callback: where to send the browser (the app's return URL with the
    /// outcome), or an error when the state is unknown (no return URL to trust).
    pub async fn finish(&self, code: &str, state: &str) -> Result<String> {
        let Some(pending) = self.pending.take(state) else {
            self.refused("oidc_unknown_state").await;
            return Err(Error::NotFound("enrollment in progress"));
        };
        let client = client(&self.settings, &self.redirect).await?;
        let user = signed_in_as(
            &self.settings,
            &client,
            code,
            pending.verifier,
            pending.nonce,
        )
        .await;
        let Some(user) = user else {
            tracing::warn!("device enrollment through the identity provider failed");
            self.refused("oidc_sign_in").await;
            return Ok(with_outcome(&pending.extra.return_url, "refused"));
        };
        let (challenge, ttl) = (pending.extra.challenge.clone(), self.code_ttl_ms);
        let issued = self
            .admin
            .call(move |hub, now| {
                let school = crate::admin::school_of_staff(hub.storage(), &user)?;
                crate::admin::issue_oidc_ticket(
                    hub.storage(),
                    now,
                    &school,
                    &user,
                    ttl,
                    &challenge,
                )?;
                Ok(((), vec![]))
            })
            .await;
        match issued {
            Ok(()) => Ok(with_outcome(&pending.extra.return_url, "ready")),
            Err(Error::NotFound(_)) | Err(Error::Invalid(_)) => {
                // Signed in, but no (single) staff member of a school here: not named.
                tracing::warn!("identity provider user is no staff member of a school here");
                self.refused("oidc_no_staff").await;
                Ok(with_outcome(&pending.extra.return_url, "refused"))
            }
            Err(e) => Err(e),
        }
    }

    async fn refused(&self, why: &'static str) {
        let written = self.admin.audit_enroll_failed(why.into()).await;
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write the audit row of a refused enrollment");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_browser_is_sent_back_only_to_an_app_scheme_https_or_loopback() {
        for ok in [
            "nl.omkijken.app:/oidc",
            "https://app.example/back",
            "http://127.0.0.1:4711/klaar",
            "http://localhost/x",
        ] {
            assert!(super::return_url_ok(ok), "{ok}");
        }
        for bad in [
            "http://evil.example/steal",
            "javascript:alert(1)",
            "data:text/html,x",
            "omkijken:/x",
            "no-scheme",
            "https:evil",
        ] {
            assert!(!super::return_url_ok(bad), "{bad}");
        }
        assert_eq!(
            super::with_outcome("a:/b?x=1", "ready"),
            "a:/b?x=1&enrollment=ready"
        );
    }
}
