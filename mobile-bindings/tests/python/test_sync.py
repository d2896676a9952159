"""Enrollment and sync through the generated Python bindings and the real server
(server.py): one-time codes, the first sync bringing the roster, two stores converging
through the server, background sync with live changes, revocation.
"""

import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import unittest

import omkijken as om
from server import Server, free_port, now_ms, wait_until

SCHOOL = "school-sync"

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,Groep 6b,,,,,,
staff,m1,Mentor One,,,,mentor,,g1
staff,m2,Mentor Two,,,,mentor,,
staff,t1,Teacher,,,,teacher,,g1
staff,zc,Care,,,,care_coordinator,,
staff,sl,Leader,,,,school_leader,,
pupil,p1,Sam,g1,po_5_8,false,,m1;m2,
pupil,p2,Noor,g1,po_5_8,false,,m1,
"""


class SyncTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-sync-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def device(self, user, label):
        """Enrolled, not synced yet."""
        store = om.OmkijkenStore.open(os.path.join(self.root, f"{label}.db"), secrets.token_bytes(32))
        identity = store.enroll(self.server.url, self.server.code(user), label)
        self.assertEqual(identity, om.Identity(school=SCHOOL, user=user))
        return store

    def test_enroll_with_a_spent_or_wrong_code_fails(self):
        store = om.OmkijkenStore.open(os.path.join(self.root, "bad.db"), secrets.token_bytes(32))
        with self.assertRaises(om.OmkijkenError.Forbidden):
            store.enroll(self.server.url, "not-a-code", "phone")
        code = self.server.code("m1")
        store.enroll(self.server.url, code, "phone")
        other = om.OmkijkenStore.open(os.path.join(self.root, "bad2.db"), secrets.token_bytes(32))
        with self.assertRaises(om.OmkijkenError.Forbidden):
            other.enroll(self.server.url, code, "phone")
        self.assertIsNone(other.identity())

    def test_unreachable_server_is_a_network_error_and_a_bad_url_invalid(self):
        store = om.OmkijkenStore.open(os.path.join(self.root, "offline.db"), secrets.token_bytes(32))
        with self.assertRaises(om.OmkijkenError.Network):
            store.enroll(f"http://127.0.0.1:{free_port()}", "any-code", "phone")
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.enroll("ftp://example.invalid", "any-code", "phone")

    def test_sync_before_enrollment_is_not_enrolled(self):
        store = om.OmkijkenStore.open(os.path.join(self.root, "new.db"), secrets.token_bytes(32))
        with self.assertRaises(om.OmkijkenError.NotEnrolled):
            store.sync_now()
        with self.assertRaises(om.OmkijkenError.NotEnrolled):
            store.start_background_sync(None)
        self.assertFalse(store.sync_status().running)
        self.assertIsNone(store.last_sync_time())

    def test_first_sync_brings_the_roster(self):
        store = self.device("t1", "teacher-phone")
        self.assertEqual(store.roster().pupils, [])
        store.sync_now()
        self.assertEqual([p.id for p in store.roster().pupils], ["p1", "p2"])
        self.assertTrue(store.pupil_permissions("p1").record_signal)
        self.assertFalse(store.pupil_permissions("p1").start_conversation)
        self.assertIsNotNone(store.last_sync_time())

    def test_two_stores_converge_through_the_server(self):
        a = self.device("m1", "mentor-one-phone")
        b = self.device("m2", "mentor-two-tablet")
        a.sync_now()
        b.sync_now()
        # 1. Offline on A: a signal, a shared conversation, a thermometer reading.
        sid = a.record_signal(om.NewSignal(
            pupil="p1", observed_at=now_ms() - 60_000, place="gym", category="pesten",
            urgency=1, facts="Pushed in the queue.", source=om.SignalSource.SEEN(), share=True))
        cid = a.start_conversation("p1", "ik-jij-wij", "2026-03-02")
        a.share_conversation(cid)
        question = om.conversation_template("ik-jij-wij").questions[0].id
        a.set_answer(cid, question, "Voetbal")
        a.record_thermometer(om.NewThermometerEntry(pupil="p1", at=now_ms(), score=2, wants_to_talk=True))
        self.assertGreaterEqual(a.outbox_count(), 3)
        # 2. A sends, B receives.
        report = a.sync_now()
        self.assertGreaterEqual(report.pushed, 3)
        self.assertEqual(report.refused, [])
        self.assertEqual(a.outbox_count(), 0)
        b.sync_now()
        self.assertEqual(b.signal(sid).facts, "Pushed in the queue.")
        self.assertEqual(b.conversation(cid).answers[question], "Voetbal")
        self.assertEqual(len(b.thermometer_trend("p1", now_ms() - 60_000, now_ms() + 60_000)), 1)
        # 3. Both edit concurrently, offline: A the notes, B another answer and a follow-up.
        second = om.conversation_template("ik-jij-wij").questions[1].id
        a.set_notes(cid, "Notes by A.")
        b.set_answer(cid, second, "Rekenen")
        b.append_follow_up(sid, om.FollowUpKind.FOLLOW_UP, "I will talk to Sam.")
        # 4. Sync both (twice: each must see the other's push) and compare.
        for store in (a, b, a):
            store.sync_now()
        ca, cb = a.conversation(cid), b.conversation(cid)
        self.assertEqual(ca, cb)
        self.assertEqual((ca.notes, ca.answers[second]), ("Notes by A.", "Rekenen"))
        self.assertEqual(a.signal(sid), b.signal(sid))
        self.assertEqual([(f.kind, f.author) for f in a.signal(sid).follow_ups],
                         [(om.FollowUpKind.FOLLOW_UP, "m2")])
        self.assertEqual((a.outbox_count(), b.outbox_count()), (0, 0))

    def test_the_school_leader_adds_the_care_coordinator_to_a_misconduct_signal(self):
        teacher = self.device("t1", "misconduct-teacher")
        leader = self.device("sl", "misconduct-leader")
        care = self.device("zc", "misconduct-care")
        for store in (teacher, leader, care):
            store.sync_now()
        sid = teacher.record_signal(om.NewSignal(
            pupil="p2", observed_at=now_ms() - 60_000, place="gang", category="medewerker",
            urgency=2, facts="A colleague shouted at Noor.", source=om.SignalSource.SEEN(),
            share=True))
        for store in (teacher, leader, care):
            store.sync_now()
        self.assertEqual(leader.signal(sid).facts, "A colleague shouted at Noor.")
        with self.assertRaises(om.OmkijkenError.NotFound):
            care.signal(sid)
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.add_signal_reader(sid, "zc")
        leader.add_signal_reader(sid, "zc")
        self.assertEqual(leader.signal(sid).added_readers, ["zc"])
        leader.sync_now()
        care.sync_now()
        self.assertEqual(care.signal(sid).facts, "A colleague shouted at Noor.")

    def test_offline_lease_runs_from_the_last_sync(self):
        a = self.device("m1", "lease-phone")
        before = a.offline_lease()
        self.assertEqual((before.synced_at, before.locks_at, before.locked), (None, None, False))
        a.sync_now()
        lease = a.offline_lease()
        self.assertEqual(lease.days, 30)
        self.assertFalse(lease.locked)
        self.assertEqual(lease.locks_at, lease.synced_at + 30 * 24 * 3600 * 1000)

    def test_excursion_cache_is_wiped_after_the_trip_once_sent(self):
        teacher = self.device("t1", "trip-phone")
        teacher.sync_now()
        signal = lambda facts: om.NewSignal(
            pupil="p1", observed_at=now_ms(), place="Ardennen", excursion="trip-1",
            category="welbevinden", urgency=0, facts=facts, source=om.SignalSource.SEEN(),
            share=True)
        sent = teacher.record_signal(signal("Homesick at night."))
        teacher.sync_now()
        unsent = teacher.record_signal(signal("Written on the bus home."))
        self.assertEqual(teacher.wipe_excursion_cache("trip-1"), 1)
        self.assertEqual([s.id for s in teacher.list_signals(om.SignalFilter(excursion="trip-1"))], [unsent])
        with self.assertRaises(om.OmkijkenError.NotFound):
            teacher.signal(sent)

    def test_background_sync_delivers_live_changes(self):
        a = self.device("m1", "mentor-one-ipad")
        b = self.device("m2", "mentor-two-phone")
        b.sync_now()
        events, idle = [], threading.Event()
        changed = []

        class Observer(om.SyncObserver):
            def on_sync_event(self, event):
                events.append(event)
                if isinstance(event, om.SyncEvent.IDLE):
                    idle.set()

        class Listener(om.StoreListener):
            def on_change(self, document_ids):
                changed.extend(document_ids)

        handle = a.subscribe(Listener())
        a.start_background_sync(Observer())
        self.assertTrue(idle.wait(20), f"background sync reached idle: {events}")
        status = a.sync_status()
        self.assertTrue(status.running and status.connected and status.idle, status)
        self.assertTrue(any(isinstance(e, om.SyncEvent.CONNECTED) for e in events))
        # B records and syncs; A hears of it live, with no call of its own.
        sid = b.record_signal(om.NewSignal(
            pupil="p1", observed_at=now_ms(), place="aula", category="welbevinden",
            urgency=0, facts="Quiet today.", source=om.SignalSource.HEARD(), share=True))
        b.sync_now()
        wait_until(lambda: sid in changed, 20, "A to receive B's signal live")
        self.assertEqual(a.signal(sid).facts, "Quiet today.")
        # A writes while live: it goes out without a sync call.
        aid = a.record_signal(om.NewSignal(
            pupil="p2", observed_at=now_ms(), place="gang", category="welbevinden",
            urgency=0, facts="Live from A.", source=om.SignalSource.SEEN(), share=True))
        wait_until(lambda: a.outbox_count() == 0, 20, "A's live push to be confirmed")
        a.stop_background_sync()
        self.assertFalse(a.sync_status().running)
        handle.cancel()
        self.assertIsNotNone(a.last_sync_time())
        self.assertTrue(aid)

    def test_revoked_device_is_wiped_on_next_sync(self):
        store = self.device("t1", "lost-phone")
        store.sync_now()
        devices = [json.loads(line) for line in
                   self.server.admin("devices", "--json").splitlines() if line.strip()]
        [device] = [d["device"] for d in devices if d["label"] == "lost-phone"]
        self.server.admin("revoke", str(device))
        with self.assertRaises(om.OmkijkenError.Revoked):
            store.sync_now()
        self.assertTrue(store.is_wiped())


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-sync: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
