/// docs/admin-openapi.json is the document the code generates. To update it:
/// `OMKIJKEN_WRITE_OPENAPI=1 cargo test -p omkijken-server openapi`.
#[test]
fn the_committed_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("admin-openapi.json");
    let now = super::openapi_document();
    if std::env::var_os("OMKIJKEN_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == now,
        "docs/admin-openapi.json is not the document the code generates; run \
         OMKIJKEN_WRITE_OPENAPI=1 cargo test -p omkijken-server openapi and commit it"
    );
}
