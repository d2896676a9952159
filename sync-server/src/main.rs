//! `omkijken-server`: run the sync server, or administer its data directory.
//!
//! ```text
//! omkijken-server serve [--data DIR | --database URL] [--listen ADDR] [--log-json] [--tls-cert PEM --tls-key PEM]
//! omkijken-server admin [--data DIR | --database URL] create-school --id ID --name NAME
//! omkijken-server admin --data DIR import-roster --school ID FILE.csv
//! omkijken-server admin --data DIR enroll --school ID --user STAFF     # prints a one-time code
//! omkijken-server admin --data DIR devices [--json]
//! omkijken-server admin --data DIR revoke DEVICE
//! omkijken-server admin --data DIR audit (--pupil P | --staff S | --action A) [--format csv|json]
//! omkijken-server admin --data DIR audit verify
//! omkijken-server admin --data DIR erase-pupil --school ID --pupil P
//! omkijken-server admin --data DIR backup --to FILE       # while the server runs
//! omkijken-server admin --data DIR restore --from FILE    # with the server stopped
//! omkijken-server admin --data DIR rotate-key             # with the server stopped
//! omkijken-server admin --database URL after-restore      # after restoring with other tools
//! omkijken-server admin --data DIR add-admin --name NAME --role it-admin|privacy-officer
//! omkijken-server serve --admin-listen [ADDR] [--public-url URL] [--school-ca PEM] [--backup-dir DIR]
//! ```
//!
//! Admin commands may run while the server runs on the same directory: the server picks
//! them up within a second (revoked devices are dropped, roster changes purge and grant).
//! With `--database postgres://...` the store is that PostgreSQL database instead of the
//! SQLite file in the data directory: several server nodes (and admin commands) share it.
//! Settings: flags, else the environment (`OMKIJKEN_DATA`, `OMKIJKEN_DATABASE`,
//! `OMKIJKEN_LISTEN`, `OMKIJKEN_LOG_JSON`), else the defaults. The SQLite store is encrypted:
//! its key comes from `OMKIJKEN_DB_KEY` (never a flag), else the key file (`--key-file`,
//! default `DATA/omkijken.key`, created on the first start); `--plain-store` opts out (see
//! `secure`). The database password comes from `OMKIJKEN_DATABASE_PASSWORD`
//! (or the URL in `OMKIJKEN_DATABASE`), never a flag: it would show in the process list.
//! The log level follows `RUST_LOG` (default `info`).

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use omkijken_server::server::{self, Settings};
use omkijken_server::storage::{AuditFilter, Storage};
use omkijken_server::{admin, backup, dossier, register, retention};
use rand::RngCore;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "omkijken-server", version, about = "Omkijken sync server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the store is and how it is opened (serve and admin alike).
#[derive(Args, Debug)]
struct StoreArgs {
    /// Data directory (created private, 0700, if missing; an existing one must not be open
    /// to its group or others).
    #[arg(long, env = "OMKIJKEN_DATA", default_value = "./omkijken-data")]
    data: PathBuf,
    /// PostgreSQL database shared by several server nodes (postgres://USER@HOST:PORT/DB)
    /// instead of the SQLite store in --data. A host that is not loopback gets TLS with a
    /// verified certificate (plain only with ?sslmode=disable); on loopback,
    /// ?sslmode=require asks for it.
    #[arg(long, env = "OMKIJKEN_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// PEM file of the authority that signed the database's certificate, trusted besides
    /// the public web roots.
    #[arg(long, env = "OMKIJKEN_DATABASE_CA")]
    database_ca: Option<PathBuf>,
    /// The store key file (default: omkijken.key in the data directory, created with a
    /// random key on the first start). OMKIJKEN_DB_KEY, a passphrase, takes precedence.
    #[arg(long, env = "OMKIJKEN_DB_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Keep the SQLite store unencrypted (not recommended: it holds care notes).
    #[arg(long, env = "OMKIJKEN_PLAIN_STORE", conflicts_with = "key_file")]
    plain_store: bool,
}

