"""Parents, through the generated Python bindings and the real server (server.py): an
oudercontact (who was there by role, what was discussed, agreements) under the rules of a
kindgesprek, and the parents' part in the steps of a meldcode case.
"""

import sys
import shutil
import tempfile
import unittest

import omkijken as om
from server import Server, now_ms, wait_until

SCHOOL = "school-parents"

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,Groep 5,,,,,,
group,g2,Groep 6,,,,,,
staff,m1,Juf Eén,,,,mentor,,g1
staff,m2,Meester Twee,,,,mentor,,g2
staff,t1,Meester Drie,,,,teacher,,g1
staff,zc,Mevr. Zorg,,,,care_coordinator;meldcode_duty,,
pupil,p1,Zoë,g1,po_5_8,false,,m1,
pupil,p3,Ilse,g2,po_5_8,true,,m2,
"""


def contact(pupil, discussed, parents=None, staff=None, channel="meeting"):
    return om.NewParentContact(
        pupil=pupil, held_on="2026-12-03", channel=channel, staff=staff or [],
        parents=parents if parents is not None else [om.ParentPresent(role="moeder")],
        pupil_present=False, discussed=discussed)


class ParentsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-parents-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_a_parent_contact_reaches_the_mentors_only_and_not_a_teacher(self):
        mentor = self.server.device("m1", "mentor-contact")
        phone2 = self.server.device("m1", "mentor-second-phone")
        teacher = self.server.device("t1", "teacher-contact")
        care = self.server.device("zc", "care-contact")
        self.assertTrue(mentor.pupil_permissions("p1").record_parent_contact)
        self.assertFalse(teacher.pupil_permissions("p1").record_parent_contact)
        self.assertFalse(teacher.pupil_permissions("p1").read_parent_contacts)
        cid = mentor.record_parent_contact(
            contact("p1", "Zoë slaapt slecht sinds de verhuizing.",
                    parents=[om.ParentPresent(role="moeder"), om.ParentPresent(role="verzorger")]))
        aid = mentor.add_parent_contact_agreement(cid, "Over twee weken bellen", "m1", "2026-12-17")
        mentor.add_parent_contact_agreement(cid, "Briefje mee naar huis", "parents", None)
        mentor.set_parent_contact_agreement_done(cid, aid, True)
        c = mentor.parent_contact(cid)
        self.assertEqual(c.staff, ["m1"])
        self.assertEqual([p.role for p in c.parents], ["moeder", "verzorger"])
        self.assertEqual(c.status, om.ConversationStatus.DRAFT)
        self.assertEqual([a.done for a in c.agreements], [True, False])
        mentor.finalize_parent_contact(cid)
        [row] = mentor.list_parent_contacts("p1")
        self.assertEqual((row.id, row.open_agreements, row.channel, row.status),
                         (cid, 1, "meeting", om.ConversationStatus.FINAL))
        mentor.sync_now()
        # The mentor's other phone gets it; a teacher of the group and the care team (the
        # pupil is not in care) never do.
        phone2.sync_now()
        self.assertEqual(phone2.parent_contact(cid).discussed, "Zoë slaapt slecht sinds de verhuizing.")
        for other in (teacher, care):
            other.sync_now()
            with self.assertRaises(om.OmkijkenError.NotFound):
                other.parent_contact(cid)
            self.assertEqual(other.list_parent_contacts("p1"), [])
        # A teacher who is not the mentor records none.
        with self.assertRaises(om.OmkijkenError.Forbidden):
            teacher.record_parent_contact(contact("p1", "Vader sprak me aan bij het hek."))

    def test_what_does_not_fit_is_refused(self):
        mentor = self.server.device("m1", "mentor-contact-invalid")
        for bad in [contact("p1", "x", channel="brief"),
                    contact("p1", "x", parents=[om.ParentPresent(role="buurvrouw")]),
                    contact("p1", "x", staff=["niemand"]),
                    om.NewParentContact(pupil="p1", held_on="3 december", channel="phone")]:
            with self.assertRaises(om.OmkijkenError.Invalid):
                mentor.record_parent_contact(bad)
        # Not the mentor of p3.
        with self.assertRaises(om.OmkijkenError.Forbidden):
            mentor.record_parent_contact(contact("p3", "x"))
        cid = mentor.record_parent_contact(contact("p1", "x"))
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.update_parent_contact(cid, contact("p3", "een andere leerling"))

    def test_parents_names_only_where_the_school_records_them(self):
        mentor = self.server.device("m1", "mentor-contact-names")
        named = contact("p1", "Gesprek met moeder.",
                        parents=[om.ParentPresent(role="moeder", name="Mevrouw Jansen")])
        self.assertFalse(mentor.school_settings().parent_names)
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.record_parent_contact(named)
        self.server.admin("settings", "--school", SCHOOL, "--parent-names", "true")
        try:
            wait_until(lambda: mentor.sync_now() is not None and mentor.school_settings().parent_names,
                       10, "the school's parent-names setting to reach the device")
            cid = mentor.record_parent_contact(named)
            report = mentor.sync_now()
            self.assertEqual(report.refused, [])
            self.assertEqual(mentor.parent_contact(cid).parents[0].name, "Mevrouw Jansen")
        finally:
            self.server.admin("settings", "--school", SCHOOL, "--parent-names", "false")

    def test_the_care_team_shares_the_contact_of_a_pupil_in_care(self):
        mentor = self.server.device("m2", "mentor-contact-care")
        care = self.server.device("zc", "care-contact-care")
        cid = mentor.record_parent_contact(
            contact("p3", "Thuis gaat het moeizaam.", staff=["m2", "zc"]))
        mentor.sync_now()
        care.sync_now()
        self.assertEqual(care.parent_contact(cid).staff, ["m2", "zc"])
        care.update_parent_contact(cid, contact("p3", "Thuis gaat het moeizaam; hulp via wijkteam.",
                                                staff=["m2", "zc"]))
        care.add_parent_contact_agreement(cid, "Wijkteam inschakelen", "zc", "2026-12-10")
        care.sync_now()
        mentor.sync_now()
        c = mentor.parent_contact(cid)
        self.assertEqual(c.discussed, "Thuis gaat het moeizaam; hulp via wijkteam.")
        self.assertEqual([a.owner for a in c.agreements], ["zc"])
        # In the pupil's dossier, for inzage.
        export = care.request_dossier("p3", "2026-12-04")
        self.assertIn("Oudercontacten", export.json)
        self.assertIn("Wijkteam inschakelen", export.json)

    def test_the_parents_part_in_the_meldcode_steps(self):
        mentor = self.server.device("m2", "mentor-meldcode-parents")
        care = self.server.device("zc", "care-meldcode-parents")
        sid = mentor.record_signal(om.NewSignal(
            pupil="p3", observed_at=now_ms() - 60_000, place="klas", category="thuissituatie",
            urgency=2, facts="Blauwe plekken op de arm.", source=om.SignalSource.SEEN(), share=True))
        mentor.sync_now()
        care.sync_now()
        case = care.open_case("p3", [sid])
        care.record_case_step(case, om.NewCaseStep(
            step=3, on="2026-12-03", outcome="Gesprek met ouders en Ilse.",
            parents=om.ParentsInvolved(how=om.ParentsInvolvement.CONSULTED, on="2026-12-03")))
        with self.assertRaises(om.OmkijkenError.Invalid):
            care.record_case_step(case, om.NewCaseStep(
                step=5, on="2026-12-05", outcome="Hulp georganiseerd.",
                parents=om.ParentsInvolved(how=om.ParentsInvolvement.INFORMED)))
        with self.assertRaises(om.OmkijkenError.Invalid):
            care.record_case_step(case, om.NewCaseStep(
                step=3, on="2026-12-05", outcome="",
                skipped_because="Niet gesproken.",
                parents=om.ParentsInvolved(how=om.ParentsInvolvement.NOT_INVOLVED)))
        care.record_case_step(case, om.NewCaseStep(
            step=5, on="2026-12-05", outcome="Hulp georganiseerd.",
            parents=om.ParentsInvolved(how=om.ParentsInvolvement.INFORMED, on="2026-12-05")))
        self.assertEqual(care.sync_now().refused, [])
        steps = care.case(case).steps
        self.assertEqual([(s.step, s.parents.how) for s in steps],
                         [(3, om.ParentsInvolvement.CONSULTED), (5, om.ParentsInvolvement.INFORMED)])


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-parents: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
