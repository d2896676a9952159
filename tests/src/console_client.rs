//! A small HTTP/1.1 client for the admin console's listener (plain HTTP on loopback), for
//! end-to-end tests that look at what the IT admin sees: sign in, then GET API calls and
//! pages with the session cookie.

use anyhow::{Context, Result, ensure};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A signed-in admin of the console at `addr`.
#[derive(Debug, Clone)]
pub struct ConsoleClient {
    addr: SocketAddr,
    cookie: String,
}

/// Status and body of one answer.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Result<(u16, String, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = vec![];
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await??;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head.split(' ').nth(1).context("no status")?.parse()?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, head, String::from_utf8_lossy(&body).to_string()))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < i + 2 + n {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = b.get(i + 2 + n + 2..).unwrap_or_default();
    }
    out
}

impl ConsoleClient {
    /// Sign in with an admin account's name and password.
    pub async fn sign_in(addr: SocketAddr, name: &str, password: &str) -> Result<ConsoleClient> {
        let body = serde_json::json!({"name": name, "password": password}).to_string();
        let (status, head, _) = request(
            addr,
            "POST",
            "/api/session",
            "Content-Type: application/json\r\n",
            &body,
        )
        .await?;
        ensure!(status == 200, "sign-in of {name}: {status}");
        let cookie = head
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("set-cookie").then(|| v.trim())
            })
            .and_then(|v| v.split(';').next())
            .context("no session cookie")?
            .to_string();
        Ok(ConsoleClient { addr, cookie })
    }

    /// GET `path` with the session, in language `lang` (`nl` or `en`, the console's
    /// language cookie): status and body.
    pub async fn get(&self, path: &str, lang: &str) -> Result<(u16, String)> {
        let headers = format!(
            "Cookie: {}; {}={lang}\r\n",
            self.cookie,
            omkijken_server::console::LANG_COOKIE
        );
        let (status, _, body) = request(self.addr, "GET", path, &headers, "").await?;
        Ok((status, body))
    }

    /// POST a page's form (`application/x-www-form-urlencoded`), with the CSRF token the
    /// form carries in `page` (a page of this session): status and body.
    pub async fn post_form(
        &self,
        path: &str,
        page: &str,
        fields: &[(&str, &str)],
        lang: &str,
    ) -> Result<(u16, String)> {
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .context("the page has no form with a CSRF token")?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", csrf)
            .extend_pairs(fields)
            .finish();
        let headers = format!(
            "Cookie: {}; {}={lang}\r\nContent-Type: application/x-www-form-urlencoded\r\n",
            self.cookie,
            omkijken_server::console::LANG_COOKIE
        );
        let (status, _, body) = request(self.addr, "POST", path, &headers, &body).await?;
        Ok((status, body))
    }

    /// GET an API call's JSON.
    pub async fn json(&self, path: &str) -> Result<serde_json::Value> {
        let (status, body) = self.get(path, "nl").await?;
        ensure!(status == 200, "GET {path}: {status}");
        Ok(serde_json::from_str(&body)?)
    }
}

/// A server with its console on a free loopback port and the school set up (its store
/// plain when `plain`, for a test that changes rows with SQLite), with these console
/// accounts (name, role, password). Its settings say the sync address it got, so that a
/// restart keeps it (phones know it).
pub async fn console_server(
    dir: &std::path::Path,
    plain: bool,
    accounts: &[(&str, omkijken_server::storage::AdminRole, &str)],
) -> Result<(crate::TestServer, omkijken_server::server::Settings)> {
    let mut settings = omkijken_server::server::Settings {
        plain_store: plain,
        ..omkijken_server::server::Settings::for_test(dir.join("server"))
    };
    settings.console.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let server = crate::TestServer::start_with(settings.clone()).await?;
    server.set_up_school().await?;
    let mut st = settings.open_storage()?;
    let now = jiff::Timestamp::now().as_millisecond();
    for (name, role, password) in accounts {
        omkijken_server::console::add_admin(st.as_mut(), now, name, *role, password)?;
    }
    settings.listen = server.handle.addr();
    Ok((server, settings))
}

/// Sign in to the console of `server` (started by [`console_server`]).
pub async fn signed_in(
    server: &crate::TestServer,
    name: &str,
    password: &str,
) -> Result<ConsoleClient> {
    let addr = server.handle.console_addr().context("the console is on")?;
    ConsoleClient::sign_in(addr, name, password).await
}
