"""The store API through the generated Python bindings: every record kind, lists, defaults,
errors, listeners and wipe, on encrypted stores enrolled with a real server (server.py)
that gave them their roster. After that first sync these tests work offline: nothing is
sent, so the devices never see each other's records.

Run by scripts/test-bindings.sh with PYTHONPATH pointing at the generated bindings.
"""

import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import unittest

import omkijken as om
from server import Server, now_ms

DAY_MS = 24 * 60 * 60 * 1000
SCHOOL = "school-1"

# Mentor m1 of p1 (groep 5-8) and p2 (vo, in care); teacher t1 of group g1; care
# coordinator zc.
ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,groep 6b,,,,,,
group,g2,klas 2a,,,,,,
staff,m1,Mentor,,,,mentor,,
staff,t1,Teacher,,,,teacher,,g1
staff,zc,Care,,,,care_coordinator;meldcode_duty,,
pupil,p1,Pupil One,g1,po_5_8,false,,m1,
pupil,p2,Pupil Two,g2,vo_mbo,true,,m1,
"""


def new_signal(**kw):
    base = dict(pupil="p1", observed_at=now_ms() - 3600_000, place="schoolplein",
                category="pesten", urgency=1, facts="Two pupils took a bag away.",
                source=om.SignalSource.SEEN(), share=True)
    base.update(kw)
    return om.NewSignal(**base)


class StoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-py-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        self.path = os.path.join(self.root, f"store-{secrets.token_hex(4)}.db")
        self.key = secrets.token_bytes(32)

    def open_as(self, user):
        """A device of `user` at self.path, enrolled and holding the roster."""
        return self.server.device(user, path=self.path, key=self.key)


class OpenAndKeys(StoreTest):
    def test_new_store_has_no_identity_and_refuses_records(self):
        store = om.OmkijkenStore.open(self.path, self.key)
        self.assertIsNone(store.identity())
        with self.assertRaises(om.OmkijkenError.NotEnrolled):
            store.record_signal(new_signal())

    def test_wrong_key_is_a_storage_error_and_keeps_the_file(self):
        store = self.open_as("m1")
        sid = store.record_signal(new_signal())
        del store
        with self.assertRaises(om.OmkijkenError.Storage):
            om.OmkijkenStore.open(self.path, secrets.token_bytes(32))
        # The right key still opens it with the signal in it.
        again = om.OmkijkenStore.open(self.path, self.key)
        self.assertEqual(again.signal(sid).facts, "Two pupils took a bag away.")

    def test_trusting_a_server_certificate_takes_pem_only(self):
        store = om.OmkijkenStore.open(self.path, self.key)
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.trust_server_certificate("not a certificate")
        self.assertIsNone(store.identity())

    def test_short_key_is_invalid(self):
        with self.assertRaises(om.OmkijkenError.Invalid):
            om.OmkijkenStore.open(self.path, b"short")

    def test_file_is_encrypted(self):
        store = self.open_as("m1")
        store.record_signal(new_signal(facts="A very recognisable sentence."))
        with open(self.path, "rb") as f:
            raw = f.read()
        self.assertNotIn(b"recognisable", raw)
        self.assertNotIn(b"SQLite format 3", raw[:16])


class RosterAndPermissions(StoreTest):
    def test_roster_lists_pupils_groups_and_staff(self):
        store = self.open_as("m1")
        r = store.roster()
        self.assertEqual(r.school, SCHOOL)
        self.assertEqual([p.id for p in r.pupils], ["p1", "p2"])
        self.assertEqual(r.pupils[0].age_band, om.AgeBand.PO5_TO8)
        self.assertEqual([g.name for g in r.groups], ["groep 6b", "klas 2a"])
        self.assertEqual([(m.id, m.roles) for m in r.staff if m.id == "zc"],
                         [("zc", [om.StaffRole.CARE_COORDINATOR])])
        self.assertTrue(r.pupils[1].in_care)
        self.assertEqual(store.identity(), om.Identity(school=SCHOOL, user="m1"))
        # Need-to-know: a teacher's device gets every pupil (to record signals), but no
        # care-track flag and no one's mentorships.
        tr = self.server.device("t1").roster()
        self.assertEqual([p.id for p in tr.pupils], ["p1", "p2"])
        self.assertEqual([(p.in_care, p.mentors) for p in tr.pupils], [(False, []), (False, [])])

    def test_permissions_follow_the_roster(self):
        mentor = self.open_as("m1")
        p = mentor.pupil_permissions("p1")
        self.assertTrue(p.record_signal and p.start_conversation and p.record_thermometer)
        teacher = self.server.device("t1")
        p = teacher.pupil_permissions("p1")
        self.assertTrue(p.record_signal and p.record_thermometer)
        self.assertFalse(p.start_conversation or p.read_conversations)


class Conversations(StoreTest):
    def test_kindgesprek_from_template_to_final(self):
        store = self.open_as("m1")
        template = om.conversation_template("ik-jij-wij")
        self.assertIsNotNone(template)
        self.assertGreater(len(template.questions), 2)
        self.assertIn("ik-jij-wij", [t.id for t in om.conversation_templates()])
        cid = store.start_conversation("p1", template.id, "2026-03-02")
        q = template.questions[0].id
        store.set_answer(cid, q, "Ik speel graag voetbal.")
        store.set_notes(cid, "Rustig gesprek.")
        store.edit_notes(cid, 0, 6, "Fijn")
        aid = store.add_agreement(cid, "Check in next week", "m1", "2026-03-09")
        c = store.conversation(cid)
        self.assertEqual(c.id, cid)
        self.assertEqual(c.answers[q], "Ik speel graag voetbal.")
        self.assertEqual(c.notes, "Fijn gesprek.")
        self.assertEqual([(a.id, a.due, a.done) for a in c.agreements], [(aid, "2026-03-09", False)])
        self.assertEqual((c.status, c.visibility), (om.ConversationStatus.DRAFT, om.Visibility.PRIVATE))
        store.share_conversation(cid)
        other = store.add_agreement(cid, "Pupil tells the teacher", "pupil", None)
        store.set_agreement_done(cid, other, True)
        with self.assertRaises(om.OmkijkenError.NotFound):
            store.set_agreement_done(cid, "no-such-agreement", True)
        store.finalize_conversation(cid)
        [summary] = store.list_conversations("p1")
        self.assertEqual(summary.id, cid)
        self.assertEqual(summary.status, om.ConversationStatus.FINAL)
        self.assertEqual(summary.visibility, om.Visibility.SHARED)
        self.assertEqual(summary.open_agreements, 1)
        self.assertEqual(store.list_conversations("p2"), [])

    def test_bad_input_and_forbidden(self):
        store = self.open_as("m1")
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.start_conversation("p1", "ik-jij-wij", "2 maart")
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.start_conversation("p1", "no-such-template", "2026-03-02")
        with self.assertRaises(om.OmkijkenError.NotFound):
            store.start_conversation("nobody", "ik-jij-wij", "2026-03-02")
        teacher = self.server.device("t1")
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.start_conversation("p1", "ik-jij-wij", "2026-03-02")


class Thermometer(StoreTest):
    def test_scale_record_month_and_trend(self):
        store = self.open_as("m1")
        scale = store.thermometer_scale("p1")
        self.assertEqual((scale.id, scale.min, scale.max), ("smileys-5", 1, 5))
        self.assertEqual(len(scale.labels), 5)
        self.assertEqual(store.thermometer_scale("p2").id, "cijfer-10")
        self.assertEqual(om.thermometer_scale_for_band(om.AgeBand.PO1_TO4).max, 12)
        t = now_ms()
        doc = store.record_thermometer(om.NewThermometerEntry(
            pupil="p1", at=t, score=4, emotions=["trots"], wants_to_talk=False, note="goed"))
        store.record_thermometer(om.NewThermometerEntry(
            pupil="p1", at=t + 1000, score=2, wants_to_talk=True))
        trend = store.thermometer_trend("p1", t - DAY_MS, t + DAY_MS)
        self.assertEqual([(p.score, p.wants_to_talk) for p in trend], [(4, False), (2, True)])
        self.assertEqual(trend[0].doc, doc)
        self.assertAlmostEqual(trend[0].level, 0.75, places=3)
        month = time.strftime("%Y-%m", time.localtime(t / 1000))
        m = store.thermometer_month("p1", month)
        if m is None:  # around midnight at a month's end, Amsterdam may be in the next one
            m = store.thermometer_month("p1", time.strftime("%Y-%m", time.gmtime(t / 1000)))
        self.assertEqual([e.emotions for e in m.entries], [["trots"], []])
        self.assertEqual(m.entries[0].recorded_by, "m1")
        self.assertIsNone(store.thermometer_month("p1", "2001-01"))

    def test_score_outside_the_scale_is_invalid(self):
        store = self.open_as("m1")
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.record_thermometer(om.NewThermometerEntry(
                pupil="p1", at=now_ms(), score=9, wants_to_talk=False))


class Signals(StoreTest):
    def test_defaults_categories_flags_and_urgency_guidance(self):
        ids = [c.id for c in om.signal_categories()]
        self.assertIn("pesten", ids)
        self.assertIn("medewerker", ids)
        self.assertEqual([f.id for f in om.flag_levels()], ["groen", "geel", "rood", "zwart"])
        self.assertEqual([u.level for u in om.urgency_levels()], [0, 1, 2, 3])
        acute = om.urgency_level(3)
        numbers = [c.number for c in acute.emergency_contacts]
        self.assertIn("112", numbers)
        self.assertIn("0800-2000", numbers)
        self.assertEqual(om.urgency_level(1).emergency_contacts, [])
        self.assertIsNone(om.urgency_level(4))

    def test_record_with_every_field_read_back_and_follow_up(self):
        store = self.open_as("m1")
        observed = now_ms() - 7200_000
        sid = store.record_signal(new_signal(
            observed_at=observed, place="busreis", excursion="trip-1", category="seksueel",
            urgency=2, facts="Facts here.", interpretation="Might be a game.",
            source=om.SignalSource.TOLD_BY(who="a classmate"), pupil_quote="'Leave me'",
            flag="geel", share=False))
        s = store.signal(sid)
        self.assertEqual((s.observed_at, s.place, s.excursion), (observed, "busreis", "trip-1"))
        self.assertEqual((s.category, s.urgency, s.flag), ("seksueel", 2, "geel"))
        self.assertEqual(s.interpretation, om.Interpretation(text="Might be a game.", by="m1"))
        self.assertEqual(s.source, om.SignalSource.TOLD_BY(who="a classmate"))
        self.assertEqual(s.pupil_quote, "'Leave me'")
        self.assertFalse(s.shared)
        store.share_signal(sid)
        fid = store.append_follow_up(sid, om.FollowUpKind.CORRECTION, "It was on the bus.")
        store.append_follow_up(sid, om.FollowUpKind.FOLLOW_UP, "Talked with the pupil.")
        s = store.signal(sid)
        self.assertTrue(s.shared and s.open)
        self.assertEqual([(f.kind, f.author) for f in s.follow_ups],
                         [(om.FollowUpKind.CORRECTION, "m1"), (om.FollowUpKind.FOLLOW_UP, "m1")])
        self.assertEqual(s.follow_ups[0].id, fid)
        self.assertEqual(s.facts, "Facts here.")  # the original never changes

    def test_list_with_filters(self):
        # The care coordinator: closing a signal is the care team's.
        store = self.open_as("zc")
        a = store.record_signal(new_signal(pupil="p1", urgency=0, category="welbevinden"))
        b = store.record_signal(new_signal(pupil="p1", urgency=2))
        c = store.record_signal(new_signal(pupil="p2", urgency=3, excursion="trip-9"))
        store.append_follow_up(b, om.FollowUpKind.CLOSED, "")
        ids = lambda f: sorted(s.id for s in store.list_signals(f))
        self.assertEqual(ids(om.SignalFilter()), sorted([a, b, c]))
        self.assertEqual(ids(om.SignalFilter(pupil="p1")), sorted([a, b]))
        self.assertEqual(ids(om.SignalFilter(min_urgency=2)), sorted([b, c]))
        self.assertEqual(ids(om.SignalFilter(open=False)), [b])
        self.assertEqual(ids(om.SignalFilter(category="welbevinden")), [a])
        self.assertEqual(ids(om.SignalFilter(excursion="trip-9")), [c])
        self.assertEqual(ids(om.SignalFilter(author="t1")), [])
        [closed] = store.list_signals(om.SignalFilter(open=False))
        self.assertEqual((closed.open, closed.follow_ups), (False, 1))

    def test_bad_signals_are_refused(self):
        store = self.open_as("m1")
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.record_signal(new_signal(category="no-such-category"))
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.record_signal(new_signal(urgency=4))
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.record_signal(new_signal(facts="   "))
        with self.assertRaises(om.OmkijkenError.Invalid):
            store.signal("not an id")
        other = store.start_conversation("p1", "ik-jij-wij", "2026-03-02")
        with self.assertRaises(om.OmkijkenError.NotFound):
            store.signal(other)  # a conversation is not a signal

    def test_teacher_reads_own_signal_only(self):
        teacher = self.server.device("t1")
        mine = teacher.record_signal(new_signal(facts="Seen by the teacher."))
        self.assertEqual([s.id for s in teacher.list_signals(om.SignalFilter())], [mine])
        self.assertEqual(teacher.signal(mine).facts, "Seen by the teacher.")
        self.assertEqual(teacher.list_conversations("p1"), [])


class AttentionOutboxListeners(StoreTest):
    def test_attention_list_has_open_signals_and_talk_requests(self):
        store = self.open_as("m1")
        sid = store.record_signal(new_signal(urgency=2))
        store.record_thermometer(om.NewThermometerEntry(
            pupil="p2", at=now_ms() - 1000, score=3, wants_to_talk=True))
        items = store.attention_list()
        self.assertTrue(any(i.pupil == "p1" and i.reason.is_open_signal() for i in items))
        self.assertTrue(any(i.pupil == "p2" and isinstance(i.reason, om.AttentionReason.WANTS_TO_TALK)
                            for i in items))
        first = items[0]
        self.assertEqual(first.reason, om.AttentionReason.OPEN_SIGNAL(signal=sid, urgency=2, category="pesten"))

    def test_outbox_holds_what_is_not_sent(self):
        store = self.open_as("m1")
        self.assertEqual(store.outbox_count(), 0)
        sid = store.record_signal(new_signal())
        store.record_thermometer(om.NewThermometerEntry(pupil="p1", at=now_ms(), score=3, wants_to_talk=False))
        self.assertEqual(store.outbox_count(), 2)
        kinds = {e.id: e.kind for e in store.outbox()}
        self.assertEqual(kinds[sid], om.DocumentKind.SIGNAL)
        self.assertIn(om.DocumentKind.THERMOMETER, kinds.values())

    def test_listener_is_called_on_a_background_thread_until_cancelled(self):
        store = self.open_as("m1")
        calls, threads, got = [], [], threading.Event()

        class Listener(om.StoreListener):
            def on_change(self, document_ids):
                calls.append(document_ids)
                threads.append(threading.current_thread() is threading.main_thread())
                got.set()

        handle = store.subscribe(Listener())
        self.assertTrue(handle.is_active())
        sid = store.record_signal(new_signal())
        self.assertTrue(got.wait(5))
        self.assertEqual(calls, [[sid]])
        self.assertEqual(threads, [False])
        handle.cancel()
        self.assertFalse(handle.is_active())
        store.record_signal(new_signal())
        time.sleep(0.3)
        self.assertEqual(len(calls), 1)

    def test_dropping_the_handle_unsubscribes(self):
        store = self.open_as("m1")
        calls = []

        class Listener(om.StoreListener):
            def on_change(self, document_ids):
                calls.append(document_ids)

        handle = store.subscribe(Listener())
        del handle
        store.record_signal(new_signal())
        time.sleep(0.3)
        self.assertEqual(calls, [])

    def test_wipe_removes_everything(self):
        store = self.open_as("m1")
        store.record_signal(new_signal())
        store.wipe()
        self.assertTrue(store.is_wiped())
        self.assertFalse(os.path.exists(self.path))
        with self.assertRaises(om.OmkijkenError.Revoked):
            store.list_signals(om.SignalFilter())


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
