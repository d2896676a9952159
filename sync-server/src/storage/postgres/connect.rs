//! Connecting to PostgreSQL: the connection settings of a URL, TLS (verified unless the
//! database is on this machine or the URL says otherwise), the session settings every
//! connection gets, and which failures a transaction is retried after.

use super::PostgresStorage;
use super::queries::Statements;
use crate::{Error, Result};
use postgres::config::SslMode;
use postgres::error::SqlState;
use postgres::{Client, NoTls};
use std::path::Path;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How often a transaction that failed on a deadlock or serialization error is retried.
pub(super) const RETRIES: usize = 5;

/// How the server's connections to PostgreSQL are protected, from the URL's `sslmode` and
/// host:
///
/// - A host that is not loopback (any host name but `localhost`, any address outside
///   127.0.0.0/8 and `::1`): TLS with a verified certificate, as under `require`, unless
///   the URL says `sslmode=disable` (then plain TCP, with a warning in the log). With no
///   `sslmode`, or `prefer`, it is `require` ([`secure_default`]).
/// - Loopback or a Unix socket: `disable` and `prefer` (the default) are plain TCP, except
///   that `prefer` with a database authority configured (`--database-ca`) uses TLS verified
///   as under `require`; `require` is TLS.
/// - `require`: TLS, or no connection. The certificate must chain to the public web roots or
///   to the configured authority, and name the host of the URL (the `host`, also when
///   `hostaddr` gives the address): libpq's `verify-full`.
#[derive(Clone)]
pub enum DbTls {
    /// Plain TCP.
    Plain,
    /// TLS with a verified certificate.
    Verified(MakeRustlsConnect),
}

impl std::fmt::Debug for DbTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbTls::Plain => "Plain",
            DbTls::Verified(_) => "Verified",
        })
    }
}

impl DbTls {
    /// The protection `config`'s `sslmode` asks for, trusting `ca` besides the web roots.
    pub fn for_config(config: &postgres::Config, ca: Option<&Path>) -> Result<DbTls> {
        let verified = || -> Result<DbTls> {
            Ok(DbTls::Verified(MakeRustlsConnect::new(
                crate::tls::client_config(ca)?,
            )))
        };
        match config.get_ssl_mode() {
            SslMode::Disable => Ok(DbTls::Plain),
            SslMode::Prefer if ca.is_none() => Ok(DbTls::Plain),
            _ => verified(),
        }
    }
}

/// Whether every host of `config` is this machine: a Unix socket, `localhost`, or a
/// loopback address. The host names decide (they are what a certificate names), not a
/// `hostaddr`.
pub fn is_loopback(config: &postgres::Config) -> bool {
    use postgres::config::Host;
    let hosts = config.get_hosts();
    !hosts.is_empty()
        && hosts.iter().all(|h| match h {
            Host::Tcp(name) => {
                let name = name.trim_start_matches('[').trim_end_matches(']');
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            Host::Unix(_) => true,
        })
}

/// TLS with a verified certificate for a database that is not on this machine, unless the
/// URL says `sslmode=disable` (see [`DbTls`]).
pub fn secure_default(config: &mut postgres::Config) {
    if is_loopback(config) {
        return;
    }
    match config.get_ssl_mode() {
        SslMode::Disable => {
            tracing::warn!(
                "sslmode=disable: the connection to the database is not encrypted (its host \
                 is not this machine)"
            );
        }
        SslMode::Prefer => {
            config.ssl_mode(SslMode::Require);
        }
        _ => {}
    }
}

/// Why a commit attempt failed.
pub(super) enum Fail {
    Pg(postgres::Error),
    Conflict,
    Other(Error),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Other(e)
    }
}

pub(super) fn retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

