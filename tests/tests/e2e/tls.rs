//! TLS end to end: the server serves HTTPS/WSS with a certificate from the school's own
//! authority; devices that trust that authority enroll and sync over `wss://`, devices that
//! do not are refused by their own TLS check, and plain WebSockets get nothing.

use omkijken_core::store::StoreOptions;
use omkijken_core::transport;
use omkijken_core::{Error, Store};
use omkijken_server::server::{self, Settings};
use omkijken_server::tls;
use omkijken_tests::{KEY, MENTOR, PUPIL, SCHOOL, TEACHER, roster_csv};
use std::path::Path;

/// A school authority and a server certificate for 127.0.0.1 signed by it, as PEM files
/// in `dir`. Returns (authority PEM, certificate path, key path).
fn school_pki(dir: &Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Stichting De Linde test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_cert.pem(), cert_path, key_path)
}

fn store(dir: &Path, name: &str) -> Store {
    Store::open_with(dir.join(format!("{name}.db")), KEY, StoreOptions::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_sync_over_wss_with_the_schools_own_authority() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert, key) = school_pki(dir.path());
    let mut settings = Settings::for_test(dir.path().join("server"));
    settings.tls = Some(tls::server_config(&cert, &key).unwrap());
    let server = server::start(settings).await.unwrap();
    let url = server.http_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let admin = server.admin();
    admin.create_school(SCHOOL, "De Linde").await.unwrap();
    admin.import_roster(SCHOOL, &roster_csv()).await.unwrap();

    // 1. A device that does not trust the school's authority: its TLS check refuses the
    //    server; the code is not spent and nothing is stored.
    let stranger = store(dir.path(), "stranger");
    let code = admin.issue_code(SCHOOL, TEACHER).await.unwrap();
    let err = transport::enroll(&url, &code, "teacher phone", &stranger)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network(_)), "{err:?}");
    assert!(stranger.identity().unwrap().is_none());

    // 2. Bad PEM is refused before anything is stored.
    assert!(matches!(
        transport::trust_certificate(&stranger, "not a certificate"),
        Err(Error::Invalid(_))
    ));

    // 3. Trusting the authority: the same code enrolls; a signal goes up over wss and the
    //    mentor's device, also over wss, receives it word for word.
    transport::trust_certificate(&stranger, &ca_pem).unwrap();
    transport::enroll(&url, &code, "teacher phone", &stranger)
        .await
        .unwrap();
    let teacher = stranger;
    transport::sync_once(&teacher).await.unwrap(); // the roster, over wss
    let helpers = omkijken_tests::Device {
        label: "teacher phone".into(),
        user: TEACHER.into(),
        store: teacher.clone(),
        path: dir.path().join("stranger.db"),
    };
    let id = helpers
        .record_trip_signal(PUPIL, 2, "huilde bij het ontbijt")
        .unwrap();
    transport::sync_once(&teacher).await.unwrap();
    assert!(
        teacher.outbox().unwrap().is_empty(),
        "acknowledged over wss"
    );

    let mentor = store(dir.path(), "mentor");
    transport::trust_certificate(&mentor, &ca_pem).unwrap();
    let code = admin.issue_code(SCHOOL, MENTOR).await.unwrap();
    transport::enroll(&url, &code, "mentor phone", &mentor)
        .await
        .unwrap();
    transport::sync_once(&mentor).await.unwrap();
    assert_eq!(mentor.signal(id).unwrap().facts, "huilde bij het ontbijt");

    // 4. Plain WebSocket to the TLS port: no answer that a client could take for the server.
    let plain = url.replacen("https://", "ws://", 1) + "/v1/enroll";
    assert!(tokio_tungstenite::connect_async(plain).await.is_err());

    server.shutdown().await.unwrap();
}

#[test]
fn bad_tls_files_give_errors_that_name_the_file_and_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = school_pki(dir.path());
    let missing = dir.path().join("missing.pem");
    let e = tls::server_config(&missing, &key).unwrap_err().to_string();
    assert!(e.contains("missing.pem"), "{e}");
    // A certificate with another certificate's key.
    let other = tempfile::tempdir().unwrap();
    let (_, _, other_key) = school_pki(other.path());
    let e = tls::server_config(&cert, &other_key)
        .unwrap_err()
        .to_string();
    assert!(e.contains("do not fit"), "{e}");
    let key_pem = std::fs::read_to_string(&other_key).unwrap();
    let secret_line = key_pem.lines().nth(1).unwrap();
    assert!(!e.contains(secret_line));
    // The key file given as certificate: no certificate in it.
    assert!(tls::server_config(&key, &key).is_err());
}

#[test]
fn serve_wants_both_tls_files_or_neither() {
    let out = std::process::Command::new(omkijken_tests::process::server_bin())
        .args(["serve", "--tls-cert", "server.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