/// Connection caps and timeouts (see the README's "Security"). Durations: `10s`, `500ms`,
/// `2m`, or seconds.
#[derive(Args, Debug)]
struct LimitArgs {
    /// Open connections in total (lowered to fit the open-files limit).
    #[arg(long, env = "OMKIJKEN_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Open connections from one client address (a school behind one NAT address counts
    /// once; an IPv6 /64 counts as one address).
    #[arg(
        long,
        env = "OMKIJKEN_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 512
    )]
    max_connections_per_address: usize,
    /// From connecting to a complete request head (TLS handshake included).
    #[arg(long, env = "OMKIJKEN_HEADER_TIMEOUT", default_value = "10s", value_parser = duration)]
    header_timeout: Duration,
    /// A keep-alive HTTP connection with no request is closed after this.
    #[arg(long, env = "OMKIJKEN_IDLE_TIMEOUT", default_value = "60s", value_parser = duration)]
    idle_timeout: Duration,
    /// After the WebSocket upgrade, the first frame (hello, enroll) must come within this.
    #[arg(long, env = "OMKIJKEN_HELLO_TIMEOUT", default_value = "10s", value_parser = duration)]
    hello_timeout: Duration,
    /// A WebSocket session that sends nothing (not even a pong: the server pings every
    /// third of this) is closed after this.
    #[arg(
        long,
        env = "OMKIJKEN_SESSION_IDLE_TIMEOUT",
        default_value = "90s",
        value_parser = duration
    )]
    session_idle_timeout: Duration,
    /// Bytes queued for one device before it is disconnected as too slow (`64MiB`,
    /// `512KiB`, or bytes).
    #[arg(long, env = "OMKIJKEN_MAX_QUEUED_BYTES", default_value = "64MiB", value_parser = size)]
    max_queued_bytes: usize,
    /// Frames per second one connection may send (a burst of four seconds' worth);
    /// faster ones are slowed down.
    #[arg(long, env = "OMKIJKEN_FRAMES_PER_SEC", default_value_t = 200)]
    frames_per_sec: u32,
    /// Bytes per second one connection may send (a burst of four seconds' worth).
    #[arg(long, env = "OMKIJKEN_BYTES_PER_SEC", default_value = "32MiB", value_parser = size)]
    bytes_per_sec: usize,
    /// Enrollment attempts per minute from one address (also the burst); past it attempts
    /// wait for their turn, or are refused (429) when that would take over 5 s.
    #[arg(
        long,
        env = "OMKIJKEN_ENROLL_PER_ADDRESS_PER_MINUTE",
        default_value_t = 30
    )]
    enroll_per_address_per_minute: u32,
    /// Enrollment attempts per second in total (the burst is half a minute's worth).
    #[arg(long, env = "OMKIJKEN_ENROLL_PER_SECOND", default_value_t = 10)]
    enroll_per_second: u32,
}

impl LimitArgs {
    fn limits(&self) -> omkijken_server::net::Limits {
        omkijken_server::net::Limits {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            hello_timeout: self.hello_timeout,
            session_idle_timeout: self.session_idle_timeout,
            ping_interval: self.session_idle_timeout / 3,
            max_queued_bytes: self.max_queued_bytes,
            frames_per_sec: self.frames_per_sec,
            bytes_per_sec: self.bytes_per_sec as u64,
            ..Default::default()
        }
    }
}

/// `10s`, `500ms`, `2m`, `1h`, or a number of seconds.
fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = n.parse().map_err(|_| format!("not a duration: {s}"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("not a duration: {s} (use ms, s, m or h)")),
    };
    if d.is_zero() {
        return Err("a timeout must be more than zero".into());
    }
    Ok(d)
}

/// `64MiB`, `512KiB`, `2GiB`, or a number of bytes.
fn size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = n.parse().map_err(|_| format!("not a size: {s}"))?;
    let m = match unit {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "GiB" => 1024 * 1024 * 1024,
        _ => return Err(format!("not a size: {s} (use KiB, MiB or GiB)")),
    };
    Ok(n.saturating_mul(m).max(1))
}

