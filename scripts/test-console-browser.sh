#!/usr/bin/env bash
# The admin console in a real headless Chromium: mobile-bindings/tests/browser/test_console.py
# (Selenium from Debian's python3-selenium driving Debian's chromium through chromium-driver;
# the enrollment QR code decoded from a screenshot with zbarimg from zbar-tools; the device
# enrolled through the Python bindings). Screenshots in target/console-screenshots/.
# With node and npm, also the console's sign-in through a real OpenID Connect provider.
# Builds the server binary and the Python bindings (no-ops after scripts/test-bindings.sh). Installs the Debian packages that are missing (CI runs as root).
# Prints "console-browser: N passed, M failed" last; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
/usr/bin/python3 -c 'import selenium' >/dev/null 2>&1 || need+=(python3-selenium)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# Built already when scripts/test-bindings.sh ran before (then these are quick no-ops).
lib=target/debug/libomkijken.so
cargo build -p omkijken-mobile -p omkijken-server
scripts/bindings.sh "$lib" >/dev/null
cp "$lib" target/bindings/python/

# The OIDC sign-in test's provider: the npm package oidc-provider (pinned in
# scripts/oidc-provider/package-lock.json). Without node the test says it was skipped.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  (cd scripts/oidc-provider && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  export OMKIJKEN_OIDC_PROVIDER="$PWD/scripts/oidc-provider"
fi

mkdir -p target/console-screenshots
export OMKIJKEN_SERVER="$PWD/target/debug/omkijken-server"
# Debian's python3 (where python3-selenium lives), whatever python3 is first on the PATH.
PYTHONPATH=target/bindings/python /usr/bin/python3 mobile-bindings/tests/browser/test_console.py \
  2>&1 | tee target/console-browser.log
grep -Eq '^console-browser: [0-9]+ passed, 0 failed' target/console-browser.log
