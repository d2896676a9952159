//! The uniffi bindings generator, pinned to this crate's uniffi version. Used in library
//! mode by scripts/bindings.sh: `uniffi-bindgen generate --library libomkijken.so ...`.

fn main() {
    uniffi::uniffi_bindgen_main();
}
