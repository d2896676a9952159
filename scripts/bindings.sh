#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python bindings of the mobile library (crate
# omkijken-mobile, library `omkijken`) into target/bindings/{kotlin,swift,python}.
#
# Usage: scripts/bindings.sh [LIBRARY]
#   LIBRARY: a built cdylib to read the interface from (library mode); default: builds
#   target/debug/libomkijken.so (.dylib on macOS) with `cargo build -p omkijken-mobile`.
#
# The generator is mobile-bindings/uniffi-bindgen (a tiny crate of its own workspace, with
# uniffi pinned to the version the library uses), built in its own target dir
# (target/bindgen): it never compiles the core nor changes the workspace the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -s)" in
  Darwin) ext=dylib ;;
  *) ext=so ;;
esac

lib="${1:-}"
if [ -z "$lib" ]; then
  cargo build -p omkijken-mobile
  lib="target/debug/libomkijken.${ext}"
fi
[ -f "$lib" ] || { echo "no library at $lib" >&2; exit 1; }

CARGO_TARGET_DIR=target/bindgen cargo build --quiet \
  --manifest-path mobile-bindings/uniffi-bindgen/Cargo.toml
bindgen=target/bindgen/debug/uniffi-bindgen

out=target/bindings
rm -rf "$out"
for lang in kotlin swift python; do
  "$bindgen" generate --library "$lib" --language "$lang" --out-dir "$out/$lang" --no-format
done
echo "bindings generated in $out/{kotlin,swift,python} from $lib"
