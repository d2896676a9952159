"""Pupil mode and "wil je even praten?" through the generated Python bindings and the real
server (server.py): a teacher starts a pupil session for her group on her phone, three
pupils enter their own readings (two ask to talk), the session reads nothing (each way
tried), the mentor's tablet gets the readings and the requests and answers one, which leaves
the attention lists; the one left unanswered reaches the care coordinator once her clock has
moved past the school's number of school days.
"""

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import unittest

import omkijken as om
from server import Server

SCHOOL = "school-pupil-mode"
DAY_MS = 24 * 60 * 60 * 1000

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6b,,,,,,
group,g7,Groep 7a,,,,,,
staff,m1,Juf Jansen,,,,mentor,,
staff,t1,Meester Bakker,,,,teacher,,g6
staff,zc,Mevr. de Vries,,,,care_coordinator,,
staff,sl,Juf Bakker,,,,school_leader,,
pupil,p-zoe,Zoë de Groot,g6,po_5_8,false,,m1,
pupil,p-noel,Noël Bakker,g6,po_5_8,false,,m1,
pupil,p-sem,Sem Jansen,g6,po_5_8,false,,m1,
pupil,p-daan,Daan Visser,g7,po_5_8,false,,m1,
"""


class MovableClock(om.StoreClock):
    """A device clock the test moves."""

    def __init__(self):
        self.offset = 0

    def now_ms(self):
        return int(time.time() * 1000) + self.offset


def talk_items(store, pupil):
    return [i.reason for i in store.attention_list()
            if i.pupil == pupil and (i.reason.is_wants_to_talk() or i.reason.is_talk_not_answered())]


class PupilModeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-pupil-mode-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_a_pupil_session_adds_readings_reads_nothing_and_requests_to_talk_are_answered(self):
        srv = self.server
        # 1. The teacher's phone, the mentor's tablet, the care coordinator's tablet (whose
        #    clock the test moves later). The school waits two school days.
        teacher = srv.device("t1", "teacher-phone")
        mentor = srv.device("m1", "mentor-tablet")
        clock = MovableClock()
        coordinator = om.OmkijkenStore.open_with_clock(
            os.path.join(self.root, "ib-tablet.db"), secrets.token_bytes(32), clock)
        coordinator.enroll(srv.url, srv.code("zc"), "ib-tablet")
        coordinator.sync_now()
        leader = srv.device("sl", "leader-phone")
        leader.set_school_settings(json.dumps({"talk_escalation_school_days": 2}))

        # 2. The teacher starts a pupil session for groep 6b on her phone: its own store and
        #    key. A group she does not teach is refused.
        session_path = os.path.join(self.root, "pupil-session.db")
        session_key = secrets.token_bytes(32)
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.start_pupil_session("g7", 8, os.path.join(self.root, "no.db"), secrets.token_bytes(32))
        session = teacher.start_pupil_session("g6", 8, session_path, session_key)
        self.assertEqual(session.group(), "g6")
        names = [p.first_name for p in session.pupils()]
        self.assertEqual(names, ["Noël", "Sem", "Zoë"], "first names of the group only")
        ids = {p.first_name: p.id for p in session.pupils()}
        scale = session.scale(ids["Zoë"])
        self.assertEqual(scale.id, "smileys-5")
        with self.assertRaises(om.OmkijkenError.NotFound):
            session.scale("p-daan")

        # 3. Three pupils enter how they feel; Zoë and Noël want to talk.
        session.record(om.PupilReading(pupil=ids["Zoë"], score=2, emotions=["verdrietig"], wants_to_talk=True))
        session.record(om.PupilReading(pupil=ids["Noël"], score=1, wants_to_talk=True))
        session.record(om.PupilReading(pupil=ids["Sem"], score=5, emotions=["trots"], wants_to_talk=False))
        with self.assertRaises(om.OmkijkenError.NotFound):
            session.record(om.PupilReading(pupil="p-daan", score=3, wants_to_talk=False))
        with self.assertRaises(om.OmkijkenError.Invalid):
            session.record(om.PupilReading(pupil=ids["Sem"], score=9, wants_to_talk=False))
        self.assertEqual(session.pending_count(), 3)
        # The teacher is no mentor of the group: no sociogram round in her session.
        self.assertEqual(session.sociogram_questions(), [])
        with self.assertRaises(om.OmkijkenError.NotFound):
            session.record_sociogram(ids["Sem"], [om.SociogramAnswerInput(question="spelen_graag", pupils=[])])
        report = session.sync_now()
        self.assertEqual(report.pushed, 3)
        self.assertEqual(report.refused, [])
        self.assertEqual(session.pending_count(), 0)

        # 4. The session reads nothing. Its object has no read calls; its store, opened as an
        #    ordinary store by an app that tries, syncs and still shows nothing: no roster,
        #    no readings (not even its own), no notes, no signals, no attention list; and the
        #    server refuses its requests.
        month = time.strftime("%Y-%m", time.gmtime())
        nosy = om.OmkijkenStore.open(session_path, session_key)
        nosy.sync_now()
        roster = nosy.roster()
        self.assertEqual((roster.pupils, roster.staff), ([], []))
        for pupil in ids.values():
            self.assertIsNone(nosy.thermometer_month(pupil, month))
            self.assertEqual(nosy.thermometer_trend(pupil, 0, 2**62), [])
            self.assertEqual(nosy.list_conversations(pupil), [])
        self.assertEqual(nosy.list_signals(om.SignalFilter()), [])
        self.assertEqual(nosy.attention_list(), [])
        self.assertEqual(nosy.open_talk_requests(), [])
        with self.assertRaises(om.OmkijkenError.Forbidden):
            nosy.set_care_track(ids["Zoë"], True, "signal")
        with self.assertRaises(om.OmkijkenError.Forbidden):
            nosy.start_pupil_session("g6", 8, os.path.join(self.root, "again.db"), secrets.token_bytes(32))
        with self.assertRaises(om.OmkijkenError.Forbidden):
            nosy.request_dossier(ids["Zoë"], "2026-11-24")
        # The teacher's own store is no pupil session.
        with self.assertRaises(om.OmkijkenError.Invalid):
            om.PupilSession.open(os.path.join(self.root, "nothing-here.db"), secrets.token_bytes(32))

        # 5. The mentor's tablet gets the readings, marked as the pupils' own, and both
        #    requests to talk, on her attention list at once.
        mentor.sync_now()
        zoe_month = mentor.thermometer_month(ids["Zoë"], month)
        [zoe] = zoe_month.entries
        self.assertTrue(zoe.by_pupil and zoe.wants_to_talk)
        self.assertEqual((zoe.recorded_by, zoe.note, zoe.emotions), ("t1", None, ["verdrietig"]))
        self.assertEqual(len(talk_items(mentor, ids["Zoë"])), 1)
        self.assertEqual(len(talk_items(mentor, ids["Noël"])), 1)
        self.assertEqual(talk_items(mentor, ids["Sem"]), [])
        requests = {r.pupil: r for r in mentor.open_talk_requests()}
        self.assertEqual(set(requests), {ids["Zoë"], ids["Noël"]})
        self.assertTrue(all(r.by_pupil and not r.escalated for r in requests.values()))

        # 6. She talks with Zoë and marks it answered, with the kindgesprek that followed.
        talk = mentor.start_conversation(ids["Zoë"], "ik-jij-wij", time.strftime("%Y-%m-%d", time.gmtime()))
        mentor.set_notes(talk, "Zoë mist haar opa; we spreken af dat ze het zegt als het niet gaat.")
        mentor.answer_talk_request(ids["Zoë"], requests[ids["Zoë"]].entry,
                                   time.strftime("%Y-%m-%d", time.gmtime()), talk)
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.answer_talk_request(ids["Zoë"], requests[ids["Zoë"]].entry, "2026-11-24", None)
        self.assertEqual(talk_items(mentor, ids["Zoë"]), [])
        self.assertEqual(len(talk_items(mentor, ids["Noël"])), 1)
        [zoe] = mentor.thermometer_month(ids["Zoë"], month).entries
        self.assertIsNotNone(zoe.answered_on)
        mentor.sync_now()

        # 7. The care coordinator: Zoë's answered request is gone from her device (Zoë is not
        #    in care); Noël's waits, not on her list today...
        coordinator.sync_now()
        self.assertIsNone(coordinator.thermometer_month(ids["Zoë"], month))
        self.assertIsNotNone(coordinator.thermometer_month(ids["Noël"], month))
        self.assertEqual(talk_items(coordinator, ids["Noël"]), [])
        # ... and a week later, unanswered, it is.
        clock.offset = 7 * DAY_MS
        [item] = talk_items(coordinator, ids["Noël"])
        self.assertTrue(item.is_talk_not_answered())
        self.assertGreaterEqual(item.school_days, 2)
        self.assertEqual(talk_items(coordinator, ids["Zoë"]), [])
        self.assertEqual(talk_items(coordinator, ids["Sem"]), [])

        # 8. The teacher ends the session: its store is wiped.
        session.end()
        with self.assertRaises(om.OmkijkenError.Revoked):
            session.pending_count()

    def test_the_mentors_pupil_session_collects_the_open_sociogram_rounds_answers(self):
        srv = self.server
        mentor = srv.device("m1", "mentor-phone-sociogram")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        # 1. The mentor opens a sociogram round for groep 6b, then starts a pupil session.
        picked = [om.SociogramQuestion(id=q.id, text=q.nl, polarity=q.polarity)
                  for q in mentor.sociogram_questions() if q.id.startswith("spelen")]
        round_id = mentor.open_sociogram_round("g6", today, picked)
        self.assertEqual(mentor.sync_now().refused, [])
        session = mentor.start_pupil_session(
            "g6", 2, os.path.join(self.root, "sociogram-session.db"), secrets.token_bytes(32))
        self.assertEqual([q.id for q in session.sociogram_questions()], ["spelen_graag", "spelen_niet"])
        ids = {p.first_name: p.id for p in session.pupils()}
        zoe, noel, sem = ids["Zoë"], ids["Noël"], ids["Sem"]

        # 2. Three pupils answer for themselves; classmates of another group, herself or an
        #    unknown question are refused.
        said = lambda q, *ps: om.SociogramAnswerInput(question=q, pupils=list(ps))
        session.record_sociogram(zoe, [said("spelen_graag", sem), said("spelen_niet")])
        session.record_sociogram(noel, [said("spelen_graag", zoe, sem)])
        session.record_sociogram(sem, [said("spelen_graag", zoe), said("spelen_niet", noel)])
        for bad in ([said("spelen_graag", "p-daan")], [said("spelen_graag", zoe)],
                    [said("lievelingsvak", sem)]):
            with self.assertRaises(om.OmkijkenError.Invalid):
                session.record_sociogram(zoe, bad)
        report = session.sync_now()
        self.assertEqual(report.refused, [])
        self.assertEqual(report.pushed, 3)

        # 3. The mentor's device gets the pupils' own answers: the analysis counts them.
        mentor.sync_now()
        s = mentor.sociogram(round_id, "nl")
        self.assertEqual(s.respondents, 3)
        self.assertEqual(sorted((p.from_pupil, p.to_pupil) for p in s.mutual), sorted([tuple(sorted((zoe, sem)))]))
        self.assertEqual([a.pupils for a in mentor.sociogram_answers(round_id, noel)], [[zoe, sem]])
        session.end()


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-pupil-mode: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
