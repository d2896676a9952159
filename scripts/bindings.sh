#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python bindings of the mobile library (crate
# omkijken-mobile, library `omkijken`) into target/bindings/{kotlin,swift,python}.
#
# Usage: scripts/bindings.sh [LIBRARY]
#   LIBRARY: a built cdylib to read the interface from (library mode); default: builds
#   target/debug/libomkijken.so (.dylib on macOS) with `cargo build -p omkijken-mobile`.
#
# The generator is the `uniffi-bindgen` binary of omkijken-mobile (feature `bindgen`), built
# in its own target dir (target/bindgen) so its extra dependencies never change the
# feature set, and so the build, of the workspace the tests use.
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

CARGO_TARGET_DIR=target/bindgen cargo build --quiet -p omkijken-mobile \
  --features bindgen --bin uniffi-bindgen
bindgen=target/bindgen/debug/uniffi-bindgen

out=target/bindings
rm -rf "$out"
for lang in kotlin swift python; do
  "$bindgen" generate --library "$lib" --language "$lang" --out-dir "$out/$lang" --no-format
done
echo "bindings generated in $out/{kotlin,swift,python} from $lib"