/// The admin console (see the README's "Admin console").
#[derive(Args, Debug)]
struct ConsoleArgs {
    /// Serve the admin console (web pages and JSON API) on this address; without a value
    /// on 127.0.0.1:8081 (loopback: reach it through an SSH tunnel or a proxy you trust).
    /// Off unless given.
    #[arg(
        long,
        env = "OMKIJKEN_ADMIN_LISTEN",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:8081"
    )]
    admin_listen: Option<SocketAddr>,
    /// The server's URL as devices reach it (https://omkijken.school.nl), written into
    /// enrollment QR codes (default: the listen address).
    #[arg(long, env = "OMKIJKEN_PUBLIC_URL")]
    public_url: Option<String>,
    /// PEM of the school's own certificate authority, when the server's certificate comes
    /// from one: its SHA-256 goes into enrollment QR codes, and the app enrolls only when it
    /// trusts that authority.
    #[arg(long, env = "OMKIJKEN_SCHOOL_CA")]
    school_ca: Option<PathBuf>,
    /// Where backups started from the console go (not the data directory).
    #[arg(long, env = "OMKIJKEN_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// How long a console session lasts.
    #[arg(long, env = "OMKIJKEN_ADMIN_SESSION", default_value = "8h", value_parser = duration)]
    admin_session: Duration,
    /// Mark the session cookie Secure (the console is served behind HTTPS).
    #[arg(long, env = "OMKIJKEN_ADMIN_SECURE_COOKIE")]
    admin_secure_cookie: bool,
    /// The console's URL as browsers reach it (https://beheer.school.nl), for the identity
    /// provider's callback (default: http:// and --admin-listen).
    #[arg(long, env = "OMKIJKEN_ADMIN_URL")]
    admin_url: Option<String>,
    /// Sign in to the console through the school's identity provider (OIDC issuer URL);
    /// its client secret comes from OMKIJKEN_OIDC_CLIENT_SECRET. The provider's user signs
    /// in as the admin account of the same name (--oidc-claim).
    #[arg(long, env = "OMKIJKEN_OIDC_ISSUER", requires = "oidc_client_id")]
    oidc_issuer: Option<String>,
    /// The console's client id at the identity provider.
    #[arg(long, env = "OMKIJKEN_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// The ID token claim naming the admin account: preferred_username, email or sub.
    #[arg(
        long,
        env = "OMKIJKEN_OIDC_CLAIM",
        default_value = "preferred_username"
    )]
    oidc_claim: String,
    /// Devices may also enroll by their user signing in to the identity provider on the
    /// phone (the claim names the staff id): register PUBLIC_URL/v1/oidc/callback
    /// (--public-url, default the listen address) at the provider too.
    #[arg(long, env = "OMKIJKEN_OIDC_DEVICES", requires = "oidc_issuer")]
    oidc_devices: bool,
}

