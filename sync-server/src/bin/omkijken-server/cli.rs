//! The command line: flags, environment variables and their defaults, declared once
//! (the store flags are shared by `serve` and `admin`), and the settings they make.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use omkijken_server::server::Settings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "omkijken-server", version, about = "Omkijken sync server")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the store is and how it is opened (serve and admin alike).
#[derive(Args, Debug)]
pub(crate) struct StoreArgs {
    /// Data directory (created private, 0700, if missing; an existing one must not be open
    /// to its group or others).
    #[arg(long, env = "OMKIJKEN_DATA", default_value = "./omkijken-data")]
    pub(crate) data: PathBuf,
    /// PostgreSQL database shared by several server nodes (postgres://USER@HOST:PORT/DB)
    /// instead of the SQLite store in --data. A host that is not loopback gets TLS with a
    /// verified certificate (plain only with ?sslmode=disable); on loopback,
    /// ?sslmode=require asks for it.
    #[arg(long, env = "OMKIJKEN_DATABASE", hide_env_values = true)]
    pub(crate) database: Option<String>,
    /// PEM file of the authority that signed the database's certificate, trusted besides
    /// the public web roots.
    #[arg(long, env = "OMKIJKEN_DATABASE_CA")]
    pub(crate) database_ca: Option<PathBuf>,
    /// The store key file (default: omkijken.key in the data directory, created with a
    /// random key on the first start). OMKIJKEN_DB_KEY, a passphrase, takes precedence.
    #[arg(long, env = "OMKIJKEN_DB_KEY_FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// Keep the SQLite store unencrypted (not recommended: it holds care notes).
    #[arg(long, env = "OMKIJKEN_PLAIN_STORE", conflicts_with = "key_file")]
    pub(crate) plain_store: bool,
}

/// Connection caps and timeouts (see the README's "Security"). Durations: `10s`, `500ms`,
/// `2m`, or seconds.
#[derive(Args, Debug)]
pub(crate) struct LimitArgs {
    /// Open connections in total (lowered to fit the open-files limit).
    #[arg(long, env = "OMKIJKEN_MAX_CONNECTIONS", default_value_t = 4096)]
    pub(crate) max_connections: usize,
    /// Open connections from one client address (a school behind one NAT address counts
    /// once; an IPv6 /64 counts as one address).
    #[arg(long, default_value_t = 512)]
    #[arg(env = "OMKIJKEN_MAX_CONNECTIONS_PER_ADDRESS")]
    pub(crate) max_connections_per_address: usize,
    /// From connecting to a complete request head (TLS handshake included).
    #[arg(long, env = "OMKIJKEN_HEADER_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub(crate) header_timeout: Duration,
    /// A keep-alive HTTP connection with no request is closed after this.
    #[arg(long, env = "OMKIJKEN_IDLE_TIMEOUT", default_value = "60s", value_parser = duration)]
    pub(crate) idle_timeout: Duration,
    /// After the WebSocket upgrade, the first frame (hello, enroll) must come within this.
    #[arg(long, env = "OMKIJKEN_HELLO_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub(crate) hello_timeout: Duration,
    /// A WebSocket session that sends nothing (not even a pong: the server pings every
    /// third of this) is closed after this.
    #[arg(long, default_value = "90s", value_parser = duration)]
    #[arg(env = "OMKIJKEN_SESSION_IDLE_TIMEOUT")]
    pub(crate) session_idle_timeout: Duration,
    /// Bytes queued for one device before it is disconnected as too slow (`64MiB`,
    /// `512KiB`, or bytes).
    #[arg(long, env = "OMKIJKEN_MAX_QUEUED_BYTES", default_value = "64MiB", value_parser = size)]
    pub(crate) max_queued_bytes: usize,
    /// Frames per second one connection may send (a burst of four seconds' worth);
    /// faster ones are slowed down.
    #[arg(long, env = "OMKIJKEN_FRAMES_PER_SEC", default_value_t = 200)]
    pub(crate) frames_per_sec: u32,
    /// Bytes per second one connection may send (a burst of four seconds' worth).
    #[arg(long, env = "OMKIJKEN_BYTES_PER_SEC", default_value = "32MiB", value_parser = size)]
    pub(crate) bytes_per_sec: usize,
    /// Enrollment attempts per minute from one address (also the burst); past it attempts
    /// wait for their turn, or are refused (429) when that would take over 5 s.
    #[arg(long, default_value_t = 30)]
    #[arg(env = "OMKIJKEN_ENROLL_PER_ADDRESS_PER_MINUTE")]
    pub(crate) enroll_per_address_per_minute: u32,
    /// Enrollment attempts per second in total (the burst is half a minute's worth).
    #[arg(long, env = "OMKIJKEN_ENROLL_PER_SECOND", default_value_t = 10)]
    pub(crate) enroll_per_second: u32,
}

