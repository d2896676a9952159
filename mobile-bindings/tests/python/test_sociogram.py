"""The sociogram, through the generated Python bindings and the real server (server.py):
the mentor of groep 6b opens a round, enters her pupils' answers on their behalf and closes
it; her other phone and the care coordinator's tablet read the analysis and the picture; a
teacher of the group and another mentor never receive the answers (the server's audit log
says to whom it delivered them).
"""

import json
import shutil
import sys
import tempfile
import unittest

import omkijken as om
from server import Server

SCHOOL = "school-sociogram"

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6b,Groep 6b,,,,,,
group,g7,Groep 7,,,,,,
staff,m1,Juf Aydın,,,,mentor,,g6b
staff,m2,Meester Brouwer,,,,mentor,,g7
staff,t1,Meester de Groot,,,,teacher,,g6b
staff,zc,Mevr. Zorg,,,,care_coordinator;meldcode_duty,,
pupil,p1,Anouk de Vries,g6b,po_5_8,false,,m1,
pupil,p2,Bram Jansen,g6b,po_5_8,false,,m1,
pupil,p3,Chloé Bakker,g6b,po_5_8,false,,m1,
pupil,p4,Daan Öztürk,g6b,po_5_8,true,,m1,
pupil,p5,Zoë Visser,g6b,po_5_8,false,,m1,
pupil,p9,Sem Dijkstra,g7,po_5_8,false,,m2,
"""


def said(question, *pupils):
    return om.SociogramAnswerInput(question=question, pupils=list(pupils))


class SociogramTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-sociogram-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def audit(self, pupil):
        out = self.server.admin("audit", "--pupil", pupil, "--format", "json")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def test_the_mentor_and_the_care_team_read_the_sociogram_and_nobody_else_gets_it(self):
        mentor = self.server.device("m1", "mentor-phone")
        tablet = self.server.device("m1", "mentor-tablet")
        care = self.server.device("zc", "care-tablet")
        teacher = self.server.device("t1", "teacher-phone")
        other = self.server.device("m2", "other-mentor")

        # 1. The mentor picks questions from the school's list (the defaults here).
        offered = mentor.sociogram_questions()
        self.assertEqual([q.id for q in offered],
                         ["spelen_graag", "spelen_niet", "zitten_graag", "zitten_niet",
                          "werken_graag", "werken_niet"])
        picked = [om.SociogramQuestion(id=q.id, text=q.nl, polarity=q.polarity)
                  for q in offered if q.id.startswith("spelen")]
        self.assertEqual([q.polarity for q in picked],
                         [om.Polarity.POSITIVE, om.Polarity.NEGATIVE])
        # Only the group's mentor opens a round.
        for device in (teacher, care, other):
            with self.assertRaises(om.OmkijkenError.Forbidden):
                device.open_sociogram_round("g6b", "2026-12-07", picked)
        round_id = mentor.open_sociogram_round("g6b", "2026-12-07", picked)

        # 2. She enters the answers on her pupils' behalf.
        answers = {
            "p1": [said("spelen_graag", "p5", "p4"), said("spelen_niet", "p2")],
            "p2": [said("spelen_graag", "p4")],
            "p3": [said("spelen_graag", "p5"), said("spelen_niet", "p2")],
            "p4": [said("spelen_graag", "p1"), said("spelen_niet")],
            "p5": [said("spelen_graag", "p1", "p3")],
        }
        for pupil, given in answers.items():
            mentor.add_sociogram_answers(round_id, pupil, given)
        # Bad input is refused and says what is wrong.
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.add_sociogram_answers(round_id, "p1", [said("spelen_graag", "p9")])
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.add_sociogram_answers(round_id, "p1", [said("lievelingsvak", "p2")])
        self.assertEqual([a.pupils for a in mentor.sociogram_answers(round_id, "p1")],
                         [["p5", "p4"], ["p2"]])
        report = mentor.sync_now()
        self.assertEqual(report.refused, [])
        self.assertGreaterEqual(report.pushed, 6, "the round and five pupils' answers")

        # 3. Her other device and the care coordinator read the analysis and the picture.
        tablet.sync_now()
        care.sync_now()
        for device in (mentor, tablet, care):
            s = device.sociogram(round_id, "nl")
            self.assertEqual(s.round.group, "g6b")
            self.assertEqual(s.respondents, 5)
            self.assertEqual(s.isolated, ["p2"])
            self.assertEqual(s.rejected, ["p2"])
            self.assertEqual(sorted((p.from_pupil, p.to_pupil) for p in s.mutual),
                             [("p1", "p4"), ("p1", "p5"), ("p3", "p5")])
            self.assertEqual(s.subgroups, [["p1", "p3", "p4", "p5"]])
            self.assertTrue(s.svg.startswith("<svg "), s.svg[:40])
            for name in (">Anouk<", ">Chloé<", ">Zoë<", ">geïsoleerd<"):
                self.assertIn(name, s.svg)
            self.assertNotIn("Öztürk", s.svg)
        english = care.sociogram(round_id, "en")
        self.assertIn(">isolated<", english.svg)
        # Beside her thermometer and signals: where Anouk stands.
        pos = care.pupil_sociogram("p1")
        self.assertEqual((pos.round, pos.members, pos.respondents), (round_id, 5, 5))
        self.assertEqual(pos.position.choices_received, 2)
        self.assertEqual(pos.mutual_names, ["Daan", "Zoë"])
        self.assertTrue(care.pupil_sociogram("p2").position.isolated)
        # The care team reads, it does not answer.
        with self.assertRaises(om.OmkijkenError.Forbidden):
            care.add_sociogram_answers(round_id, "p1", [said("spelen_graag", "p3")])

        # 4. A teacher of the group and another mentor receive nothing of it.
        for device in (teacher, other):
            device.sync_now()
            self.assertEqual(device.list_sociogram_rounds(None), [])
            with self.assertRaises(om.OmkijkenError.NotFound):
                device.sociogram(round_id, "nl")
            with self.assertRaises(om.OmkijkenError.NotFound):
                device.sociogram_round(round_id)
            self.assertIsNone(device.pupil_sociogram("p1"))
        delivered = {r.get("user") for pupil in answers for r in self.audit(pupil)
                     if r.get("action") == "deliver"}
        self.assertEqual(delivered, {"m1", "zc"},
                         "the answers went to the mentor's other device and the care team only")

        # 5. Closed: no more answers, on every device.
        mentor.close_sociogram_round(round_id, "2026-12-11")
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.add_sociogram_answers(round_id, "p3", [said("spelen_graag", "p1")])
        mentor.sync_now()
        care.sync_now()
        [row] = care.list_sociogram_rounds("g6b")
        self.assertEqual((row.id, row.status, row.closed_on, row.opened_by),
                         (round_id, om.SociogramStatus.CLOSED, "2026-12-11", "m1"))


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-sociogram: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
