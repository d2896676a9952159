"""The incident register for the school leader and the anti-bullying coordinator, through
the generated Python bindings and the real server (server.py): counts only, built on the
server, small numbers never shown, and no pupil content on the leader's device.
"""

import shutil
import sys
import tempfile
import time
import unittest

import omkijken as om
from server import Server, now_ms

SCHOOL = "school-register"

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,Groep 7,,,,,,
staff,t1,Meester Een,,,,teacher,,g1
staff,sl,Juf Leiding,,,,school_leader,,
staff,ab,Meester Pest,,,,anti_bullying_coordinator,,
pupil,p1,Zoë,g1,po_5_8,false,,,
pupil,p2,Daan,g1,po_5_8,false,,,
"""


def signal(pupil, category, share=True):
    return om.NewSignal(pupil=pupil, observed_at=now_ms() - 60_000, place="plein",
                        category=category, urgency=1, facts="Gezien op het plein.",
                        source=om.SignalSource.SEEN(), share=share)


class RegisterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-register-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_counts_for_the_leader_with_small_numbers_suppressed_and_no_content(self):
        teacher = self.server.device("t1", "teacher-register")
        leader = self.server.device("sl", "leader-register")
        anti = self.server.device("ab", "anti-register")
        for i in range(6):
            teacher.record_signal(signal("p1" if i % 2 else "p2", "pesten"))
        for _ in range(2):
            teacher.record_signal(signal("p1", "welbevinden"))
        teacher.record_signal(signal("p2", "welbevinden", share=False))  # a draft: not counted
        teacher.sync_now()
        month = time.strftime("%Y-%m", time.gmtime())
        r = leader.incident_register(month, month)
        counts = {(s.category, s.route): s.count for s in r.signals}
        self.assertEqual(r.threshold, 5)
        self.assertEqual(counts[("pesten", "anti_bullying")], "6")
        self.assertEqual(counts[("welbevinden", "normal")], "< 5")
        self.assertIn("< 5", r.csv)
        self.assertNotIn("2", counts[("welbevinden", "normal")])
        # Counts only: the leader's device holds no pupil content.
        leader.sync_now()
        self.assertEqual(leader.list_signals(om.SignalFilter()), [])
        self.assertEqual(anti.incident_register(month, month).signals, r.signals)
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.incident_register(month, month)
        with self.assertRaises(om.OmkijkenError.Invalid):
            leader.incident_register("2026-13", month)
        # The school may show every count (threshold 1), from the admin CLI.
        out = self.server.admin("incidents", "--school", SCHOOL, "--from", month, "--to", month,
                                "--set-threshold", "1")
        self.assertIn(f"signals,{month},welbevinden,normal,2", out)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-register: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
