//! The uniffi bindings generator (see Cargo.toml beside this file). Used in library
//! mode by scripts/bindings.sh: `uniffi-bindgen generate --library libomkijken.so ...`.

fn main() {
    uniffi::uniffi_bindgen_main();
}
