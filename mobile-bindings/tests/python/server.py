"""The real `omkijken-server` for the bindings tests: a fresh data directory, a school and a
roster made with its admin CLI, `serve` on a free loopback port, one-time enrollment codes,
and devices enrolled through the bindings.

The server binary comes from OMKIJKEN_SERVER (scripts/test-bindings.sh sets it).
"""

import os
import secrets
import socket
import subprocess
import time
import urllib.request

import omkijken as om

SERVER = os.environ.get("OMKIJKEN_SERVER", "target/debug/omkijken-server")


def now_ms():
    return int(time.time() * 1000)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Server:
    """The server on a free loopback port, serving one school with `roster_csv`."""

    def __init__(self, root, school, roster_csv):
        self.root = root
        self.school = school
        self.data = os.path.join(root, "server-data")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin("create-school", "--id", school, "--name", "Test School")
        csv = os.path.join(root, "roster.csv")
        with open(csv, "w") as f:
            f.write(roster_csv)
        self.admin("import-roster", "--school", school, csv)
        self.log = open(os.path.join(root, "server.log"), "w")
        self.proc = subprocess.Popen(
            [SERVER, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.healthy, 30, "the server to answer /healthz")

    def admin(self, *args):
        out = subprocess.run([SERVER, "admin", "--data", self.data, *args],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def code(self, user):
        """A one-time enrollment code for staff member `user`."""
        return self.admin("enroll", "--school", self.school, "--user", user).splitlines()[-1].strip()

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def device(self, user, label=None, path=None, key=None):
        """A new store enrolled as `user` and synced once (so it holds the roster)."""
        label = label or f"{user}-device"
        path = path or os.path.join(self.root, f"{label}-{secrets.token_hex(4)}.db")
        store = om.OmkijkenStore.open(path, key or secrets.token_bytes(32))
        identity = store.enroll(self.url, self.code(user), label)
        assert identity == om.Identity(school=self.school, user=user), identity
        store.sync_now()
        return store

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
