#!/usr/bin/env bash
# Tests the mobile bindings end to end: builds the cdylib, generates the Kotlin, Swift and
# Python bindings (scripts/bindings.sh), then runs
#   1. the Python tests   (mobile-bindings/tests/python/test_*.py, plain python3; the sync
#                          tests start the real omkijken-server on a free loopback port),
#   2. the Kotlin test    (mobile-bindings/tests/kotlin/*.kt, kotlinc + java + JNA),
#   3. the Swift check    (the generated C header parses; every symbol it declares is
#                          exported by the cdylib and defined in the staticlib that iOS
#                          links). Swift itself cannot be compiled here.
# Installs what is missing (CI runs on a fresh machine as root): kotlin-compiler from npm
# into target/tools/kotlin, JNA from Debian's libjna-java.
# Prints "bindings: N passed, M failed" last; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

KOTLIN_VERSION=2.4.20
lib=target/debug/libomkijken.so
total_passed=0
total_failed=0

# Reads the "<word>: N passed, M failed" line a suite printed last.
count() {
  local line
  line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -1 || true)
  if [ -z "$line" ]; then
    total_failed=$((total_failed + 1))
    echo "($1: no result line: counted as one failure)"
    return
  fi
  total_passed=$((total_passed + $(echo "$line" | awk '{print $2}')))
  total_failed=$((total_failed + $(echo "$line" | awk '{print $4}')))
}

echo "== build the library and the server, generate the bindings"
cargo build -p omkijken-mobile -p omkijken-server
export OMKIJKEN_SERVER="$PWD/target/debug/omkijken-server"
scripts/bindings.sh "$lib"
logs=target/bindings-test
rm -rf "$logs"
mkdir -p "$logs"

echo "== python"
cp "$lib" target/bindings/python/
for t in mobile-bindings/tests/python/test_*.py; do
  log="$logs/$(basename "$t" .py).log"
  PYTHONPATH=target/bindings/python python3 "$t" 2>&1 | tee "$log" || true
  count "$log"
done

echo "== kotlin"
kotlinc=target/tools/kotlin/node_modules/kotlin-compiler/bin/kotlinc
if [ ! -x "$kotlinc" ]; then
  mkdir -p target/tools/kotlin
  npm install --prefix target/tools/kotlin --no-audit --no-fund "kotlin-compiler@${KOTLIN_VERSION}"
fi
jna=/usr/share/java/jna.jar
if [ ! -f "$jna" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjna-java
fi
jar="$logs/kotlin-test.jar"
"$kotlinc" -nowarn -classpath "$jna" -include-runtime -d "$jar" \
  target/bindings/kotlin/nl/omkijken/core/omkijken.kt mobile-bindings/tests/kotlin/*.kt \
  2>&1 | tee "$logs/kotlinc.log"
klog="$logs/kotlin.log"
java -Djna.library.path=target/debug -cp "$jar:$jna" StoreTestKt 2>&1 | tee "$klog" || true
count "$klog"

echo "== swift (C header and exported symbols)"
slog="$logs/swift.log"
(
  set +e
  ok=0
  bad=0
  header=target/bindings/swift/OmkijkenFFI.h
  # Included as a C file would include it, warnings as errors. Clang (as Xcode) when
  # present; otherwise gcc, with clang's nullability annotations defined away.
  cflags=(-fsyntax-only -std=c11 -Wall -Wextra -Werror -I target/bindings/swift -x c -)
  if command -v clang >/dev/null; then
    echo '#include "OmkijkenFFI.h"' | clang "${cflags[@]}"
  else
    echo '#include "OmkijkenFFI.h"' | cc -D_Nonnull= -D_Nullable= "${cflags[@]}"
  fi
  if [ $? -eq 0 ]; then ok=$((ok + 1)); echo "ok   header parses"; else bad=$((bad + 1)); echo "FAIL header does not parse"; fi
  declared=$(grep -oE '\b(uniffi|ffi)_[A-Za-z0-9_]+\(' "$header" | tr -d '(' | sort -u)
  exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort -u)
  missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
  n=$(echo "$declared" | grep -c . || true)
  if [ "$n" -gt 100 ] && [ -z "$missing" ]; then
    ok=$((ok + 1)); echo "ok   all $n declared symbols are exported"
  else
    bad=$((bad + 1)); echo "FAIL $n declared; missing from the library:"; echo "$missing"
  fi
  # iOS links the staticlib: it must define them too.
  archived=$(nm --defined-only "${lib%.so}.a" 2>/dev/null | awk '$2 == "T" {print $3}' | sort -u)
  missing=$(comm -23 <(echo "$declared") <(echo "$archived"))
  if [ -z "$missing" ]; then
    ok=$((ok + 1)); echo "ok   the staticlib defines them too"
  else
    bad=$((bad + 1)); echo "FAIL missing from the staticlib:"; echo "$missing"
  fi
  [ -f target/bindings/swift/Omkijken.swift ] && ok=$((ok + 1)) && echo "ok   Omkijken.swift generated"
  echo "swift: $ok passed, $bad failed"
) 2>&1 | tee "$slog"
count "$slog"

echo "bindings: ${total_passed} passed, ${total_failed} failed"
[ "$total_failed" -eq 0 ]