impl ConsoleArgs {
    fn settings(
        &self,
        listen: SocketAddr,
        tls: bool,
    ) -> anyhow::Result<omkijken_server::console::ConsoleSettings> {
        let ca_sha256 = match &self.school_ca {
            Some(p) => Some(
                omkijken_server::tls::ca_sha256(p)
                    .with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        };
        let admin_url = self
            .admin_url
            .clone()
            .or_else(|| self.admin_listen.map(|a| format!("http://{a}")))
            .unwrap_or_default();
        let oidc = match (&self.oidc_issuer, &self.oidc_client_id) {
            (Some(issuer), Some(client_id)) => Some(omkijken_server::console::oidc::OidcSettings {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: std::env::var("OMKIJKEN_OIDC_CLIENT_SECRET")
                    .ok()
                    .filter(|s| !s.is_empty()),
                redirect_url: format!("{}/oidc/callback", admin_url.trim_end_matches('/')),
                claim: self.oidc_claim.clone(),
                device_redirect_url: self.oidc_devices.then(|| {
                    let public = self.public_url.clone().unwrap_or_else(|| {
                        format!("{}://{listen}", if tls { "https" } else { "http" })
                    });
                    format!("{}/v1/oidc/callback", public.trim_end_matches('/'))
                }),
            }),
            _ => None,
        };
        Ok(omkijken_server::console::ConsoleSettings {
            oidc,
            listen: self.admin_listen,
            public_url: self.public_url.clone(),
            ca_sha256,
            session_ttl: self.admin_session,
            backup_dir: self.backup_dir.clone(),
            secure_cookie: self.admin_secure_cookie,
            ..Default::default()
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    /// Roster, enrollment, devices, settings, backups; no care content.
    ItAdmin,
    /// The audit log, inzage exports, erasure.
    PrivacyOfficer,
}

// Parsed once at startup: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on.
        #[arg(long, env = "OMKIJKEN_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Log JSON lines instead of human-readable text.
        #[arg(long, env = "OMKIJKEN_LOG_JSON")]
        log_json: bool,
        /// Serve HTTPS/WSS with this certificate chain (PEM); needs --tls-key. Without it
        /// the server speaks plain HTTP (put a TLS-terminating proxy in front).
        #[arg(long, env = "OMKIJKEN_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, env = "OMKIJKEN_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        console: ConsoleArgs,
    },
    /// Administer a data directory or database (works while the server runs).
    Admin {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Csv,
    Json,
}

#[derive(Subcommand, Debug)]
enum AuditCheck {
    /// Check that no audit row was changed, removed or inserted: every row's hash links it
    /// to the one before. Reports the first broken link (exit status 1) and the head.
    Verify,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create a school with an empty roster.
    CreateSchool {
        /// School id (a-z, 0-9, '-', '_', '.').
        #[arg(long)]
        id: String,
        /// School name.
        #[arg(long)]
        name: String,
    },
    /// Import the roster CSV of a school (columns:
    /// type,id,name,group,age_band,in_care,roles,mentors,teaches).
    ImportRoster {
        /// School id.
        #[arg(long)]
        school: String,
        /// CSV file.
        file: PathBuf,
    },
    /// Set the school's offline lease: a device that has not completed a sync for this
    /// many days locks its store until it syncs (0: no lease; default 30).
    Lease {
        /// School id.
        #[arg(long)]
        school: String,
        /// Days.
        #[arg(long)]
        days: u32,
    },
    /// Issue a one-time enrollment code for a staff member (printed once).
    Enroll {
        /// School id.
        #[arg(long)]
        school: String,
        /// Staff id from the roster.
        #[arg(long)]
        user: String,
    },
    /// List devices.
    Devices {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device (it wipes its store on next contact; a live connection is dropped).
    Revoke {
        /// Device id.
        device: String,
    },
    /// Export the audit log of a pupil or a staff member, or of one action (ids only, never
    /// content); `audit verify` checks the log's hash chain. An export is itself audited.
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        check: Option<AuditCheck>,
        /// Pupil id.
        #[arg(long, conflicts_with_all = ["staff", "action"])]
        pupil: Option<String>,
        /// Staff id.
        #[arg(long, conflicts_with = "action")]
        staff: Option<String>,
        /// An action, such as enroll_failed or read_refused (security events).
        #[arg(long)]
        action: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
    },
    /// Back up the store to a new file (a consistent copy, encrypted like the store; works
    /// while the server runs).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the store with a backup (stop the server first; the current store is kept
    /// beside it, renamed). Devices give back what the server acknowledged since.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
    /// List the backups taken with `backup`, with their dates, and those made before an
    /// erasure: they still hold erased data and should be destroyed.
    Backups,
    /// Encrypt the store with a new random key, written to the key file (stop the server
    /// first). With --plain-store: encrypt a plain store. Backups made before keep needing
    /// the old key.
    RotateKey,
    /// After restoring the database with other tools (pg_dump, a file copy): devices
    /// catch up from the start and send again what it lacks (`restore` does this itself).
    AfterRestore,
    /// Erase every document about a pupil (bytes and history); devices purge them.
    ErasePupil {
        /// School id.
        #[arg(long)]
        school: String,
        /// Pupil id.
        #[arg(long)]
        pupil: String,
    },
    /// Erase one record that should never have been written (the wrong pupil); devices
    /// purge it.
    EraseRecord {
        /// School id.
        #[arg(long)]
        school: String,
        /// Document id.
        #[arg(long)]
        document: String,
    },
    /// A school's retention terms: set them, list what goes when (--dry-run), or erase
    /// what expired now (--apply; the server also does this at start and daily).
    Retention {
        /// School id.
        #[arg(long)]
        school: String,
        /// Years the pupil file is kept after the pupil left (default 2).
        #[arg(long)]
        pupil_file_years: Option<u32>,
        /// Years signals are kept after the pupil left (default: as the pupil file).
        #[arg(long)]
        incident_years: Option<u32>,
        /// Years meldcode cases are kept after the pupil left (default: not erased).
        #[arg(long)]
        meldcode_case_years: Option<u32>,
        /// Last day of the school year, MM-DD (default 07-31): thermometer months go after.
        #[arg(long)]
        school_year_ends: Option<String>,
        /// List every document with a term: when it goes, or what holds it.
        #[arg(long)]
        dry_run: bool,
        /// Erase what expired now.
        #[arg(long, conflicts_with = "dry_run")]
        apply: bool,
    },
    /// Export a pupil's dossier for inzage: every shared record, private working notes left
    /// out, as a PDF (FILE) and the same as JSON (FILE with the extension .json). Written to
    /// the audit log.
    ExportPupil {
        /// School id.
        #[arg(long)]
        school: String,
        /// Pupil id.
        #[arg(long)]
        pupil: String,
        /// The PDF to write (must not exist); the JSON goes beside it.
        #[arg(long)]
        to: PathBuf,
        /// Date of the request, YYYY-MM-DD (default: today).
        #[arg(long)]
        requested_on: Option<String>,
    },
    /// The incident register: shared signals per month and category, meldcode cases opened
    /// and closed, as CSV (counts under the school's threshold as "< N").
    Incidents {
        /// School id.
        #[arg(long)]
        school: String,
        /// First month, YYYY-MM.
        #[arg(long)]
        from: String,
        /// Last month, YYYY-MM.
        #[arg(long)]
        to: String,
        /// Set the school's threshold first (default 5; 1 shows every count).
        #[arg(long)]
        set_threshold: Option<u32>,
    },
    /// The school's settings read by every device: the school leader's name and number on
    /// the acute screen, thermometer scales and labels per age band, kindgesprek templates,
    /// cadence, and whether parents' names are recorded. Without options: print them.
    Settings {
        /// School id.
        #[arg(long)]
        school: String,
        /// The school leader's name as the acute screen shows it.
        #[arg(long)]
        leader_name: Option<String>,
        /// The school leader's phone number for the acute screen.
        #[arg(long)]
        leader_phone: Option<String>,
        /// A JSON file of settings (docs/protocol.md, "School settings"): each key it holds
        /// replaces that setting (null: back to the default), the others stay.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The kindgesprek template a new kindgesprek starts from.
        #[arg(long)]
        default_template: Option<String>,
        /// Kindgesprekken a mentor holds with each pupil a year (1-12).
        #[arg(long)]
        conversations_per_year: Option<u32>,
        /// The months the thermometer is taken, e.g. 10,2,6 (empty: every month).
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        thermometer_months: Option<Vec<u32>>,
        /// Record parents' names on an oudercontact (true) or their role only (false, the
        /// default).
        #[arg(long)]
        parent_names: Option<bool>,
        /// Print the settings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create an account of the admin console, or give an existing one a new password and
    /// role. The password is read from OMKIJKEN_ADMIN_PASSWORD, else from the first line of
    /// standard input (never a flag: it would show in the process list); at least 12
    /// characters.
    AddAdmin {
        /// Sign-in name (a-z, 0-9, '-', '_', '.').
        #[arg(long)]
        name: String,
        /// The account's role.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Put a legal hold on a pupil's file (retention erases nothing of it), or lift it.
    Hold {
        /// School id.
        #[arg(long)]
        school: String,
        /// Pupil id.
        #[arg(long)]
        pupil: String,
        /// Lift the hold.
        #[arg(long)]
        release: bool,
    },
}

/// Default log filter. Automerge instruments its load path with info-level spans (one per
/// column parsed); at info they cost the server about a tenth of its CPU on a push.
const DEFAULT_LOG_FILTER: &str = "info,automerge=warn";

fn init_admin_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn init_tracing(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn settings(store: StoreArgs) -> Settings {
    let mut s = Settings::new(store.data);
    s.database_ca = store.database_ca;
    s.db_key = std::env::var("OMKIJKEN_DB_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    s.key_file = store.key_file;
    s.plain_store = store.plain_store;
    s.database = store.database.filter(|d| !d.is_empty());
    s.database_password = std::env::var("OMKIJKEN_DATABASE_PASSWORD")
        .ok()
        .filter(|k| !k.is_empty());
    s
}

fn run_admin(store: StoreArgs, command: AdminCommand) -> anyhow::Result<()> {
    let settings = settings(store);
    match &command {
        AdminCommand::Backup { to } => {
            let r = backup::backup(&settings, to)?;
            println!(
                "backed up {} documents ({} bytes) to {}",
                r.documents,
                r.bytes,
                to.display()
            );
            return Ok(());
        }
        AdminCommand::Backups => {
            let list = backup::list_backups(&settings)?;
            if list.is_empty() {
                println!("no backups recorded");
            }
            for b in list {
                let when = jiff::Timestamp::from_millisecond(b.taken_at)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|_| b.taken_at.to_string());
                let state = match (b.present, b.erased_since) {
                    (false, _) => "gone".to_string(),
                    (true, 0) => "ok".to_string(),
                    (true, n) => {
                        format!("HOLDS ERASED DATA ({n} documents erased since): destroy this file")
                    }
                };
                println!("{when}\t{}\t{state}", b.path);
            }
            return Ok(());
        }
        AdminCommand::Restore { from } => {
            let r = backup::restore(&settings, from)?;
            println!("restored {} documents", r.documents);
            if let Some(kept) = &r.replaced {
                println!("the replaced store is kept as {}", kept.display());
            }
            match &r.carried {
                Some(c) => println!(
                    "carried over from it: {} devices, {} enrollment codes, {} holds, {} audit rows; \
                     {} erasures made since the backup applied again",
                    c.devices, c.codes, c.holds, c.audit, c.erasures
                ),
                None if r.replaced.is_some() => println!(
                    "the replaced store did not open: enroll or revoke again the devices \
                     enrolled or revoked since the backup"
                ),
                None => {}
            }
            println!(
                "start the server; devices send back what it acknowledged since the backup. \
                 Import the roster again if it changed since."
            );
            return Ok(());
        }
        AdminCommand::RotateKey => {
            let r = backup::rotate_key(&settings)?;
            println!(
                "the store ({} documents) is encrypted with a new key, in {}",
                r.documents,
                r.key_file.display()
            );
            if r.old == omkijken_server::secure::KeySource::Environment {
                println!("unset OMKIJKEN_DB_KEY: the key file holds the store's key now");
            }
            println!(
                "keep a copy of the key file apart from the backups; backups made before \
                 still need the old key"
            );
            return Ok(());
        }
        _ => {}
    }
    let mut storage = settings.open_storage().context("opening the store")?;
    let st: &mut dyn Storage = storage.as_mut();
    let now = now_ms();
    match command {
        AdminCommand::CreateSchool { id, name } => {
            admin::create_school(st, now, &id, &name)?;
            println!("created school {id}");
        }
        AdminCommand::ImportRoster { school, file } => {
            let csv = std::fs::read_to_string(&file).context("reading the roster file")?;
            let r = admin::import_roster(st, &writer_actor(), now, &school, &csv)?;
            println!(
                "roster of {school}: {} pupils, {} staff, {} groups; changed: {}; documents with changed access: {}",
                r.pupils, r.staff, r.groups, r.changed, r.bumped
            );
        }
        AdminCommand::Lease { school, days } => {
            let changed = admin::set_offline_lease(st, &writer_actor(), now, &school, days)?;
            println!("offline lease of {school}: {days} days; changed: {changed}");
        }
        AdminCommand::Enroll { school, user } => {
            let ttl = settings.hub.code_ttl_ms;
            let code = admin::issue_code(st, &mut rand::rng(), now, &school, &user, ttl)?;
            println!("{code}");
        }
        AdminCommand::Devices { json } => {
            for d in st.devices()? {
                let revoked = d.revoked_at.map(|_| "revoked").unwrap_or("active");
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "device": d.id, "school": d.school, "user": d.user,
                            "label": d.label, "created_at": d.created_at,
                            "last_seen": d.last_seen, "revoked_at": d.revoked_at,
                        })
                    );
                } else {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        d.id, d.school, d.user, d.label, revoked
                    );
                }
            }
        }
        AdminCommand::Revoke { device } => {
            if admin::revoke(st, now, &device)? {
                println!("revoked {device}");
            } else {
                println!("{device} was revoked already");
            }
        }
        AdminCommand::Audit {
            check: Some(AuditCheck::Verify),
            ..
        } => {
            let v = admin::verify_audit(st)?;
            println!(
                "{} audit rows, {} from before the chain",
                v.rows, v.unlinked
            );
            if let Some((seq, hash)) = &v.head {
                println!(
                    "head: row {seq}, {hash} (note it down: rows cut off the end show only against it)"
                );
            }
            if let Some(seq) = v.broken_at {
                bail!(
                    "the audit log was altered: the link of row {seq} does not match (that row, \
                     or one before it, was changed, removed or inserted)"
                );
            }
            println!("every link holds");
        }
        AdminCommand::Audit {
            check: None,
            pupil,
            staff,
            action,
            format,
        } => {
            let filter = match (pupil, staff, action) {
                (Some(p), None, None) => AuditFilter::Pupil(p),
                (None, Some(s), None) => AuditFilter::Staff(s),
                (None, None, Some(a)) => AuditFilter::Action(
                    omkijken_server::storage::AuditAction::parse(&a)
                        .with_context(|| format!("no such audit action: {a}"))?,
                ),
                _ => bail!("give --pupil, --staff or --action"),
            };
            let rows = admin::export_audit(st, now, &filter)?;
            match format {
                Format::Csv => print!("{}", admin::audit_csv(&rows)?),
                Format::Json => print!("{}", admin::audit_json_lines(&rows)),
            }
        }
        AdminCommand::ErasePupil { school, pupil } => {
            let n = admin::erase_pupil(st, now, &school, &pupil)?;
            println!("erased {n} documents");
        }
        AdminCommand::Retention {
            school,
            pupil_file_years,
            incident_years,
            meldcode_case_years,
            school_year_ends,
            dry_run,
            apply,
        } => {
            if st.school(&school)?.is_none() {
                anyhow::bail!("no such school");
            }
            let mut policy = retention::policy(st, &school)?;
            let r = &mut policy.retention;
            let before = r.clone();
            if let Some(y) = pupil_file_years {
                r.pupil_file_years = y;
            }
            if let Some(y) = incident_years {
                r.incident_years = Some(y);
            }
            if let Some(y) = meldcode_case_years {
                r.meldcode_case_years = Some(y);
            }
            if let Some(d) = school_year_ends {
                r.school_year_ends = d;
            }
            if *r != before {
                retention::set_policy(st, &school, &policy)?;
                println!("retention terms changed");
            }
            let r = &policy.retention;
            println!(
                "pupil file: {} years after leaving; signals: {} years after leaving; \
                 meldcode cases: {}; thermometer: to the end of the school year ({})",
                r.pupil_file_years,
                r.incident_years.unwrap_or(r.pupil_file_years),
                r.meldcode_case_years
                    .map(|y| format!("{y} years after leaving"))
                    .unwrap_or_else(|| "not erased by retention (no term set)".into()),
                r.school_year_ends
            );
            if dry_run {
                let today = jiff::Timestamp::from_millisecond(now)?
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .date();
                for e in retention::schedule(st, &school)? {
                    let when = match e.held {
                        Some(why) => format!("held: {why}"),
                        None if today > e.due => "goes at the next run".into(),
                        None => format!("goes after {}", e.due),
                    };
                    println!("{}\t{}\t{}\t{}\t{when}", e.due, e.kind, e.pupil, e.id);
                }
            }
            if apply {
                let gone = retention::apply(st, now)?;
                println!("erased {} documents", gone.len());
            }
        }
        AdminCommand::EraseRecord { school, document } => {
            let id = document
                .parse()
                .map_err(|_| anyhow::anyhow!("--document is not a document id"))?;
            admin::erase_record(st, now, &school, id)?;
            println!("erased; devices purge it at their next sync");
        }
        AdminCommand::ExportPupil {
            school,
            pupil,
            to,
            requested_on,
        } => {
            let json = to.with_extension("json");
            if to.exists() || json.exists() {
                anyhow::bail!("the export file exists already; give a new name");
            }
            let today = jiff::Timestamp::from_millisecond(now)?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date();
            let requested = match requested_on {
                Some(d) => d
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--requested-on must be YYYY-MM-DD"))?,
                None => today,
            };
            let d = dossier::export(st, now, &school, &pupil, None, requested)?;
            write_private(&to, &d.to_pdf())?;
            write_private(&json, d.to_json().as_bytes())?;
            let n: usize = d.sections.iter().map(|s| s.items.len()).sum();
            println!(
                "wrote {} and {} ({n} records); the export is in the audit log. \
                 The files hold care data: hand them over in person or encrypted.",
                to.display(),
                json.display()
            );
        }
        AdminCommand::Settings {
            school,
            leader_name,
            leader_phone,
            file,
            default_template,
            conversations_per_year,
            thermometer_months,
            parent_names,
            json,
        } => {
            let mut s = admin::school_settings(st, &school)?;
            let before = s.clone();
            if let Some(f) = &file {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                s.merge_json(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            }
            if leader_name.is_some() {
                s.leader_name = leader_name;
            }
            if leader_phone.is_some() {
                s.leader_phone = leader_phone;
            }
            if default_template.is_some() {
                s.default_template = default_template;
            }
            if conversations_per_year.is_some() {
                s.conversations_per_year = conversations_per_year;
            }
            if let Some(m) = thermometer_months {
                s.thermometer_months = m;
            }
            if s != before && admin::set_school_settings(st, &writer_actor(), now, &school, &s)? {
                println!("settings changed; devices get them at their next sync");
            }
            if let Some(names) = parent_names
                && admin::set_parent_names(st, &writer_actor(), now, &school, names)?
            {
                println!("parents' names setting changed; devices get it at their next sync");
            }
            if json {
                println!("{}", s.to_json());
            } else {
                println!(
                    "leader: {}, phone: {}",
                    s.leader_name.as_deref().unwrap_or("(not set)"),
                    s.leader_phone.as_deref().unwrap_or("(not set)")
                );
                println!(
                    "templates: {} of the school, new kindgesprek: {}; {} kindgesprekken a year; \
                     thermometer scales set for: {}; thermometer months: {}",
                    s.templates.len(),
                    s.default_template(),
                    s.conversations_per_year(),
                    if s.thermometer.is_empty() {
                        "none (defaults)".to_string()
                    } else {
                        s.thermometer.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                    if s.thermometer_months.is_empty() {
                        "every month".to_string()
                    } else {
                        s.thermometer_months
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
                println!(
                    "parents' names on an oudercontact: {}",
                    if admin::roster(st, &school)?.parent_names {
                        "recorded"
                    } else {
                        "not recorded (role only)"
                    }
                );
            }
        }
        AdminCommand::Incidents {
            school,
            from,
            to,
            set_threshold,
        } => {
            if st.school(&school)?.is_none() {
                anyhow::bail!("no such school");
            }
            if let Some(t) = set_threshold {
                if t == 0 {
                    anyhow::bail!("the threshold is at least 1");
                }
                let mut p = retention::policy(st, &school)?;
                p.register_threshold = t;
                retention::set_policy(st, &school, &p)?;
            }
            print!("{}", register::build(st, &school, &from, &to)?.to_csv());
        }
        AdminCommand::Hold {
            school,
            pupil,
            release,
        } => {
            retention::set_hold(st, now, &school, &pupil, !release)?;
            println!(
                "{}",
                if release {
                    "hold lifted"
                } else {
                    "hold placed"
                }
            );
        }
        AdminCommand::AddAdmin { name, role } => {
            let password = match std::env::var("OMKIJKEN_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    eprintln!("password (at least 12 characters), then Enter:");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let role = match role {
                RoleArg::ItAdmin => omkijken_server::storage::AdminRole::ItAdmin,
                RoleArg::PrivacyOfficer => omkijken_server::storage::AdminRole::PrivacyOfficer,
            };
            let new = omkijken_server::console::add_admin(st, now, &name, role, &password)?;
            println!(
                "{} admin account {name} ({})",
                if new { "created" } else { "updated" },
                role.as_str()
            );
        }
        AdminCommand::AfterRestore => {
            st.renew_epoch()?;
            println!(
                "new store lineage: devices catch up from the start at their next sync and send \
                 again what the store lacks"
            );
        }
        AdminCommand::Backup { .. }
        | AdminCommand::Restore { .. }
        | AdminCommand::Backups
        | AdminCommand::RotateKey => {
            unreachable!("handled before the store is opened")
        }
    }
    Ok(())
}

/// Write a file only its owner can read (0600 on Unix).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)?;
    Ok(())
}

/// A fresh Automerge actor for one admin write of the roster document (never reused).
fn writer_actor() -> automerge::ActorId {
    let mut actor = [0u8; 16];
    rand::rng().fill_bytes(&mut actor);
    automerge::ActorId::from(actor.as_slice())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Private files whatever the shell's umask; as many connections as the system allows.
    let limits = omkijken_server::secure::harden_process();
    match cli.command {
        Command::Serve {
            store,
            listen,
            log_json,
            tls_cert,
            tls_key,
            limits: limit_args,
            console,
        } => {
            init_tracing(log_json, DEFAULT_LOG_FILTER);
            let mut s = settings(store);
            s.listen = listen;
            s.limits = limit_args.limits();
            s.enroll_limits = omkijken_server::throttle::EnrollLimits {
                per_address_per_minute: limit_args.enroll_per_address_per_minute,
                total_per_second: limit_args.enroll_per_second,
                ..Default::default()
            };
            tracing::info!(
                open_files = ?limits.open_files,
                max_connections = s.limits.effective_max_connections(),
                per_address = s.limits.max_connections_per_address,
                "connection limits"
            );
            s.console = console.settings(s.listen, tls_cert.is_some())?;
            if let (Some(cert), Some(key)) = (tls_cert, tls_key) {
                s.tls = Some(omkijken_server::tls::server_config(&cert, &key)?);
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(s.listen)
                    .await
                    .with_context(|| format!("binding {}", s.listen))?;
                if s.database.is_some() {
                    tracing::info!(addr = %listener.local_addr()?, storage = s.storage_kind(), tls = s.tls.is_some(), "listening");
                } else {
                    tracing::info!(addr = %listener.local_addr()?, data = %s.data_dir.display(), tls = s.tls.is_some(), "listening");
                }
                server::serve(s, listener, shutdown_signal()).await?;
                anyhow::Ok(())
            })
        }
        Command::Admin { store, command } => {
            // Warnings (a key file created) to stderr; stdout is the command's output.
            init_admin_tracing();
            run_admin(store, command)
        }
    }
}