impl LimitArgs {
    pub(crate) fn limits(&self) -> omkijken_server::net::Limits {
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

/// `s` trimmed, its leading number and the unit after it (`bare` when there is none), or
/// that `s` is not a `what`.
fn number_and_unit<'a, N: std::str::FromStr>(
    s: &'a str,
    bare: &'a str,
    what: &str,
) -> Result<(&'a str, N, &'a str), String> {
    let s = s.trim();
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, bare),
    };
    let n = n.parse().map_err(|_| format!("not a {what}: {s}"))?;
    Ok((s, n, unit))
}

/// `10s`, `500ms`, `2m`, `1h`, or a number of seconds.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    let (s, n, unit) = number_and_unit::<u64>(s, "s", "duration")?;
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
pub(crate) fn size(s: &str) -> Result<usize, String> {
    let (s, n, unit) = number_and_unit::<usize>(s, "", "size")?;
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
pub(crate) struct ConsoleArgs {
    /// Serve the admin console (web pages and JSON API) on this address; without a value
    /// on 127.0.0.1:8081 (loopback: reach it through an SSH tunnel or a proxy you trust).
    /// Off unless given.
    #[arg(
        long,
        env = "OMKIJKEN_ADMIN_LISTEN",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:8081"
    )]
    pub(crate) admin_listen: Option<SocketAddr>,
    /// The server's URL as devices reach it (https://omkijken.school.nl), written into
    /// enrollment QR codes (default: the listen address).
    #[arg(long, env = "OMKIJKEN_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// PEM of the school's own certificate authority, when the server's certificate comes
    /// from one: its SHA-256 goes into enrollment QR codes, and the app enrolls only when it
    /// trusts that authority.
    #[arg(long, env = "OMKIJKEN_SCHOOL_CA")]
    pub(crate) school_ca: Option<PathBuf>,
    /// Where backups started from the console go (not the data directory).
    #[arg(long, env = "OMKIJKEN_BACKUP_DIR")]
    pub(crate) backup_dir: Option<PathBuf>,
    /// How long a console session lasts.
    #[arg(long, env = "OMKIJKEN_ADMIN_SESSION", default_value = "8h", value_parser = duration)]
    pub(crate) admin_session: Duration,
    /// Mark the session cookie Secure (the console is served behind HTTPS).
    #[arg(long, env = "OMKIJKEN_ADMIN_SECURE_COOKIE")]
    pub(crate) admin_secure_cookie: bool,
    /// The console's URL as browsers reach it (https://beheer.school.nl), for the identity
    /// provider's callback (default: http:// and --admin-listen).
    #[arg(long, env = "OMKIJKEN_ADMIN_URL")]
    pub(crate) admin_url: Option<String>,
    /// Sign in to the console through the school's identity provider (OIDC issuer URL);
    /// its client secret comes from OMKIJKEN_OIDC_CLIENT_SECRET. The provider's user signs
    /// in as the admin account of the same name (--oidc-claim).
    #[arg(long, env = "OMKIJKEN_OIDC_ISSUER", requires = "oidc_client_id")]
    pub(crate) oidc_issuer: Option<String>,
    /// The console's client id at the identity provider.
    #[arg(long, env = "OMKIJKEN_OIDC_CLIENT_ID")]
    pub(crate) oidc_client_id: Option<String>,
    /// The ID token claim naming the admin account: preferred_username, email or sub.
    #[arg(
        long,
        env = "OMKIJKEN_OIDC_CLAIM",
        default_value = "preferred_username"
    )]
    pub(crate) oidc_claim: String,
    /// Devices may also enroll by their user signing in to the identity provider on the
    /// phone (the claim names the staff id): register PUBLIC_URL/v1/oidc/callback
    /// (--public-url, default the listen address) at the provider too.
    #[arg(long, env = "OMKIJKEN_OIDC_DEVICES", requires = "oidc_issuer")]
    pub(crate) oidc_devices: bool,
}

impl ConsoleArgs {
    pub(crate) fn settings(
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
pub(crate) enum RoleArg {
    /// Roster, enrollment, devices, settings, backups; no care content.
    ItAdmin,
    /// The audit log, inzage exports, erasure.
    PrivacyOfficer,
}

// Parsed once at startup: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
pub(crate) enum Format {
    Csv,
    Json,
}

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCheck {
    /// Check that no audit row was changed, removed or inserted: every row's hash links it
    /// to the one before. Reports the first broken link (exit status 1) and the head.
    Verify,
}

#[derive(Subcommand, Debug)]
pub(crate) enum AdminCommand {
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

pub(crate) fn settings(store: StoreArgs) -> Settings {
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
