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

mod admin_commands;
mod cli;

use admin_commands::run_admin;
use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command, settings};
use omkijken_server::server;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
