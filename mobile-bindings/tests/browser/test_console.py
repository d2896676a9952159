"""The admin console in a real headless Chromium (Debian's chromium and chromium-driver,
driven through Selenium from Debian's python3-selenium), against the real omkijken-server
with --admin-listen:

  1. the IT admin signs in, pastes a roster CSV, sees the preview and imports it;
  2. makes an enrollment QR code for a mentor; the test decodes the QR code from a
     screenshot of the page (zbarimg, Debian's zbar-tools) and enrolls a real device store
     through the Python bindings with that payload, which then syncs;
  3. sees the device in the devices table with its last sync and outbox state, revokes it there, and the
     device is wiped at its next sync;
  4. sees the activity chart; the privacy officer signs in, is refused the devices page,
     and looks up the audit log of a pupil; the pages switch to English;
  5. the IT admin sees the server's health and the schools, changes the offline lease on the
     settings page, starts a backup that then appears in the list, and is refused the
     privacy page (not in her navigation, refused when she opens its URL);
  6. the privacy officer downloads a pupil's inzage export (PDF) and erases the pupil's file
     after typing the pupil id again (a wrong id erases nothing); she puts a legal hold on
     another pupil's file and checks the audit log's chain;
  7. when node is there: signs in through a real OpenID Connect provider (the npm package
     oidc-provider, scripts/oidc-provider), authorization code flow with PKCE, as the admin
     account of the provider's user; a provider user without an account is refused; and a
     device enrolls by the mentor signing in there "on the phone" (the bindings'
     begin_oidc_enrollment / finish_oidc_enrollment), a user who is no staff member is refused.

Screenshots go to target/console-screenshots/ (CI keeps them as artifacts).
Run by scripts/test-console-browser.sh; prints "console-browser: N passed, M failed" last.
"""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

