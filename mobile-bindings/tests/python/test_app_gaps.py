"""The app API gaps, through the generated Python bindings and the real server (server.py):
change and delete a draft signal, who was present at a kindgesprek, editing an agreement,
my roles and my pupils.
"""

import os
import shutil
import sys
import tempfile
import unittest

import omkijken as om
from server import Server, now_ms

SCHOOL = "school-gaps"

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,Groep 5,,,,,,
group,g2,Groep 6,,,,,,
staff,m1,Juf Eén,,,,mentor,,g1
staff,m2,Meester Twee,,,,mentor,,g2
staff,t1,Meester Drie,,,,teacher,,g1
staff,zc,Mevr. Zorg,,,,care_coordinator;meldcode_duty,,
pupil,p1,Zoë,g1,po_5_8,false,,m1,
pupil,p2,Bram,g1,po_5_8,false,,m1,
pupil,p3,Ilse,g2,po_5_8,true,,m2,
"""


def draft(pupil, facts, share=False):
    return om.NewSignal(pupil=pupil, observed_at=now_ms() - 60_000, place="speelplein",
                        category="welbevinden", urgency=1, facts=facts,
                        source=om.SignalSource.SEEN(), share=share)


class AppGapsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-gaps-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_a_draft_signal_is_changed_then_shared_and_the_pupil_stays(self):
        teacher = self.server.device("t1", "teacher-draft-edit")
        mentor = self.server.device("m1", "mentor-draft-edit")
        sid = teacher.record_signal(draft("p1", "Eerste versie."))
        teacher.update_draft_signal(sid, draft("p1", "Tweede versie: zat alleen op het plein."))
        self.assertEqual(teacher.signal(sid).facts, "Tweede versie: zat alleen op het plein.")
        with self.assertRaises(om.OmkijkenError.Invalid):
            teacher.update_draft_signal(sid, draft("p2", "Andere leerling."))
        with self.assertRaises(om.OmkijkenError.Invalid):
            teacher.update_draft_signal(sid, draft("p1", "   "))
        # Sharing through the update; then it is append-only.
        teacher.update_draft_signal(sid, draft("p1", "Definitief: zat alleen.", share=True))
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.update_draft_signal(sid, draft("p1", "Nog eens anders."))
        teacher.sync_now()
        mentor.sync_now()
        self.assertEqual(mentor.signal(sid).facts, "Definitief: zat alleen.")
        # Someone else's draft is not hers to change.
        other = mentor.record_signal(draft("p1", "Concept van de mentor."))
        with self.assertRaises(om.OmkijkenError.Forbidden):
            mentor.delete_draft_signal(sid)  # shared, not a draft
        mentor.delete_draft_signal(other)

    def test_a_draft_is_deleted_offline_if_never_sent_and_online_if_the_server_has_it(self):
        teacher = self.server.device("t1", "teacher-draft-delete")
        local = teacher.record_signal(draft("p2", "Toch niets."))
        before = teacher.outbox_count()
        teacher.delete_draft_signal(local)
        with self.assertRaises(om.OmkijkenError.NotFound):
            teacher.signal(local)
        self.assertEqual(teacher.outbox_count(), before - 1)
        sent = teacher.record_signal(draft("p2", "Wel verstuurd als concept."))
        teacher.sync_now()
        teacher.delete_draft_signal(sent)
        with self.assertRaises(om.OmkijkenError.NotFound):
            teacher.signal(sent)
        teacher.sync_now()
        with self.assertRaises(om.OmkijkenError.NotFound):
            teacher.signal(sent)

    def test_participants_and_agreements_are_edited_and_merge(self):
        mentor = self.server.device("m1", "mentor-participants")
        cid = mentor.start_conversation("p1", "ik-jij-wij", "2026-12-01")
        mentor.set_participants(cid, ["m1", "pupil", "ouder", "m1"])
        self.assertEqual(mentor.conversation(cid).participants, ["m1", "pupil", "ouder"])
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.set_participants(cid, ["Jan de Vries"])
        aid = mentor.add_agreement(cid, "Elke week bijpraten", "m1", "2026-12-08")
        mentor.edit_agreement(cid, aid, "Elke maandag bijpraten, ook met ouders", "pupil", None, False)
        a = mentor.conversation(cid).agreements[0]
        self.assertEqual((a.text, a.owner, a.due, a.done),
                         ("Elke maandag bijpraten, ook met ouders", "pupil", None, False))
        mentor.set_agreement_done(cid, aid, True)
        self.assertTrue(mentor.conversation(cid).agreements[0].done)
        with self.assertRaises(om.OmkijkenError.NotFound):
            mentor.edit_agreement(cid, "no-such-agreement", "x", "m1", None, False)
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.edit_agreement(cid, aid, "x", "m1", "8 december", False)

    def test_my_roles_and_my_pupils(self):
        mentor = self.server.device("m1", "mentor-me")
        teacher = self.server.device("t1", "teacher-me")
        care = self.server.device("zc", "care-me")
        self.assertEqual(mentor.my_roles(), om.MyRoles(roles=[om.StaffRole.MENTOR], meldcode_duty=False))
        self.assertEqual(care.my_roles().roles, [om.StaffRole.CARE_COORDINATOR])
        self.assertTrue(care.my_roles().meldcode_duty)
        mine = mentor.my_pupils()
        self.assertEqual([(p.id, p.relation) for p in mine], [("p2", "mentor"), ("p1", "mentor")])
        self.assertTrue(mine[0].permissions.start_conversation)
        taught = teacher.my_pupils()
        self.assertEqual({p.relation for p in taught}, {"teacher"})
        self.assertFalse(taught[0].permissions.start_conversation)
        self.assertEqual([(p.id, p.relation) for p in care.my_pupils()], [("p3", "care")])

    def test_every_view_of_the_roster_carries_the_school_settings_for_the_acute_screen(self):
        # Each device holds its user's view of the roster, not the roster: the school's
        # settings (the leader's number for urgency 3) reach a teacher, a mentor and the care
        # team alike, and a settings change reaches them at their next sync.
        devices = [self.server.device(u, f"acute-{u}") for u in ("t1", "m1", "zc")]
        self.server.admin("settings", "--school", SCHOOL, "--leader-name", "Juf Bakker",
                          "--leader-phone", "020-1234567")
        for d in devices:
            d.sync_now()
            leader = [c for c in d.acute_contacts() if c.number == "020-1234567"]
            self.assertEqual(len(leader), 1, d.acute_contacts())
            self.assertIn("Juf Bakker", leader[0].label.nl)
            self.assertTrue(any(c.number == "112" for c in d.acute_contacts()))
        self.server.admin("settings", "--school", SCHOOL, "--leader-phone", "020-7654321")
        for d in devices:
            d.sync_now()
            self.assertIn("020-7654321", [c.number for c in d.acute_contacts()])
        # The views still hold what each needs: the care team sees the care track.
        self.assertEqual([(p.id, p.relation) for p in devices[2].my_pupils()], [("p3", "care")])

    def test_the_group_overview_for_mentor_and_care_team_and_not_a_teacher(self):
        mentor = self.server.device("m1", "mentor-overview")
        teacher = self.server.device("t1", "teacher-overview")
        care = self.server.device("zc", "care-overview")
        now = now_ms()
        week = 7 * 24 * 3600 * 1000
        # Readings in the group this week and three weeks ago, one asking to talk.
        for pupil, score, talk, at in [("p1", 1, True, now), ("p2", 5, False, now),
                                       ("p1", 3, False, now - 3 * week)]:
            mentor.record_thermometer(om.NewThermometerEntry(pupil=pupil, at=at, score=score,
                                                             wants_to_talk=talk))
        # Other tests of this class wrote about these pupils too: count what this one adds.
        before = mentor.group_overview("g1", now - 4 * week, now)
        before_signals = sum(c.count for c in before.signals)
        mentor.record_signal(draft("p1", "Ruzie op het plein.", share=True))
        cid = mentor.start_conversation("p2", "ik-jij-wij", "2026-12-01")
        mentor.add_agreement(cid, "Samen spelen", "pupil", None)
        mentor.share_conversation(cid)
        o = mentor.group_overview("g1", now - 4 * week, now)
        self.assertEqual(o.pupils, 2)
        self.assertIn(len(o.weeks), (5, 6))
        last = o.weeks[-1]
        self.assertEqual((last.readings, last.wants_to_talk, sum(last.levels)), (2, 1, 2))
        self.assertEqual(sum(w.readings for w in o.weeks), 3)
        self.assertEqual(sum(1 for w in o.weeks if w.mean is None), len(o.weeks) - 2)
        self.assertEqual(sum(c.count for c in o.signals), before_signals + 1)
        self.assertEqual({c.category for c in o.signals}, {"welbevinden"})
        self.assertEqual(o.open_agreements, before.open_agreements + 1)
        self.assertTrue(any(i.pupil == "p1" for i in o.to_watch))
        self.assertTrue(o.trend_svg.startswith("<svg") and "<circle" in o.trend_svg)
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.group_overview("g1", now - week, now)
        with self.assertRaises(om.OmkijkenError.NotFound):
            mentor.group_overview("no-such-group", now - week, now)
        # The care team sees the group of the pupil in care, from what its tablet holds.
        care.sync_now()
        self.assertEqual(care.group_overview("g2", now - week, now).pupils, 1)

    def test_the_care_team_opens_and_closes_a_care_track_from_the_tablet(self):
        mentor = self.server.device("m1", "mentor-care-track")
        care = self.server.device("zc", "care-track")
        teacher = self.server.device("t1", "teacher-care-track")
        cid = mentor.start_conversation("p2", "ik-jij-wij", "2026-12-02")
        mentor.set_notes(cid, "Bram is vaak moe.")
        mentor.share_conversation(cid)
        mentor.sync_now()
        care.sync_now()
        with self.assertRaises(om.OmkijkenError.NotFound):
            care.conversation(cid)  # not in care: not hers to read
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.set_care_track("p2", True, "signal")
        with self.assertRaises(om.OmkijkenError.Invalid):
            care.set_care_track("p2", True, "omdat het moet")
        # Opened: the note reaches the care team at once (the call syncs).
        care.set_care_track("p2", True, "care_meeting")
        self.assertEqual(care.conversation(cid).notes, "Bram is vaak moe.")
        self.assertTrue(next(p for p in care.roster().pupils if p.id == "p2").in_care)
        # Closed: purged from the care team's tablet.
        care.set_care_track("p2", False, "goals_met")
        with self.assertRaises(om.OmkijkenError.NotFound):
            care.conversation(cid)
        rows = [r for r in self.server_audit("p2") if r["action"].startswith("care_track")]
        self.assertEqual([(r["action"], r.get("user")) for r in rows],
                         [("care_track_opened", "zc"), ("care_track_closed", "zc")])

    def server_audit(self, pupil):
        import json
        out = self.server.admin("audit", "--pupil", pupil, "--format", "json")
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-app-gaps: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
