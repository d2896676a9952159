//! Sessions and their CSRF tokens, kept in this process's memory, and signing in and out
//! ([`ConsoleState`]).

use super::accounts::{console_audit, verify_password};
use super::errors::ConsoleError;
use super::throttle::Throttle;
use super::{ConsoleSettings, SESSION_COOKIE};
use crate::Result;
use crate::server::Admin;
use crate::settings::Settings;
use crate::storage::{AdminAccount, AdminRole};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A signed-in admin.
#[derive(Clone)]
pub struct Session {
    /// Account name.
    pub name: String,
    /// Its role.
    pub role: AdminRole,
    /// The session's CSRF token.
    pub csrf: String,
    /// When it expires.
    pub expires: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Refuse (403) unless the session's role is `role`.
    pub fn require(&self, role: AdminRole) -> Result<(), ConsoleError> {
        if self.role == role {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    hex::encode(b)
}

/// Shared state of the console's router.
#[derive(Clone)]
pub struct ConsoleState {
    pub(crate) admin: Admin,
    pub(crate) settings: Arc<Settings>,
    /// The sync server's URL for enrollment QR codes.
    pub(crate) server_url: String,
    sessions: Arc<Mutex<HashMap<[u8; 32], Session>>>,
    throttle: Arc<Throttle>,
    pub(super) oidc: Arc<super::oidc::OidcState>,
}

impl std::fmt::Debug for ConsoleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleState").finish_non_exhaustive()
    }
}

impl ConsoleState {
    /// State for a server's console: `server_url` goes into enrollment QR codes.
    pub fn new(admin: Admin, settings: Settings, server_url: String) -> Self {
        ConsoleState {
            admin,
            settings: Arc::new(settings),
            server_url,
            sessions: Arc::default(),
            throttle: Arc::default(),
            oidc: Arc::default(),
        }
    }

    fn console(&self) -> &ConsoleSettings {
        &self.settings.console
    }

    /// Audit a call of `s` that needs `role`: the operation when the role may, else the
    /// refusal (kind `refused:OP`) and 403.
    pub(crate) async fn authorize(
        &self,
        s: &Session,
        role: AdminRole,
        op: &str,
        school: Option<&str>,
        pupil: Option<&str>,
    ) -> Result<(), ConsoleError> {
        if s.role == role {
            self.audit(Some(&s.name), op, school, pupil).await;
            Ok(())
        } else {
            self.audit(Some(&s.name), &format!("refused:{op}"), school, pupil)
                .await;
            Err(ConsoleError::Forbidden)
        }
    }

    /// [`ConsoleState::authorize`] for the IT admin, of no pupil.
    pub(crate) async fn it_admin(
        &self,
        s: &Session,
        op: &str,
        school: Option<&str>,
    ) -> Result<(), ConsoleError> {
        self.authorize(s, AdminRole::ItAdmin, op, school, None)
            .await
    }

    /// Write an audit row of a call (errors are logged: the call itself went through).
    pub(crate) async fn audit(
        &self,
        account: Option<&str>,
        op: &str,
        school: Option<&str>,
        pupil: Option<&str>,
    ) {
        let op = op.to_string();
        let (account, school, pupil) = (
            account.map(str::to_string),
            school.map(str::to_string),
            pupil.map(str::to_string),
        );
        let written = self
            .admin
            .append_audit(move |now| {
                console_audit(
                    now,
                    account.as_deref(),
                    &op,
                    school.as_deref(),
                    pupil.as_deref(),
                )
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write the audit row of a console call");
        }
    }

    /// Sign in: check the throttle, the account and the password; on success a new
    /// session (its cookie token and the session). Every outcome is audited.
    pub(crate) async fn sign_in(
        &self,
        name: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> Result<(String, Session), ConsoleError> {
        let c = self.console();
        let now = Instant::now();
        let name_key = format!("name:{}", name.to_ascii_lowercase());
        let peer_key = peer.map(|p| format!("addr:{p}"));
        for key in std::iter::once(&name_key).chain(peer_key.as_ref()) {
            if let Some(left) = self
                .throttle
                .locked(key, now, c.max_failures, c.failure_window)
            {
                metrics::counter!("omkijken_console_sign_ins_total", "outcome" => "throttled")
                    .increment(1);
                tracing::warn!(peer = ?peer, "console sign-in throttled");
                self.audit(None, "sign_in_throttled", None, None).await;
                return Err(ConsoleError::Throttled(left));
            }
        }
        let lookup = name.to_string();
        let account = self
            .admin
            .call(move |hub, _| Ok((hub.storage().admin_account(&lookup)?, vec![])))
            .await?;
        // Verify on a blocking thread (argon2 takes its time on purpose); a dummy hash for
        // an unknown name, so that the answer takes as long and says as little.
        let hash = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_string());
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        match account {
            Some(a) if ok && !a.disabled => {
                self.throttle.succeeded(&name_key);
                let (token, session) = self.open_session(&a);
                metrics::counter!("omkijken_console_sign_ins_total", "outcome" => "ok")
                    .increment(1);
                self.audit(Some(&a.name), "sign_in", None, None).await;
                Ok((token, session))
            }
            known => {
                self.throttle.failed(&name_key, now, c.failure_window);
                if let Some(k) = &peer_key {
                    self.throttle.failed(k, now, c.failure_window);
                }
                metrics::counter!("omkijken_console_sign_ins_total", "outcome" => "failed")
                    .increment(1);
                tracing::warn!(peer = ?peer, "console sign-in failed");
                // The name only when it is an account's (a mistyped name may be a password).
                let account = known.map(|a| a.name);
                self.audit(account.as_deref(), "sign_in_failed", None, None)
                    .await;
                Err(ConsoleError::Unauthorized)
            }
        }
    }

    /// A new session of `account`: its cookie token and the session.
    pub(crate) fn open_session(&self, account: &AdminAccount) -> (String, Session) {
        let now = Instant::now();
        let token = random_token();
        let session = Session {
            name: account.name.clone(),
            role: account.role,
            csrf: random_token(),
            expires: now + self.console().session_ttl,
        };
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|_, s| s.expires > now);
        s.insert(token_key(&token), session.clone());
        (token, session)
    }

    /// The live session of a cookie token.
    pub(super) fn session(&self, token: &str) -> Option<Session> {
        let s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.get(&token_key(token))
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// End the session of a cookie token.
    pub(crate) fn sign_out(&self, token: &str) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.remove(&token_key(token));
    }

    /// The `Set-Cookie` value of a new session.
    pub(crate) fn session_cookie(&self, token: &str) -> String {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.console().session_ttl.as_secs(),
            if self.console().secure_cookie {
                "; Secure"
            } else {
                ""
            }
        )
    }
}

/// An argon2id hash of a random password nobody knows: verified against when the account
/// name is unknown, so that an unknown name costs as much time as a wrong password.
pub(super) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$b21raWprZW4tZHVtbXk$Rk8AmHt7Zf2ZJbo3VH2WnmFUm0xMOmqW0a8kUPDR6m0";
