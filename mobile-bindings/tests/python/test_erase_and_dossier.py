"""Erasing one record from a device, and the inzage dossier from the coordinator's tablet,
through the generated Python bindings and the real server (server.py). The server decides
who may do either; the audit log (read with the admin CLI) records both.
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

import omkijken as om
from server import Server, now_ms

SCHOOL = "school-inzage"

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,Groep 8,,,,,,
staff,m1,Juf Eén,,,,mentor,,g1
staff,t1,Meester Twee,,,,teacher,,g1
staff,zc,Mevr. Zorg,,,,care_coordinator,,
pupil,p1,Zoë,g1,po_5_8,true,,m1,
pupil,p2,Daan,g1,po_5_8,false,,m1,
"""


def signal(pupil, facts, share=True):
    return om.NewSignal(pupil=pupil, observed_at=now_ms() - 60_000, place="gym",
                        category="welbevinden", urgency=1, facts=facts,
                        source=om.SignalSource.SEEN(), share=share)


class EraseAndDossierTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-inzage-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def audit(self, pupil):
        out = self.server.admin("audit", "--pupil", pupil, "--format", "json")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def test_a_record_on_the_wrong_pupil_is_erased_everywhere_by_the_coordinator(self):
        teacher = self.server.device("t1", "teacher-erase")
        mentor = self.server.device("m1", "mentor-erase")
        care = self.server.device("zc", "care-erase")
        # 1. The teacher records a signal about the wrong pupil; everyone who may, gets it.
        wrong = teacher.record_signal(signal("p1", "Hoort bij een andere leerling."))
        teacher.sync_now()
        mentor.sync_now()
        care.sync_now()
        self.assertEqual(mentor.signal(wrong).facts, "Hoort bij een andere leerling.")
        # 2. The teacher may not erase a shared signal; the mentor neither.
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.erase_record(wrong)
        with self.assertRaises(om.OmkijkenError.Forbidden):
            mentor.erase_record(wrong)
        # 3. The coordinator erases it: gone from her tablet at once, from the others at
        #    their next sync, and from the server (a second erase finds nothing).
        care.erase_record(wrong)
        with self.assertRaises(om.OmkijkenError.NotFound):
            care.signal(wrong)
        for store in (teacher, mentor):
            store.sync_now()
            with self.assertRaises(om.OmkijkenError.NotFound):
                store.signal(wrong)
        with self.assertRaises(om.OmkijkenError.NotFound):
            care.erase_record(wrong)
        rows = [r for r in self.audit("p1") if r["action"] == "erase"]
        self.assertTrue(any(r.get("user") == "zc" for r in rows), rows)

    def test_an_author_erases_her_own_draft_but_not_what_she_cannot_read(self):
        teacher = self.server.device("t1", "teacher-draft")
        mentor = self.server.device("m1", "mentor-draft")
        draft = teacher.record_signal(signal("p2", "Nog niet zeker.", share=False))
        teacher.sync_now()
        teacher.erase_record(draft)
        with self.assertRaises(om.OmkijkenError.NotFound):
            teacher.signal(draft)
        # The mentor's private working note: the teacher cannot read it, so to her it does
        # not exist; the mentor erases her own.
        note = mentor.start_conversation("p2", "ik-jij-wij", "2026-12-01")
        mentor.set_notes(note, "Eigen werkaantekening.")
        mentor.sync_now()
        with self.assertRaises(om.OmkijkenError.NotFound):
            teacher.erase_record(note)
        mentor.erase_record(note)
        with self.assertRaises(om.OmkijkenError.NotFound):
            mentor.conversation(note)

    def test_the_coordinator_gets_the_dossier_and_a_teacher_does_not(self):
        mentor = self.server.device("m1", "mentor-dossier")
        care = self.server.device("zc", "care-dossier")
        teacher = self.server.device("t1", "teacher-dossier")
        shared = mentor.start_conversation("p1", "ik-jij-wij", "2026-11-16")
        mentor.set_notes(shared, "Zoë vertelt over haar ideeën.")
        mentor.share_conversation(shared)
        private = mentor.start_conversation("p1", "ik-jij-wij", "2026-11-17")
        mentor.set_notes(private, "PRIVE-aantekening-77")
        mentor.sync_now()
        dossier = care.request_dossier("p1", "2026-11-20")
        self.assertTrue(dossier.pdf.startswith(b"%PDF-"))
        d = json.loads(dossier.json)
        self.assertEqual((d["pupil"], d["requested_on"]), ("p1", "2026-11-20"))
        self.assertIn("Zoë vertelt over haar ideeën.", dossier.json)
        self.assertNotIn("PRIVE-aantekening-77", dossier.json)
        self.assertNotIn(b"PRIVE-aantekening-77", dossier.pdf)
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.request_dossier("p1", "2026-11-20")
        with self.assertRaises(om.OmkijkenError.NotFound):
            care.request_dossier("no-such-pupil", "2026-11-20")
        self.assertTrue(any(r["action"] == "export" for r in self.audit("p1")))


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-erase-dossier: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
