#!/usr/bin/env bash
# Interop of the automerge-repo compatibility endpoint (/v1/automerge-repo) with the real
# automerge-repo: an app on @automerge/automerge-repo 2.5.6 and its stock WebSocket client
# adapter (examples/automerge-repo-client, Node) connects with a device token, reads a signal
# its user may read, gets "unavailable" for one she may not and for an unknown id, writes a
# signal that the care coordinator's native device receives word for word, and gets her
# answer live (tests/tests/automerge_repo_interop.rs drives it; the native devices are the
# Rust client). samod (Rust) plays the same scene in the same test file; it runs in
# `cargo test` as well.
#
# Usage: scripts/automerge-repo-interop.sh   (needs node and npm)
set -euo pipefail
cd "$(dirname "$0")/.."

(cd examples/automerge-repo-client && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
export OMKIJKEN_AUTOMERGE_REPO_JS="$PWD/examples/automerge-repo-client"
cargo test -q -p omkijken-tests --test automerge_repo_interop -- --include-ignored --test-threads=1 2>&1 \
  | tee target/automerge-repo-interop.log
grep -q 'test result: ok' target/automerge-repo-interop.log
echo "automerge-repo interop: ok"
