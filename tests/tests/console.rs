//! The admin console's JSON API against a real server on its own listener: each area the
//! CLI covers, the roles (the IT admin reads no audit log and erases nothing; the privacy
//! officer manages no devices), CSRF on every state-changing call, expired sessions,
//! throttled sign-ins, an audit row for every call, and a device enrolled with the payload
//! of the QR code the console issued.

use anyhow::{Context, Result, ensure};
use omkijken_core::store::{Store, StoreOptions};
use omkijken_core::transport;
use omkijken_server::console::{self, ConsoleSettings};
use omkijken_server::server::Settings;
use omkijken_server::storage::AdminRole;
use omkijken_tests::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IT: (&str, &str) = ("anna", "wachtwoord-van-anna-1");
const FG: (&str, &str) = ("fg", "wachtwoord-van-de-fg-2");

/// One HTTP/1.1 request on a new connection (the console's listener is plain HTTP).
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Option<&Value>,
) -> Result<Reply> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    request(addr, method, path, cookie, csrf, "application/json", &body).await
}

/// A page's form posted as a browser posts it (`application/x-www-form-urlencoded`).
async fn post_form(
    addr: SocketAddr,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> Result<Reply> {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    request(
        addr,
        "POST",
        path,
        Some(cookie),
        None,
        "application/x-www-form-urlencoded",
        &body,
    )
    .await
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    content_type: &str,
    body: &str,
) -> Result<Reply> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {}={c}\r\n", console::SESSION_COOKIE));
    }
    if let Some(t) = csrf {
        req.push_str(&format!("X-CSRF-Token: {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut raw = vec![];
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await??;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .context("no status")?
        .parse()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
    out
}

/// A signed-in admin: the session cookie and the CSRF token.
struct Admin {
    addr: SocketAddr,
    cookie: String,
    csrf: String,
}

impl Admin {
    async fn sign_in(addr: SocketAddr, (name, password): (&str, &str)) -> Result<Admin> {
        let r = http(
            addr,
            "POST",
            "/api/session",
            None,
            None,
            Some(&json!({"name": name, "password": password})),
        )
        .await?;
        ensure!(r.status == 200, "sign-in of {name}: {}", r.status);
        let set = r.header("set-cookie").context("no cookie")?;
        ensure!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set
            .split(';')
            .next()
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v.to_string())
            .context("cookie value")?;
        Ok(Admin {
            addr,
            cookie,
            csrf: r.json()["csrf"].as_str().context("csrf")?.to_string(),
        })
    }
    async fn get(&self, path: &str) -> Result<Reply> {
        http(self.addr, "GET", path, Some(&self.cookie), None, None).await
    }
    async fn send(&self, method: &str, path: &str, body: Value) -> Result<Reply> {
        http(
            self.addr,
            method,
            path,
            Some(&self.cookie),
            Some(&self.csrf),
            Some(&body),
        )
        .await
    }
    /// The same call without the CSRF header.
    async fn send_without_csrf(&self, method: &str, path: &str, body: Value) -> Result<Reply> {
        http(
            self.addr,
            method,
            path,
            Some(&self.cookie),
            None,
            Some(&body),
        )
        .await
    }
}

/// A server with its console on a free loopback port, and the two admin accounts (made as
/// `omkijken-server admin add-admin` makes them, on the store the server runs on).
async fn console_server(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut ConsoleSettings),
) -> Result<(TestServer, SocketAddr)> {
    let data = dir.join("data");
    let mut settings = Settings::for_test(&data);
    settings.console.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    settings.console.backup_dir = Some(dir.join("backups"));
    std::fs::create_dir_all(dir.join("backups"))?;
    tweak(&mut settings.console);
    let server = TestServer::start_with(settings.clone()).await?;
    let mut st = settings.open_storage()?;
    let now = jiff::Timestamp::now().as_millisecond();
    console::add_admin(st.as_mut(), now, IT.0, AdminRole::ItAdmin, IT.1)?;
    console::add_admin(st.as_mut(), now, FG.0, AdminRole::PrivacyOfficer, FG.1)?;
    let addr = server.handle.console_addr().context("console is on")?;
    Ok((server, addr))
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.get("id")
                        .and_then(Value::as_str)
                        .or(x.as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_does_what_the_cli_does_for_the_right_role_only() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, addr) = console_server(dir.path(), |_| {}).await?;

    // 1. Nothing without a session; a wrong password is 401 like an unknown name.
    assert_eq!(
        http(addr, "GET", "/api/devices", None, None, None)
            .await?
            .status,
        401
    );
    let wrong = json!({"name": IT.0, "password": "niet-het-wachtwoord"});
    assert_eq!(
        http(addr, "POST", "/api/session", None, None, Some(&wrong))
            .await?
            .status,
        401
    );
    let it = Admin::sign_in(addr, IT).await?;
    let fg = Admin::sign_in(addr, FG).await?;
    assert_eq!(it.get("/api/session").await?.json()["role"], "it_admin");

    // 2. Schools: a state-changing call without the CSRF token is refused and does nothing.
    let school = json!({"id": SCHOOL, "name": "Basisschool De Linde"});
    let r = it
        .send_without_csrf("POST", "/api/schools", school.clone())
        .await?;
    assert_eq!(r.status, 403, "no CSRF token");
    assert_eq!(r.json()["error"], "missing or wrong CSRF token");
    let r = http(
        addr,
        "POST",
        "/api/schools",
        Some(&it.cookie),
        Some("wrong"),
        Some(&school),
    )
    .await?;
    assert_eq!(r.status, 403, "wrong CSRF token");
    assert_eq!(
        fg.send("POST", "/api/schools", school.clone())
            .await?
            .status,
        403,
        "role"
    );
    assert_eq!(it.get("/api/schools").await?.json(), json!([]));
    assert_eq!(
        it.send("POST", "/api/schools", school.clone())
            .await?
            .status,
        201
    );
    assert_eq!(it.send("POST", "/api/schools", school).await?.status, 409);

    // 3. Roster: the preview writes nothing; the import answers what changed.
    let roster = format!("/api/schools/{SCHOOL}/roster");
    let p = it
        .send(
            "POST",
            &format!("{roster}/preview"),
            json!({"csv": roster_csv()}),
        )
        .await?;
    assert_eq!(p.status, 200);
    let p = p.json();
    assert_eq!(
        names(&p["pupils_added"]),
        [PUPIL_IN_CARE, PUPIL, OTHER_PUPIL]
    );
    assert_eq!(names(&p["care_opened"]), [PUPIL_IN_CARE]);
    assert_eq!(names(&p["staff_added"]).len(), 4);
    let again = it
        .send(
            "POST",
            &format!("{roster}/preview"),
            json!({"csv": roster_csv()}),
        )
        .await?
        .json();
    assert_eq!(again["changed"], true, "the preview wrote nothing");
    let r = it
        .send("POST", &roster, json!({"csv": roster_csv()}))
        .await?;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["import"]["pupils"], 3);
    // The next year's roster: Noor moves to 7a with another mentor, Sam's care track
    // closes, Daan left.
    let next = roster_csv()
        .replace(
            "pupil,eck-0002,Noor,g6b,po_5_8,false,,m-jansen,",
            "pupil,eck-0002,Noor,g7a,po_5_8,false,,m-smit,",
        )
        .replace(
            "pupil,eck-0001,Sam,g6b,po_5_8,true,",
            "pupil,eck-0001,Sam,g6b,po_5_8,false,",
        )
        .replace("pupil,eck-0003,Daan,g7a,po_5_8,false,,m-smit,\n", "")
        .replace("\npupil,eck-0003,Daan,g7a,po_5_8,false,,m-smit,", "");
    let p = it
        .send("POST", &format!("{roster}/preview"), json!({"csv": next}))
        .await?
        .json();
    assert_eq!(names(&p["pupils_added"]), Vec::<String>::new());
    assert_eq!(names(&p["pupils_left"]), [OTHER_PUPIL]);
    assert_eq!(p["pupils_moved"][0]["id"], PUPIL);
    assert_eq!(
        (
            p["pupils_moved"][0]["from"].clone(),
            p["pupils_moved"][0]["to"].clone()
        ),
        (json!("g6b"), json!("g7a"))
    );
    assert_eq!(p["mentors_changed"][0]["before"], json!(["m-jansen"]));
    assert_eq!(p["mentors_changed"][0]["after"], json!(["m-smit"]));
    assert_eq!(names(&p["care_closed"]), [PUPIL_IN_CARE]);
    let bad = it
        .send(
            "POST",
            &format!("{roster}/preview"),
            json!({"csv": "no,header\n"}),
        )
        .await?;
    assert_eq!(bad.status, 400);
    assert_eq!(
        fg.send("POST", &format!("{roster}/preview"), json!({"csv": next}))
            .await?
            .status,
        403
    );

    // 4. Enrollment: the QR code's payload enrolls a real device store.
    let r = it
        .send(
            "POST",
            &format!("/api/schools/{SCHOOL}/enrollments"),
            json!({"user": MENTOR}),
        )
        .await?;
    assert_eq!(r.status, 200);
    let e = r.json();
    assert!(e["qr_svg"].as_str().unwrap_or_default().contains("<svg"));
    let payload = e["payload"].as_str().context("payload")?;
    let invite = omkijken_core::invite::EnrollmentInvite::parse(payload)?;
    assert_eq!(invite.server, server.url());
    let store = Store::open_with(dir.path().join("phone.db"), KEY, StoreOptions::default())?;
    let who = transport::enroll_with_invite(payload, "telefoon juf Jansen", &store).await?;
    assert_eq!((who.school.as_str(), who.user.as_str()), (SCHOOL, MENTOR));
    transport::sync_once(&store).await?;
    let unknown = it
        .send(
            "POST",
            &format!("/api/schools/{SCHOOL}/enrollments"),
            json!({"user": "nobody"}),
        )
        .await?;
    assert_eq!(unknown.status, 404);

    // 5. Devices: listed with their last sync; revoked; the device learns it.
    assert_eq!(fg.get("/api/devices").await?.status, 403);
    let list = it.get("/api/devices").await?.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["user"], MENTOR);
    assert!(list[0]["last_seen"].is_i64(), "{list}");
    // Its outbox as it reported it in its hello: nothing waits (counts only).
    let outbox = &list[0]["outbox"];
    assert_eq!(
        (&outbox["pending"], &outbox["not_accepted"]),
        (&json!(0), &json!(0)),
        "{list}"
    );
    assert!(outbox["oldest_pending_at"].is_null(), "{list}");
    assert!(
        outbox["reported_at"].as_i64() >= list[0]["created_at"].as_i64(),
        "{list}"
    );
    assert_eq!(
        outbox.as_object().map(|o| o.len()),
        Some(4),
        "no other key: {list}"
    );
    let device = list[0]["id"].as_str().context("id")?.to_string();
    let revoke = format!("/api/devices/{device}/revoke");
    assert_eq!(
        it.send_without_csrf("POST", &revoke, json!({}))
            .await?
            .status,
        403
    );
    assert_eq!(fg.send("POST", &revoke, json!({})).await?.status, 403);
    assert_eq!(it.send("POST", &revoke, json!({})).await?.status, 204);
    assert!(it.get("/api/devices").await?.json()[0]["revoked_at"].is_i64());
    assert!(matches!(
        transport::sync_once(&store).await,
        Err(omkijken_core::Error::Revoked)
    ));
    assert!(store.is_wiped(), "the revoked device wiped its store");

    // 6. Settings: lease and retention (the IT admin's), the privacy officer reads them.
    let lease = format!("/api/schools/{SCHOOL}/lease");
    assert_eq!(
        it.send("PUT", &lease, json!({"days": 14})).await?.json()["changed"],
        true
    );
    assert_eq!(
        it.send("PUT", &lease, json!({"days": 14})).await?.json()["changed"],
        false
    );
    assert_eq!(
        fg.send("PUT", &lease, json!({"days": 1})).await?.status,
        403
    );
    let ret = format!("/api/schools/{SCHOOL}/retention");
    let mut terms = it.get(&ret).await?.json();
    assert_eq!(terms["pupil_file_years"], 2);
    terms["pupil_file_years"] = json!(3);
    assert_eq!(
        it.send("PUT", &ret, terms.clone()).await?.json()["changed"],
        true
    );
    assert_eq!(fg.get(&ret).await?.json()["pupil_file_years"], 3);
    terms["school_year_ends"] = json!("13-45");
    assert_eq!(it.send("PUT", &ret, terms).await?.status, 400);

    // 7. The audit log: the privacy officer's, by pupil, staff member and period.
    assert_eq!(it.get("/api/audit?staff=m-jansen").await?.status, 403);
    let rows = fg.get(&format!("/api/audit?staff={MENTOR}")).await?.json();
    let actions: Vec<&str> = rows
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"code_issued") && actions.contains(&"enroll"),
        "{actions:?}"
    );
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let yesterday = today.yesterday()?;
    let period = fg
        .get(&format!(
            "/api/audit?staff={MENTOR}&from={yesterday}&to={today}"
        ))
        .await?
        .json();
    assert_eq!(
        period.as_array().map(Vec::len),
        rows.as_array().map(Vec::len)
    );
    let before = fg
        .get(&format!("/api/audit?staff={MENTOR}&to={yesterday}"))
        .await?
        .json();
    assert_eq!(before, json!([]));
    assert_eq!(fg.get("/api/audit?pupil=x&staff=y").await?.status, 400);
    // Every console call of the IT admin is in the log, with the operation.
    let console_rows = fg.get("/api/audit?staff=admin:anna").await?.json();
    let ops: Vec<&str> = console_rows
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    for op in [
        "sign_in",
        "create_school",
        "roster_preview",
        "import_roster",
        "enrollment",
        "revoke",
        "set_lease",
        "set_retention",
        "refused:audit",
    ] {
        assert!(ops.contains(&op), "{op} not in {ops:?}");
    }
    // Refused sign-ins too (the name only because it is an account's).
    let failed = fg.get("/api/audit?action=console").await?.json();
    assert!(
        failed
            .as_array()
            .context("rows")?
            .iter()
            .any(|r| r["kind"] == "sign_in_failed" && r["user"] == "admin:anna"),
        "{failed}"
    );

    // 8. Inzage export and erasure: the privacy officer's.
    let export = format!("/api/schools/{SCHOOL}/pupils/{PUPIL_IN_CARE}/export");
    assert_eq!(it.send("POST", &export, json!({})).await?.status, 403);
    let pdf = fg.send("POST", &export, json!({})).await?;
    assert_eq!(pdf.status, 200);
    assert!(pdf.body.starts_with(b"%PDF"), "a PDF");
    let erase = format!("/api/schools/{SCHOOL}/pupils/{PUPIL_IN_CARE}/erase");
    assert_eq!(it.send("POST", &erase, json!({})).await?.status, 403);
    assert_eq!(
        fg.send_without_csrf("POST", &erase, json!({}))
            .await?
            .status,
        403
    );
    let erased = fg.send("POST", &erase, json!({})).await?;
    assert_eq!(erased.status, 200);
    assert!(erased.json()["documents"].is_u64());
    let pupil_rows = fg
        .get(&format!("/api/audit?pupil={PUPIL_IN_CARE}"))
        .await?
        .json();
    let pupil_actions: Vec<&str> = pupil_rows
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(pupil_actions.contains(&"export"), "{pupil_actions:?}");

    // 9. Backups: started and listed (the IT admin's).
    assert_eq!(
        fg.send("POST", "/api/backups", json!({})).await?.status,
        403
    );
    let b = it.send("POST", "/api/backups", json!({})).await?;
    assert_eq!(b.status, 201, "{}", String::from_utf8_lossy(&b.body));
    let path = b.json()["path"].as_str().context("path")?.to_string();
    assert!(std::path::Path::new(&path).exists());
    let list = it.get("/api/backups").await?.json();
    assert!(
        list.as_array()
            .context("list")?
            .iter()
            .any(|x| x["path"] == path && x["present"] == true)
    );

    // 10. Health, the daily chart's numbers, the OpenAPI document.
    let h = fg.get("/api/health").await?.json();
    assert_eq!(
        (h["status"].as_str(), h["storage"].as_str()),
        (Some("ok"), Some("sqlite"))
    );
    let days = it.get("/api/stats/daily").await?.json();
    let last = &days["days"][13];
    assert_eq!(last["day"], json!(today.to_string()));
    assert!(last["deliveries"].as_u64().unwrap_or(0) > 0, "{days}");
    // Every answer forbids scripts, framing and caching.
    let page = it.get("/devices").await?;
    let csp = page.header("content-security-policy").context("CSP")?;
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // The devices table shows the outbox the (now revoked) phone last reported.
    assert!(page.text().contains("alles verstuurd"), "{}", page.text());
    let doc = http(addr, "GET", "/api/openapi.json", None, None, None).await?;
    assert_eq!(doc.status, 200);
    assert_eq!(
        String::from_utf8(doc.body)?,
        console::api::openapi_document()
    );

    // 11. Sign out: the session is gone.
    assert_eq!(
        it.send("DELETE", "/api/session", json!({})).await?.status,
        204
    );
    assert_eq!(it.get("/api/devices").await?.status, 401);
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, addr) = console_server(dir.path(), |c| {
        c.session_ttl = Duration::from_millis(700);
    })
    .await?;
    let it = Admin::sign_in(addr, IT).await?;
    assert_eq!(it.get("/api/schools").await?.status, 200);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(it.get("/api/schools").await?.status, 401);
    assert_eq!(
        it.send("POST", "/api/schools", json!({"id": "x", "name": "x"}))
            .await?
            .status,
        401
    );
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_throttled_even_for_the_right_password() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, addr) = console_server(dir.path(), |c| {
        c.max_failures = 3;
        c.failure_window = Duration::from_secs(600);
    })
    .await?;
    let wrong = json!({"name": IT.0, "password": "geraden-wachtwoord"});
    for _ in 0..3 {
        let r = http(addr, "POST", "/api/session", None, None, Some(&wrong)).await?;
        assert_eq!(r.status, 401);
    }
    let right = json!({"name": IT.0, "password": IT.1});
    let r = http(addr, "POST", "/api/session", None, None, Some(&right)).await?;
    assert_eq!(r.status, 429, "throttled");
    assert!(r.header("retry-after").is_some());
    assert!(r.header("set-cookie").is_none());
    // The address is locked out too: the other account cannot be tried from it either.
    let other = json!({"name": FG.0, "password": FG.1});
    assert_eq!(
        http(addr, "POST", "/api/session", None, None, Some(&other))
            .await?
            .status,
        429
    );
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_sign_in_is_off_unless_configured_and_refuses_a_forged_callback()
-> Result<()> {
    // Without an identity provider: no such sign-in.
    let dir = tempfile::tempdir()?;
    let (server, addr) = console_server(dir.path(), |_| {}).await?;
    assert_eq!(
        http(addr, "GET", "/oidc/login", None, None, None)
            .await?
            .status,
        404
    );
    let page = http(addr, "GET", "/login", None, None, None).await?;
    assert!(!String::from_utf8_lossy(&page.body).contains("/oidc/login"));
    server.handle.shutdown().await?;

    // With one: a callback whose state this server never handed out is refused before the
    // provider is asked anything (the issuer here does not even answer), and audited.
    let dir = tempfile::tempdir()?;
    let (server, addr) = console_server(dir.path(), |c| {
        c.oidc = Some(console::oidc::OidcSettings {
            issuer: "http://127.0.0.1:9".into(),
            client_id: "omkijken-console".into(),
            client_secret: Some("geheim".into()),
            redirect_url: "http://127.0.0.1:9/oidc/callback".into(),
            claim: "preferred_username".into(),
            device_redirect_url: None,
        });
    })
    .await?;
    let page = http(addr, "GET", "/login", None, None, None).await?;
    assert!(String::from_utf8_lossy(&page.body).contains("/oidc/login"));
    let forged = http(
        addr,
        "GET",
        "/oidc/callback?code=gestolen&state=verzonnen",
        None,
        None,
        None,
    )
    .await?;
    assert_eq!(forged.status, 401);
    assert!(forged.header("set-cookie").is_none());
    let fg = Admin::sign_in(addr, FG).await?;
    let rows = fg.get("/api/audit?action=console").await?.json();
    assert!(
        rows.as_array()
            .context("rows")?
            .iter()
            .any(|r| r["kind"] == "sign_in_oidc_failed"),
        "{rows}"
    );
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrollment_qr_code_pins_the_schools_own_authority() -> Result<()> {
    // The school's own authority, as `serve --school-ca` reads it.
    let dir = tempfile::tempdir()?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_pem = params.self_signed(&key)?.pem();
    let ca_file = dir.path().join("school-ca.pem");
    std::fs::write(&ca_file, &ca_pem)?;
    let fingerprint = omkijken_server::tls::ca_sha256(&ca_file)?;
    let (server, addr) =
        console_server(dir.path(), |c| c.ca_sha256 = Some(fingerprint.clone())).await?;
    server
        .handle
        .admin()
        .create_school(SCHOOL, "De Linde")
        .await?;
    server
        .handle
        .admin()
        .import_roster(SCHOOL, &roster_csv())
        .await?;
    let it = Admin::sign_in(addr, IT).await?;
    let e = it
        .send(
            "POST",
            &format!("/api/schools/{SCHOOL}/enrollments"),
            json!({"user": TEACHER}),
        )
        .await?
        .json();
    let payload = e["payload"].as_str().context("payload")?;
    let invite = omkijken_core::invite::EnrollmentInvite::parse(payload)?;
    assert_eq!(invite.ca_sha256.as_deref(), Some(fingerprint.as_str()));

    // 1. A phone that does not trust that authority refuses the invite before it sends
    //    anything: the code stays unspent.
    let stranger = Store::open_with(dir.path().join("a.db"), KEY, StoreOptions::default())?;
    let err = transport::enroll_with_invite(payload, "telefoon", &stranger)
        .await
        .unwrap_err();
    assert!(matches!(err, omkijken_core::Error::Invalid(_)), "{err:?}");
    assert!(stranger.identity()?.is_none());
    // 2. Trusting another authority does not help.
    let other_key = rcgen::KeyPair::generate()?;
    let mut other = rcgen::CertificateParams::new(Vec::<String>::new())?;
    other.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    transport::trust_certificate(&stranger, &other.self_signed(&other_key)?.pem())?;
    assert!(
        transport::enroll_with_invite(payload, "telefoon", &stranger)
            .await
            .is_err()
    );
    // 3. A phone given the school's authority enrolls with the same, still unspent, code.
    let phone = Store::open_with(dir.path().join("b.db"), KEY, StoreOptions::default())?;
    transport::trust_certificate(&phone, &ca_pem)?;
    let who = transport::enroll_with_invite(payload, "telefoon", &phone).await?;
    assert_eq!(who.user, TEACHER);
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_enrollment_through_the_provider_checks_its_input_before_anything_else() -> Result<()>
{
    let challenge =
        omkijken_core::invite::oidc::challenge(&omkijken_core::invite::oidc::new_verifier());
    let start = |c: &str, r: &str| format!("/v1/oidc/enroll?challenge={c}&return={r}");
    // Without an identity provider the endpoint is not there.
    let dir = tempfile::tempdir()?;
    let (server, _) = console_server(dir.path(), |_| {}).await?;
    let sync = server.handle.addr();
    let r = http(
        sync,
        "GET",
        &start(&challenge, "nl.school.app%3A%2Fterug"),
        None,
        None,
        None,
    )
    .await?;
    assert_eq!(r.status, 404);
    server.handle.shutdown().await?;

    // With one (that does not even answer): a challenge that is no SHA-256, or a return URL
    // a browser must not be sent to with the outcome, is refused before it is asked.
    let dir = tempfile::tempdir()?;
    let (server, _) = console_server(dir.path(), |c| {
        c.oidc = Some(console::oidc::OidcSettings {
            issuer: "http://127.0.0.1:9".into(),
            client_id: "omkijken".into(),
            client_secret: None,
            redirect_url: "http://127.0.0.1:9/oidc/callback".into(),
            claim: "preferred_username".into(),
            device_redirect_url: Some("http://127.0.0.1:9/v1/oidc/callback".into()),
        });
    })
    .await?;
    let sync = server.handle.addr();
    for (c, r) in [
        ("abc", "nl.school.app%3A%2Fterug"),
        (challenge.as_str(), "http%3A%2F%2Fevil.example%2Fsteal"),
        (challenge.as_str(), "javascript%3Aalert(1)"),
    ] {
        let a = http(sync, "GET", &start(c, r), None, None, None).await?;
        assert_eq!(a.status, 400, "{c} {r}");
    }
    // A callback whose state was never handed out: refused, no redirect anywhere.
    let a = http(
        sync,
        "GET",
        "/v1/oidc/callback?code=x&state=y",
        None,
        None,
        None,
    )
    .await?;
    assert_eq!(a.status, 400);
    assert!(a.header("location").is_none());
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_backups_and_privacy_pages_check_role_and_csrf_token() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, addr) = console_server(dir.path(), |_| {}).await?;
    let it = Admin::sign_in(addr, IT).await?;
    let fg = Admin::sign_in(addr, FG).await?;
    let school = json!({"id": SCHOOL, "name": "Basisschool De Linde"});
    assert_eq!(it.send("POST", "/api/schools", school).await?.status, 201);
    let r = it
        .send(
            "POST",
            &format!("/api/schools/{SCHOOL}/roster"),
            json!({"csv": roster_csv()}),
        )
        .await?;
    assert_eq!(r.status, 200);

    // Schools and health: any role; the settings link is the IT admin's.
    let page = it.get("/schools").await?;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("id=\"health-status\"") && page.text().contains(SCHOOL));
    assert!(page.text().contains("/settings?school="));
    let page = fg.get("/schools").await?;
    assert_eq!(page.status, 200);
    assert!(page.text().contains(SCHOOL) && !page.text().contains("/settings?school="));
    assert!(
        page.text().contains("href=\"/privacy\"") && !page.text().contains("href=\"/backups\"")
    );
    assert_eq!(
        http(addr, "GET", "/schools", None, None, None)
            .await?
            .status,
        303,
        "no session: to the sign-in page"
    );

    // Settings: the IT admin's; a post without the token (or of the other role) changes nothing.
    let settings = format!("/settings?school={SCHOOL}");
    assert_eq!(fg.get(&settings).await?.status, 403);
    let page = it.get(&settings).await?;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("name=\"days\""), "{}", page.text());
    let lease = |csrf: &'static str| [("school", SCHOOL), ("days", "21"), ("csrf", csrf)];
    let r = post_form(addr, "/settings/lease", &it.cookie, &lease("")).await?;
    assert_eq!(r.status, 403, "no CSRF token");
    let wrong = post_form(addr, "/settings/lease", &it.cookie, &lease("verkeerd")).await?;
    assert_eq!(wrong.status, 403, "wrong CSRF token");
    let fg_lease = [
        ("school", SCHOOL),
        ("days", "21"),
        ("csrf", fg.csrf.as_str()),
    ];
    assert_eq!(
        post_form(addr, "/settings/lease", &fg.cookie, &fg_lease)
            .await?
            .status,
        403
    );
    assert!(!it.get(&settings).await?.text().contains("value=\"21\""));
    let it_lease = [
        ("school", SCHOOL),
        ("days", "21"),
        ("csrf", it.csrf.as_str()),
    ];
    let r = post_form(addr, "/settings/lease", &it.cookie, &it_lease).await?;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("id=\"saved\"") && r.text().contains("value=\"21\""));
    let terms = [
        ("school", SCHOOL),
        ("pupil_file_years", "3"),
        ("incident_years", ""),
        ("meldcode_case_years", "20"),
        ("school_year_ends", "07-31"),
        ("csrf", it.csrf.as_str()),
    ];
    let r = post_form(addr, "/settings/retention", &it.cookie, &terms).await?;
    assert_eq!(r.status, 200);
    assert_eq!(
        fg.get(&format!("/api/schools/{SCHOOL}/retention"))
            .await?
            .json()["meldcode_case_years"],
        20
    );
    let mut bad = terms;
    bad[4] = ("school_year_ends", "13-45");
    assert_eq!(
        post_form(addr, "/settings/retention", &it.cookie, &bad)
            .await?
            .status,
        400
    );

    // Backups: the IT admin's.
    assert_eq!(fg.get("/backups").await?.status, 403);
    assert!(
        it.get("/backups")
            .await?
            .text()
            .contains("id=\"no-backups\"")
    );
    let r = post_form(addr, "/backups", &it.cookie, &[("csrf", "")]).await?;
    assert_eq!(r.status, 403, "no CSRF token");
    let r = post_form(addr, "/backups", &fg.cookie, &[("csrf", fg.csrf.as_str())]).await?;
    assert_eq!(r.status, 403, "role");
    let r = post_form(addr, "/backups", &it.cookie, &[("csrf", it.csrf.as_str())]).await?;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("id=\"backup-done\""));
    assert_eq!(r.text().matches("class=\"backup\"").count(), 1);
    assert!(
        !r.text().contains(&dir.path().display().to_string()),
        "no server paths"
    );

    // Privacy: the privacy officer's; the erasure needs the pupil id typed again.
    assert_eq!(it.get("/privacy").await?.status, 403);
    assert_eq!(fg.get("/privacy").await?.status, 200);
    let form = pupil_form;
    let r = post_form(addr, "/privacy/export", &it.cookie, &form(&it.csrf, None)).await?;
    assert_eq!(r.status, 403, "role");
    let r = post_form(addr, "/privacy/export", &fg.cookie, &form("", None)).await?;
    assert_eq!(r.status, 403, "no CSRF token");
    let pdf = post_form(addr, "/privacy/export", &fg.cookie, &form(&fg.csrf, None)).await?;
    assert_eq!(pdf.status, 200);
    assert!(pdf.body.starts_with(b"%PDF"));
    assert!(
        pdf.header("content-disposition")
            .is_some_and(|d| d.contains("attachment"))
    );
    let r = post_form(
        addr,
        "/privacy/erase",
        &it.cookie,
        &form(&it.csrf, Some(PUPIL_IN_CARE)),
    )
    .await?;
    assert_eq!(r.status, 403, "role");
    let r = post_form(
        addr,
        "/privacy/erase",
        &fg.cookie,
        &form("", Some(PUPIL_IN_CARE)),
    )
    .await?;
    assert_eq!(r.status, 403, "no CSRF token");
    let r = post_form(addr, "/privacy/erase", &fg.cookie, &form(&fg.csrf, None)).await?;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("id=\"erase-now\"") && !r.text().contains("id=\"erased\""));
    let r = post_form(
        addr,
        "/privacy/erase",
        &fg.cookie,
        &form(&fg.csrf, Some("eck-9999")),
    )
    .await?;
    assert_eq!(r.status, 400, "the id typed again does not match");
    let rows = fg
        .get(&format!("/api/audit?pupil={PUPIL_IN_CARE}&action="))
        .await?
        .json();
    assert!(
        !rows
            .as_array()
            .context("rows")?
            .iter()
            .any(|r| r["action"] == "erase"),
        "nothing erased yet: {rows}"
    );
    let r = post_form(
        addr,
        "/privacy/erase",
        &fg.cookie,
        &form(&fg.csrf, Some(PUPIL_IN_CARE)),
    )
    .await?;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("id=\"erased\""));

    // Every page call is audited as the API audits it.
    let rows = fg.get("/api/audit?action=console").await?.json();
    let kinds: Vec<&str> = rows
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    for op in [
        "page_schools",
        "page_settings",
        "refused:page_settings",
        "set_lease",
        "refused:set_lease",
        "set_retention",
        "page_backups",
        "backup",
        "refused:backup",
        "page_privacy",
        "refused:page_privacy",
        "export_pupil",
        "refused:export_pupil",
        "page_erase_confirm",
        "erase_pupil_unconfirmed",
        "erase_pupil",
        "refused:erase_pupil",
    ] {
        assert!(kinds.contains(&op), "{op} not in {kinds:?}");
    }
    server.handle.shutdown().await?;
    Ok(())
}

/// The form of the privacy page's export and erasure (with `confirm`, the erasure's second step).
fn pupil_form<'a>(csrf: &'a str, confirm: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("school", SCHOOL), ("pupil", PUPIL_IN_CARE), ("csrf", csrf)];
    if let Some(c) = confirm {
        f.push(("confirm", c));
    }
    f
}