impl PostgresStorage {
    /// The connection settings of `url` (see [`PostgresStorage::open`]).
    pub(super) fn config(url: &str, password: Option<&str>) -> Result<postgres::Config> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|_| Error::Config("the database URL is not a valid PostgreSQL URL".into()))?;
        secure_default(&mut config);
        if config.get_password().is_none()
            && let Some(p) = password
        {
            config.password(p);
        }
        if config.get_application_name().is_none() {
            config.application_name("omkijken-server");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // Notices ("relation exists, skipping") are of no use in our logs.
        config.notice_callback(|_| {});
        Ok(config)
    }

    /// A new connection with the session settings the storage relies on.
    pub(super) fn connect(config: &postgres::Config, tls: &DbTls) -> Result<Client> {
        let mut client = match tls {
            DbTls::Plain => config.connect(NoTls)?,
            DbTls::Verified(make) => config.connect(make.clone())?,
        };
        // Durable when commit returns: never run with synchronous_commit off, whatever the
        // database's default (stronger settings, like remote_apply, are kept).
        let sc = client.query_one("SHOW synchronous_commit", &[])?;
        if sc.try_get::<_, String>(0)? == "off" {
            client.batch_execute("SET synchronous_commit = on")?;
        }
        // A node cut off in the middle of a commit must not hold the sequence lock (and so
        // every other node's writes) until TCP gives up: our transactions never wait on
        // anything but the database, so one idle for a minute is ended by the server.
        client.batch_execute("SET idle_in_transaction_session_timeout = '60s'")?;
        Ok(client)
    }

    /// The connection, reopened if it broke (the database restarted, a network hiccup).
    pub(super) fn client(&mut self) -> Result<&mut Client> {
        if self.client.is_closed() {
            tracing::warn!("the database connection was closed; reconnecting");
            // A group's transaction was on the old connection.
            self.group.lost |= self.group.open;
            self.client = Self::connect(&self.config, &self.tls)?;
            self.statements = Statements::default();
        }
        Ok(&mut self.client)
    }

    /// After a failed statement: whether the connection is gone (the database restarted,
    /// the network dropped it, an administrator ended the session) rather than the
    /// statement refused. Asks the database only on this error path.
    pub(super) fn connection_lost(&mut self) -> bool {
        self.client.is_closed() || self.client.is_valid(Duration::from_secs(2)).is_err()
    }

    /// Open a new connection in place of a lost one.
    pub(super) fn reconnect(&mut self) -> Result<()> {
        tracing::warn!("the database connection was lost; reconnecting");
        self.group.lost |= self.group.open;
        self.client = Self::connect(&self.config, &self.tls)?;
        self.statements = Statements::default();
        Ok(())
    }
}

#[cfg(test)]
mod tls_default_tests {
    use super::*;

    fn mode(url: &str) -> SslMode {
        PostgresStorage::config(url, None).unwrap().get_ssl_mode()
    }

    #[test]
    fn a_database_elsewhere_gets_verified_tls_unless_disabled() {
        for url in [
            "postgres://u@db.example.org/x",
            "postgres://u@10.0.0.5:5432/x",
            "postgres://u@db.example.org/x?sslmode=prefer",
            "postgres://u@db.example.org/x?hostaddr=127.0.0.1",
            "postgres://u@localhost,db.example.org/x",
        ] {
            assert_eq!(mode(url), SslMode::Require, "{url}");
            let tls = DbTls::for_config(&PostgresStorage::config(url, None).unwrap(), None);
            assert!(matches!(tls, Ok(DbTls::Verified(_))), "{url}");
        }
        let off = "postgres://u@db.example.org/x?sslmode=disable";
        assert_eq!(mode(off), SslMode::Disable);
        assert!(matches!(
            DbTls::for_config(&PostgresStorage::config(off, None).unwrap(), None),
            Ok(DbTls::Plain)
        ));
    }

    #[test]
    fn a_database_on_this_machine_keeps_prefer() {
        for url in [
            "postgres://u@localhost/x",
            "postgres://u@127.0.0.1:5432/x",
            "postgres://u@127.1.2.3/x",
            "postgres://u@[::1]/x",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/x",
        ] {
            assert_eq!(mode(url), SslMode::Prefer, "{url}");
            assert!(matches!(
                DbTls::for_config(&PostgresStorage::config(url, None).unwrap(), None),
                Ok(DbTls::Plain)
            ));
        }
    }
}