import omkijken as om  # noqa: E402
from server import SERVER, Server, free_port, wait_until  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SCHOOL = "bs-de-linde"
SHOTS = os.environ.get("OMKIJKEN_SCREENSHOTS", "target/console-screenshots")
IT = ("anna", "wachtwoord-van-anna-1")
FG = ("fg", "wachtwoord-van-de-fg-2")
OIDC_SECRET = secrets.token_hex(16)

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6b,Groep 6b,,,,,,
group,g7a,Groep 7a,,,,,,
staff,m-jansen,Juf Jansen,,,,mentor;teacher,,g6b
staff,t-bakker,Meester Bakker,,,,teacher,,g6b
staff,ib-devries,Mevr. de Vries,,,,care_coordinator;meldcode_duty,,
pupil,eck-0001,Sam,g6b,po_5_8,true,,m-jansen,
pupil,eck-0002,Noor,g6b,po_5_8,false,,m-jansen,
pupil,eck-0003,Daan,g7a,po_5_8,false,,,
"""


class ConsoleServer(Server):
    """omkijken-server with its admin console on free loopback ports: one school, no roster
    (the test imports it through the console), and the two admin accounts."""

    def __init__(self, root):
        self.root = root
        self.school = SCHOOL
        self.data = os.path.join(root, "data")
        self.port = free_port()
        self.console_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.console = f"http://127.0.0.1:{self.console_port}"
        self.oidc = None
        serve_oidc = []
        provider_dir = os.environ.get("OMKIJKEN_OIDC_PROVIDER")
        if provider_dir:
            oidc_port = free_port()
            self.oidc = f"http://127.0.0.1:{oidc_port}"
            self.oidc_log = open(os.path.join(root, "oidc.log"), "w")
            self.oidc_proc = subprocess.Popen(
                ["node", os.path.join(provider_dir, "provider.mjs")],
                env=dict(os.environ, PORT=str(oidc_port), CLIENT_ID="omkijken-console",
                         CLIENT_SECRET=OIDC_SECRET,
                         REDIRECT_URI=f"{self.console}/oidc/callback,{self.url}/v1/oidc/callback"),
                stdout=self.oidc_log, stderr=subprocess.STDOUT)
            wait_until(self.oidc_ready, 30, "the OIDC provider")
            serve_oidc = ["--oidc-issuer", self.oidc, "--oidc-client-id", "omkijken-console",
                          "--oidc-devices"]
        self.admin("create-school", "--id", SCHOOL, "--name", "Basisschool De Linde")
        self.admin("add-admin", "--name", IT[0], "--role", "it-admin", password=IT[1])
        self.admin("add-admin", "--name", FG[0], "--role", "privacy-officer", password=FG[1])
        self.backups = os.path.join(root, "backups")
        os.makedirs(self.backups, exist_ok=True)
        self.log = open(os.path.join(root, "server.log"), "w")
        self.proc = subprocess.Popen(
            [SERVER, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}",
             "--admin-listen", f"127.0.0.1:{self.console_port}",
             "--backup-dir", self.backups, *serve_oidc],
            env=dict(os.environ, OMKIJKEN_OIDC_CLIENT_SECRET=OIDC_SECRET),
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.healthy, 30, "the server to answer /healthz")

    def oidc_ready(self):
        import urllib.request
        try:
            with urllib.request.urlopen(self.oidc + "/.well-known/openid-configuration",
                                        timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        super().stop()
        if self.oidc:
            self.oidc_proc.terminate()
            try:
                self.oidc_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.oidc_proc.kill()
            self.oidc_log.close()

    def admin(self, *args, password=None):
        """The admin CLI; `password` goes in OMKIJKEN_ADMIN_PASSWORD (never a flag)."""
        env = dict(os.environ)
        if password:
            env["OMKIJKEN_ADMIN_PASSWORD"] = password
        out = subprocess.run([SERVER, "admin", "--data", self.data, *args],
                             check=True, capture_output=True, text=True, env=env)
        return out.stdout.strip()


def browser(downloads):
    o = webdriver.ChromeOptions()
    o.add_experimental_option("prefs", {
        "download.default_directory": downloads,
        "download.prompt_for_download": False,
    })
    o.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1024,900", "--lang=nl-NL"]:
        o.add_argument(a)
    from selenium.webdriver.chrome.service import Service
    service = Service(
        executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    b = webdriver.Chrome(options=o, service=service)
    # A click that submits a form returns before the next page is there: look for elements
    # until they appear.
    b.implicitly_wait(10)
    return b


class ConsoleInChromium(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(SHOTS, exist_ok=True)
        cls.root = tempfile.mkdtemp(prefix="omkijken-console-")
        cls.server = ConsoleServer(cls.root)
        try:
            cls.downloads = os.path.join(cls.root, "downloads")
            os.makedirs(cls.downloads, exist_ok=True)
            cls.b = browser(cls.downloads)
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.b.quit()
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def shot(self, name):
        self.b.save_screenshot(os.path.join(SHOTS, name))

    def wait_url(self, part):
        """Wait until the browser is on a page whose URL holds `part`."""
        WebDriverWait(self.b, 10).until(EC.url_contains(part))

    def go(self, path):
        self.b.get(self.server.console + path)

    def absent(self, by, what):
        """Whether no element matches (without waiting for one to appear)."""
        self.b.implicitly_wait(0)
        try:
            return self.b.find_elements(by, what) == []
        finally:
            self.b.implicitly_wait(10)

    def sign_in(self, who):
        self.b.delete_all_cookies()
        self.go("/login")
        self.b.find_element(By.ID, "name").send_keys(who[0])
        self.b.find_element(By.ID, "password").send_keys(who[1])
        self.b.find_element(By.ID, "sign-in").click()

    def test_1_it_admin_imports_enrolls_by_qr_and_revokes(self):
        b = self.b
        # A wrong password shows the error, in Dutch.
        self.sign_in((IT[0], "fout-wachtwoord"))
        self.assertIn("onjuist", b.find_element(By.ID, "error").text)
        self.shot("01-sign-in-refused.png")
        self.sign_in(IT)
        self.wait_url("/devices")

        # 1. Roster: paste, preview, import.
        self.go("/roster")
        Select(b.find_element(By.ID, "school")).select_by_value(SCHOOL)
        b.find_element(By.ID, "csv").send_keys(ROSTER_CSV)
        b.find_element(By.ID, "preview").click()
        added = b.find_elements(By.CSS_SELECTOR, "#added tr")
        self.assertEqual(len(added), 1 + 3, "a header and three new pupils")
        self.assertIn("eck-0001", b.find_element(By.ID, "care-opened").text)
        self.assertEqual(len(b.find_elements(By.CSS_SELECTOR, "#staff-added tr")), 1 + 3)
        self.shot("02-roster-preview.png")
        b.find_element(By.ID, "import").click()
        self.assertIn("geïmporteerd", b.find_element(By.ID, "imported").text)
        self.shot("03-roster-imported.png")

        # 2. Enrollment QR code for the mentor; decode it from the screen.
        self.go("/enroll")
        Select(b.find_element(By.ID, "staff")).select_by_value(f"{SCHOOL}|m-jansen")
        b.find_element(By.ID, "make-qr").click()
        qr = b.find_element(By.ID, "qr")
        self.shot("04-enroll-qr.png")
        png = os.path.join(self.root, "qr.png")
        qr.screenshot(png)
        payload = subprocess.run(["zbarimg", "--quiet", "--raw", png], check=True,
                                 capture_output=True, text=True).stdout.strip()
        invite = om.parse_enrollment_invite(payload)
        self.assertEqual(invite.server, self.server.url)
        self.assertIsNone(invite.ca_sha256)
        self.assertIn(b.find_element(By.ID, "code").text.replace("-", ""),
                      payload.replace("-", ""))
        store = om.OmkijkenStore.open(os.path.join(self.root, "tablet.db"), secrets.token_bytes(32))
        identity = store.enroll_with_invite(payload, "tablet juf Jansen")
        self.assertEqual(identity, om.Identity(school=SCHOOL, user="m-jansen"))
        store.sync_now()
        # The code was one-time: the same payload enrolls no second device.
        other = om.OmkijkenStore.open(os.path.join(self.root, "other.db"), secrets.token_bytes(32))
        with self.assertRaises(om.OmkijkenError.Forbidden):
            other.enroll_with_invite(payload, "second device")

        # 3. Devices: listed with its last sync; revoke; the device is wiped.
        self.go("/devices")
        rows = b.find_elements(By.CSS_SELECTOR, "#devices tr[id^=device-]")
        self.assertEqual(len(rows), 1)
        row = rows[0]
        self.assertIn("tablet juf Jansen", row.text)
        self.assertNotIn("nog niet", row.text, "a last sync is shown")
        self.assertIn("alles verstuurd", row.find_element(By.CSS_SELECTOR, ".outbox").text,
                      "the outbox state the tablet reported at its sync")
        self.shot("05-devices.png")
        row.find_element(By.CSS_SELECTOR, "button.danger").click()
        WebDriverWait(b, 10).until(EC.text_to_be_present_in_element(
            (By.CSS_SELECTOR, "#devices tr[id^=device-] .status"), "ingetrokken"))
        b.implicitly_wait(0)
        self.assertEqual(b.find_elements(By.CSS_SELECTOR, "#devices button.danger"), [],
                         "no revoke button for a revoked device")
        b.implicitly_wait(10)
        self.shot("06-device-revoked.png")
        with self.assertRaises(om.OmkijkenError.Revoked):
            store.sync_now()
        self.assertTrue(store.is_wiped())

        # 4. The activity chart: a bar pair per day.
        self.go("/activity")
        chart = b.find_element(By.ID, "chart")
        self.assertEqual(len(chart.find_elements(By.CSS_SELECTOR, "rect.syncs")), 14)
        # Today's bar is there: the tablet's sync delivered the roster.
        today = chart.find_elements(By.CSS_SELECTOR, "rect.syncs")[-1]
        self.assertGreater(float(today.get_attribute("height")), 0)
        self.shot("07-activity.png")
        b.find_element(By.ID, "sign-out").click()
        self.wait_url("/login")

    def test_1a_it_admin_changes_the_lease_and_starts_a_backup(self):
        b = self.b
        self.sign_in(IT)
        self.wait_url("/devices")
        for nav in ["nav-schools", "nav-settings", "nav-backups"]:
            b.find_element(By.ID, nav)
        self.assertTrue(self.absent(By.ID, "nav-privacy"), "no privacy page for her")

        # The server's health and the schools.
        b.find_element(By.ID, "nav-schools").click()
        self.wait_url("/schools")
        self.assertIn("werkt", b.find_element(By.ID, "health-status").text)
        self.assertEqual(b.find_element(By.ID, "health-storage").text, "sqlite")
        row = b.find_element(By.ID, f"school-{SCHOOL}")
        self.assertIn("Basisschool De Linde", row.text)
        self.shot("12-schools-health.png")

        # Settings: the offline lease.
        row.find_element(By.CSS_SELECTOR, "a.button").click()
        self.wait_url("/settings")
        days = b.find_element(By.ID, "days")
        self.assertEqual(days.get_attribute("value"), "30", "the default lease")
        self.assertEqual(b.find_element(By.ID, "pupil_file_years").get_attribute("value"), "2")
        days.clear()
        days.send_keys("21")
        b.find_element(By.ID, "save-lease").click()
        self.assertIn("Opgeslagen", b.find_element(By.ID, "saved").text)
        self.shot("13-settings-lease.png")
        self.go(f"/settings?school={SCHOOL}")
        self.assertEqual(b.find_element(By.ID, "days").get_attribute("value"), "21")

        # Backups: none yet; start one; it is in the list.
        b.find_element(By.ID, "nav-backups").click()
        self.wait_url("/backups")
        b.find_element(By.ID, "no-backups")
        b.find_element(By.ID, "start-backup").click()
        self.assertIn("Back-up gemaakt", b.find_element(By.ID, "backup-done").text)
        rows = b.find_elements(By.CSS_SELECTOR, "#backups tr.backup")
        self.assertEqual(len(rows), 1)
        self.assertIn("omkijken-", rows[0].text)
        self.assertEqual(len(os.listdir(self.server.backups)), 1, "the file is there")
        self.shot("14-backups.png")
        # The list on its own page shows it too.
        self.go("/backups")
        self.assertEqual(len(b.find_elements(By.CSS_SELECTOR, "#backups tr.backup")), 1)

        # The privacy page is not hers, even by its URL.
        self.go("/privacy")
        self.assertIn("rol", b.find_element(By.ID, "error").text)
        self.assertTrue(self.absent(By.ID, "erase-pupil"))
        self.shot("15-privacy-refused-for-it-admin.png")

    def test_2_privacy_officer_looks_up_a_pupil_in_the_audit_log(self):
        b = self.b
        self.sign_in(FG)
        self.wait_url("/audit")
        # The IT admin's pages are not hers.
        self.go("/devices")
        self.assertIn("rol", b.find_element(By.ID, "error").text)
        self.go("/audit")
        b.find_element(By.ID, "staff").send_keys("m-jansen")
        b.find_element(By.ID, "search").click()
        table = b.find_element(By.ID, "audit").text
        self.assertIn("enroll", table)
        self.assertIn("code_issued", table)
        # Looking up who read a pupil's file leaves a trace itself: the second lookup
        # shows the first.
        self.go("/audit?pupil=eck-0001")
        self.go("/audit?pupil=eck-0001")
        self.assertIn("audit_export", b.find_element(By.ID, "audit").text)
        self.shot("08-audit-pupil.png")
        # English.
        b.find_element(By.ID, "lang-en").click()
        self.go("/audit?staff=admin:anna")
        self.assertEqual(b.find_element(By.ID, "nav-audit").text, "Audit log")
        self.assertIn("import_roster", b.find_element(By.ID, "audit").text)
        self.shot("09-audit-english.png")

    def test_2a_privacy_officer_exports_and_erases_a_pupil(self):
        b = self.b
        self.sign_in(FG)
        self.wait_url("/audit")
        self.assertTrue(self.absent(By.ID, "nav-settings"))
        self.assertTrue(self.absent(By.ID, "nav-backups"))
        b.find_element(By.ID, "nav-privacy").click()
        self.wait_url("/privacy")
        self.shot("16-privacy.png")

        # Inzage: the PDF downloads.
        b.find_element(By.ID, "export-pupil").send_keys("eck-0001")
        b.find_element(By.ID, "download-export").click()
        pdf = os.path.join(self.downloads, "inzage-eck-0001.pdf")
        wait_until(lambda: os.path.exists(pdf), 20, "the inzage PDF to download")
        with open(pdf, "rb") as f:
            self.assertEqual(f.read(4), b"%PDF")

        # Erasure: a wrong id typed again erases nothing.
        self.go("/privacy")
        b.find_element(By.ID, "erase-pupil").send_keys("eck-0001")
        b.find_element(By.ID, "erase-next").click()
        confirm = b.find_element(By.ID, "confirm")
        self.assertIn("eck-0001", b.find_element(By.ID, "erase-confirm").text)
        self.shot("17-erase-confirm.png")
        confirm.send_keys("eck-0002")
        b.find_element(By.ID, "erase-now").click()
        self.assertIn("niet overeen", b.find_element(By.ID, "error").text)
        self.assertNotIn("eck-0001",
                         self.server.admin("audit", "--action", "erase", "--format", "json"))
        # The right id erases the file.
        b.find_element(By.ID, "erase-pupil").send_keys("eck-0001")
        b.find_element(By.ID, "erase-next").click()
        b.find_element(By.ID, "confirm").send_keys("eck-0001")
        b.find_element(By.ID, "erase-now").click()
        self.assertIn("eck-0001", b.find_element(By.ID, "erased").text)
        self.shot("18-erased.png")
        self.assertIn("eck-0001",
                      self.server.admin("audit", "--action", "erase", "--format", "json"))
        log = self.server.admin("audit", "--action", "console", "--format", "json")
        for op in ["page_erase_confirm", "erase_pupil_unconfirmed", '"erase_pupil"',
                   "export_pupil", "refused:page_privacy", "set_lease", '"backup"']:
            self.assertIn(op, log)

    def test_2b_privacy_officer_holds_a_file_and_checks_the_audit_log(self):
        b = self.b
        self.sign_in(FG)
        self.wait_url("/audit")
        b.find_element(By.ID, "nav-privacy").click()
        self.wait_url("/privacy")
        self.assertTrue(b.find_element(By.ID, "no-holds").is_displayed())
        b.find_element(By.ID, "hold-pupil").send_keys("eck-0002")
        b.find_element(By.ID, "place-hold").click()
        self.assertIn("eck-0002", b.find_element(By.ID, "hold-done").text)
        self.assertIn("eck-0002", b.find_element(By.ID, "holds").text)
        self.shot("19-legal-hold.png")
        self.assertIn("eck-0002",
                      self.server.admin("audit", "--action", "hold", "--format", "json"))
        # The check of the audit log's chain.
        b.find_element(By.ID, "nav-audit").click()
        self.wait_url("/audit")
        b.find_element(By.ID, "verify").click()
        self.assertIn("Elke schakel klopt", b.find_element(By.ID, "audit-verified").text)
        self.assertTrue(b.find_element(By.ID, "audit-head").text)
        self.shot("20-audit-verified.png")

    def test_3_sign_in_through_the_schools_identity_provider(self):
        if not self.server.oidc:
            self.skipTest("no OIDC provider (OMKIJKEN_OIDC_PROVIDER unset: node missing)")
        b = self.b
        for user, ok in [("onbekend", False), (IT[0], True)]:
            # No session at the provider either (its cookies deleted on its own page).
            b.get(self.server.oidc + "/.well-known/openid-configuration")
            b.delete_all_cookies()
            self.go("/login")
            b.find_element(By.ID, "sign-in-oidc").click()
            # The provider's own (development) login page.
            WebDriverWait(b, 10).until(EC.url_contains(self.server.oidc))
            b.find_element(By.NAME, "login").send_keys(user)
            b.find_element(By.NAME, "password").send_keys("bij-de-provider")
            self.shot(f"10-oidc-provider-login-{user}.png")
            b.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            if ok:
                self.wait_url("/devices")
                self.assertIn(IT[0], b.find_element(By.ID, "sign-out").text)
                self.shot("11-oidc-signed-in.png")
            else:
                WebDriverWait(b, 10).until(EC.url_contains("/oidc/callback"))
                self.assertIn("geen beheerdersaccount", b.find_element(By.ID, "error").text)
        log = self.server.admin("audit", "--action", "console", "--format", "json")
        self.assertIn("sign_in_oidc_no_account", log)
        self.assertIn('"sign_in_oidc"', log)

    def test_4_a_device_enrolls_by_its_user_signing_in_at_the_identity_provider(self):
        if not self.server.oidc:
            self.skipTest("no OIDC provider (OMKIJKEN_OIDC_PROVIDER unset: node missing)")
        b = self.b
        back = f"http://127.0.0.1:{free_port()}/terug-naar-de-app"
        for user, ok in [("onbekend", False), ("m-jansen", True)]:
            # A phone with no session at the provider: its cookies go (deleted on its page).
            b.get(self.server.oidc + "/.well-known/openid-configuration")
            b.delete_all_cookies()
            store = om.OmkijkenStore.open(os.path.join(self.root, f"oidc-{user}.db"),
                                          secrets.token_bytes(32))
            url = store.begin_oidc_enrollment(self.server.url, back)
            self.assertNotIn("verifier", url)
            # The phone's browser: the server sends it to the provider.
            b.get(url)
            WebDriverWait(b, 10).until(EC.url_contains(self.server.oidc))
            b.find_element(By.NAME, "login").send_keys(user)
            b.find_element(By.NAME, "password").send_keys("bij-de-provider")
            b.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            # Back to the app (nothing listens there in this test: the URL is what counts).
            WebDriverWait(b, 10).until(EC.url_contains("/terug-naar-de-app"))
            if ok:
                self.assertIn("enrollment=ready", b.current_url)
                identity = store.finish_oidc_enrollment("telefoon via schoolaccount")
                self.assertEqual(identity, om.Identity(school=SCHOOL, user="m-jansen"))
                store.sync_now()
                # The ticket was one-time.
                with self.assertRaises(om.OmkijkenError.Invalid):
                    store.finish_oidc_enrollment("nog een keer")
            else:
                self.assertIn("enrollment=refused", b.current_url)
                with self.assertRaises(om.OmkijkenError.Forbidden):
                    store.finish_oidc_enrollment("onbekende telefoon")
        log = self.server.admin("audit", "--action", "enroll_failed", "--format", "json")
        self.assertIn("oidc_no_staff", log)
        devices = self.server.admin("devices", "--json")
        self.assertIn("telefoon via schoolaccount", devices)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"console-browser: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
