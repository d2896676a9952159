//! Interop with the real automerge-repo: an app built on `@automerge/automerge-repo` 2.5.6
//! (JavaScript, its stock WebSocket client adapter; examples/automerge-repo-client) and one
//! built on samod (Rust; examples/samod-client) connect to `/v1/automerge-repo` with a
//! device token, read a signal their user may read, get `unavailable` for one she may not
//! and for an unknown id, write a signal that the care coordinator's native device
//! receives, and get a native device's answer live.
//!
//! They need Node (and the npm packages) or a samod build: run them with
//! scripts/automerge-repo-interop.sh, which installs the packages and builds the samod
//! client, then runs these tests with `--ignored` (scripts/test.sh does so when node is
//! there).

use anyhow::{Context, Result, bail};
use omkijken_core::DocumentId;
use omkijken_core::model::FollowUpKind;
use omkijken_core::transport::SETTING_TOKEN;
use omkijken_server::storage::{AuditAction, AuditFilter};
use omkijken_tests::{
    COORDINATOR, Device, MENTOR, OTHER_PUPIL, PUPIL, PUPIL_IN_CARE, SCHOOL, TEACHER, TestServer,
};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A client whose steps come as JSON lines: a process's stdout (the JavaScript app), or a
/// task's channel (the samod app).
struct Client {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl Client {
    fn spawn(mut cmd: Command) -> Result<Client> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start the client")?;
        let out = child.stdout.take().context("stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Client {
            child: Some(child),
            lines,
        })
    }

    /// The next JSON line (an error if the client ends or says nothing for two minutes).
    async fn next(&mut self) -> Result<serde_json::Value> {
        let rx = std::mem::replace(&mut self.lines, mpsc::channel().1);
        let (rx, line) = tokio::task::spawn_blocking(move || {
            let line = rx.recv_timeout(Duration::from_secs(120));
            (rx, line)
        })
        .await?;
        self.lines = rx;
        match line {
            Ok(l) => {
                println!("client: {l}");
                Ok(serde_json::from_str(&l)?)
            }
            Err(_) => bail!("the client ended or said nothing in time"),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The scene both clients play: returns the ids they need.
struct Scene {
    server: TestServer,
    teacher: Device,
    readable: DocumentId,
    forbidden: DocumentId,
    app_label: &'static str,
    creds: std::path::PathBuf,
    token: String,
    actor: automerge::ActorId,
    _dir: tempfile::TempDir,
}

async fn scene(app_label: &'static str) -> Result<Scene> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("server"), None).await?;
    server.set_up_school().await?;
    // 1. The teacher records a signal about the mentor's pupil and one about another's.
    let teacher = Device::enroll(&server, dir.path(), TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    let readable =
        omkijken_tests::repo_peer::record_signal(&teacher, PUPIL, "Noor viel van het klimrek")?;
    let forbidden =
        omkijken_tests::repo_peer::record_signal(&teacher, OTHER_PUPIL, "Daan zat alleen")?;
    teacher.sync().await?;
    // 2. The mentor enrolls the app's device (its token and actor go to the app).
    let app = Device::enroll(&server, dir.path(), MENTOR, app_label).await?;
    let token = app.store.setting(SETTING_TOKEN)?.context("token")?;
    let actor = app.store.actor().clone();
    let creds = dir.path().join("creds.json");
    std::fs::write(
        &creds,
        serde_json::json!({
            "token": token,
            "actor": actor.to_hex_string(),
            "school": SCHOOL,
            "user": MENTOR,
        })
        .to_string(),
    )?;
    Ok(Scene {
        server,
        teacher,
        readable,
        forbidden,
        app_label,
        creds,
        token,
        actor,
        _dir: dir,
    })
}

/// Steps 3-6, the same for every client: what it read, what it wrote, what came live.
async fn play(scene: &Scene, mut client: Client) -> Result<()> {
    // 3. The app reads the readable signal; the other and an unknown id are unavailable.
    let first = client.next().await?;
    assert_eq!(
        first["read"]["facts"], "Noor viel van het klimrek",
        "{first}"
    );
    assert_eq!(first["read"]["author"], TEACHER);
    assert_eq!(first["forbidden"], "unavailable");
    assert_eq!(first["unknown"], "unavailable");

    // 4. It writes a signal about a pupil in care, then a correction of it; the server says
    //    it holds both.
    let second = client.next().await?;
    assert_eq!(second["serverHasIt"], true, "{second}");
    let created = second["created"].as_str().context("created id")?;
    let created = DocumentId::from_automerge_repo(created)
        .map_err(|_| anyhow::anyhow!("not an automerge-repo id"))?;

    // 5. The care coordinator's native tablet receives it, word for word.
    let dir = tempfile::tempdir()?;
    let tablet =
        Device::enroll(&scene.server, dir.path(), COORDINATOR, "coordinator tablet").await?;
    tablet.sync().await?;
    let signal = tablet.store.signal(created)?;
    assert_eq!(
        signal.facts,
        "Sam vertelde dat hij niet meer naar huis wil 😟"
    );
    // Its later correction, written with the device's actor on the existing document.
    assert_eq!(second["corrected"], true);
    assert_eq!(signal.follow_ups.len(), 1);
    assert_eq!(signal.follow_ups[0].kind, "correction");
    assert_eq!(signal.follow_ups[0].author, MENTOR);
    assert_eq!(
        signal.follow_ups[0].text,
        "Het was in de gymzaal, niet op het plein."
    );

    // 6. She answers the signaller; the app gets it live.
    tablet.store.append_follow_up(
        created,
        FollowUpKind::ToSignaller,
        "Dank je, ik bel vandaag met Sam.",
    )?;
    tablet.sync().await?;
    let third = client.next().await?;
    assert_eq!(
        third["live"],
        serde_json::json!(["Dank je, ik bel vandaag met Sam."]),
        "{third}"
    );

    // 7. Audited like a native device: deliveries of what it read, never of the other.
    let devices = scene.server.handle.admin().devices().await?;
    let app = devices
        .iter()
        .find(|d| d.label == scene.app_label)
        .context("app device")?;
    let rows = scene.server.handle.admin().audit(AuditFilter::All).await?;
    let of = |action: AuditAction, doc: DocumentId| {
        rows.iter()
            .filter(|r| r.action == action && r.document == Some(doc))
            .filter(|r| r.device.as_deref() == Some(app.id.as_str()))
            .count()
    };
    assert!(of(AuditAction::Deliver, scene.readable) >= 1);
    assert_eq!(of(AuditAction::Deliver, scene.forbidden), 0);
    // Two writes: the signal and its correction.
    assert_eq!(of(AuditAction::Write, created), 2);
    // The teacher still does not read the mentor's signal, nor it hers.
    scene.teacher.sync().await?;
    assert!(!scene.teacher.held()?.contains(&created));
    Ok(())
}

fn client_dir(var: &str) -> Result<std::path::PathBuf> {
    let dir = std::env::var(var)
        .with_context(|| format!("{var} is not set: run scripts/automerge-repo-interop.sh"))?;
    Ok(Path::new(&dir).to_path_buf())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node and npm packages: scripts/automerge-repo-interop.sh"]
async fn javascript_automerge_repo_reads_writes_and_gets_changes_live() -> Result<()> {
    let dir = client_dir("OMKIJKEN_AUTOMERGE_REPO_JS")?;
    let scene = scene("mentor automerge-repo app").await?;
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("client.mjs"))
        .arg(format!("ws://{}", scene.server.handle.addr()))
        .arg(&scene.creds)
        .arg(scene.readable.to_automerge_repo())
        .arg(scene.forbidden.to_automerge_repo())
        .arg(PUPIL_IN_CARE)
        .arg("Sam vertelde dat hij niet meer naar huis wil 😟");
    play(&scene, Client::spawn(cmd)?).await
}

/// samod's connection to `/v1/automerge-repo`: tokio-tungstenite (the workspace's, rustls)
/// with the device token as Bearer. (samod's own `tungstenite` feature would bring a second
/// tungstenite and native-tls; its transport takes any stream and sink of messages.)
struct TokenDialer {
    url: String,
    token: String,
}

impl samod::Dialer for TokenDialer {
    type Error = std::convert::Infallible;

    fn url(&self) -> samod::Url {
        samod::Url::parse(&self.url).expect("a URL")
    }

    fn connect(
        &self,
    ) -> futures_util::future::BoxFuture<
        'static,
        Result<samod::Transport, samod::DialError<Self::Error>>,
    > {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http};
        let url = self.url.clone();
        let bearer = format!("Bearer {}", self.token);
        Box::pin(async move {
            let mut req = url
                .into_client_request()
                .map_err(samod::DialError::transient)?;
            req.headers_mut().insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(&bearer).map_err(samod::DialError::transient)?,
            );
            let (ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .map_err(samod::DialError::transient)?;
            let (sink, stream) = ws.split();
            let stream = stream.filter_map(|m| async move {
                match m {
                    Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            });
            let sink = sink
                .with(|b: Vec<u8>| async move { Ok::<_, tungstenite::Error>(Message::binary(b)) });
            Ok(samod::Transport::new(Box::pin(stream), Box::pin(sink)))
        })
    }
}

/// The samod app: the same steps as the JavaScript one (examples/automerge-repo-client), as
/// JSON lines into `tx`.
async fn samod_app(
    url: String,
    token: String,
    actor: automerge::ActorId,
    readable: DocumentId,
    forbidden: DocumentId,
    tx: mpsc::Sender<String>,
) -> Result<()> {
    use futures_util::StreamExt;
    use omkijken_core::doc;
    use omkijken_core::model::Signal;
    let say = |v: serde_json::Value| {
        tx.send(v.to_string())
            .map_err(|_| anyhow::anyhow!("test gone"))
    };
    let repo = samod::Repo::build_tokio().load().await;
    let backoff = samod::BackoffConfig {
        max_retries: Some(3),
        ..Default::default()
    };
    let dialer = repo
        .dial(backoff, std::sync::Arc::new(TokenDialer { url, token }))
        .map_err(|_| anyhow::anyhow!("samod stopped"))?;
    tokio::time::timeout(Duration::from_secs(30), dialer.established())
        .await?
        .map_err(|e| anyhow::anyhow!("samod did not connect: {e:?}"))?;
    let conn = dialer.connection_id().context("connection")?;
    let samod_id = |id: DocumentId| -> Result<samod::DocumentId> {
        id.to_automerge_repo()
            .parse()
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    let find = |id: samod::DocumentId| {
        let f = repo.find(id);
        async move {
            tokio::time::timeout(Duration::from_secs(30), f)
                .await?
                .map_err(|_| anyhow::anyhow!("samod stopped"))
        }
    };
    // 3. Read one, two unavailable.
    let found = find(samod_id(readable)?).await?;
    let read = match found {
        Some(h) => {
            let s: Signal = h.with_document(|d| doc::record(readable, d))?;
            let author = h.with_document(|d| doc::header(readable, d))?.author;
            serde_json::json!({"facts": s.facts, "author": author})
        }
        None => "unavailable".into(),
    };
    let forbidden = find(samod_id(forbidden)?).await?;
    let unknown = find(samod_id(DocumentId::random())?).await?;
    let word = |h: &Option<samod::DocHandle>| if h.is_some() { "found" } else { "unavailable" };
    say(serde_json::json!({
        "read": read,
        "forbidden": word(&forbidden),
        "unknown": word(&unknown),
    }))?;
    // 4. A new signal, written with a session actor of the device's, created in samod; wait
    //    until the server holds our heads.
    let mut session = actor.to_bytes().to_vec();
    session.extend_from_slice(DocumentId::random().as_bytes());
    let signal = omkijken_tests::repo_peer::new_signal(
        &automerge::ActorId::from(session),
        MENTOR,
        PUPIL_IN_CARE,
        "Sam vertelde dat hij niet meer naar huis wil 😟",
    );
    let handle = repo
        .create(signal)
        .await
        .map_err(|_| anyhow::anyhow!("samod stopped"))?;
    tokio::time::timeout(Duration::from_secs(30), handle.they_have_our_changes(conn)).await?;
    let created = DocumentId::from_automerge_repo(&handle.document_id().to_string())
        .map_err(|_| anyhow::anyhow!("samod made an id that is not bs58check of 16 bytes"))?;
    // A later correction, with a fresh session actor of the device's.
    let mut session = actor.to_bytes().to_vec();
    session.extend_from_slice(DocumentId::random().as_bytes());
    let session = automerge::ActorId::from(session);
    let now = omkijken_tests::repo_peer::now_ms();
    handle.with_document(|d| {
        doc::update(created, d, &session, now, |s: &mut Signal| {
            s.follow_ups.push(omkijken_core::model::FollowUp {
                id: DocumentId::random().to_string(),
                author: MENTOR.into(),
                at: now,
                kind: "correction".into(),
                text: "Het was in de gymzaal, niet op het plein.".into(),
            });
            Ok(())
        })
    })?;
    tokio::time::timeout(Duration::from_secs(30), handle.they_have_our_changes(conn)).await?;
    say(serde_json::json!({
        "created": created.to_automerge_repo(),
        "serverHasIt": true,
        "corrected": true,
    }))?;
    // 6. The coordinator's answer, live.
    let mut changes = handle.changes();
    loop {
        let s: Signal = handle.with_document(|d| doc::record(created, d))?;
        let others: Vec<String> = s
            .follow_ups
            .into_iter()
            .filter(|f| f.author != MENTOR)
            .map(|f| f.text)
            .collect();
        if !others.is_empty() {
            say(serde_json::json!({ "live": others }))?;
            break;
        }
        tokio::time::timeout(Duration::from_secs(60), changes.next())
            .await?
            .context("samod stopped")?;
    }
    repo.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samod_reads_writes_and_gets_changes_live() -> Result<()> {
    let scene = scene("mentor samod app").await?;
    let (tx, lines) = mpsc::channel();
    let app = tokio::spawn(samod_app(
        format!("ws://{}/v1/automerge-repo", scene.server.handle.addr()),
        scene.token.clone(),
        scene.actor.clone(),
        scene.readable,
        scene.forbidden,
        tx,
    ));
    let client = Client { child: None, lines };
    let played = play(&scene, client).await;
    if played.is_err() && app.is_finished() {
        // Say why the app stopped, if it did.
        app.await??;
    }
    played
}
