"""Meldcode cases through the generated Python bindings, on devices enrolled with a real
server (server.py): the five steps and the closing rules, the errors apps see, bad input
that changes nothing, the case list, and the signaller who sees only the status entries on
her signal (a teacher's and the care coordinator's devices exchanging through the server).

Run by scripts/test-bindings.sh with PYTHONPATH pointing at the generated bindings.
"""

import shutil
import sys
import tempfile
import time
import unittest

import omkijken as om
from server import Server, now_ms

SCHOOL = "school-cases"

# Teacher t1 of group g1 (p1); mentor m1 of p1 and p2; care coordinator zc.
ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,groep 6b,,,,,,
group,g2,klas 2a,,,,,,
staff,m1,Mentor,,,,mentor,,
staff,t1,Teacher,,,,teacher,,g1
staff,zc,Care,,,,care_coordinator;meldcode_duty,,
pupil,p1,Pupil One,g1,po_5_8,false,,m1,
pupil,p2,Pupil Two,g2,vo_mbo,true,,m1,
"""

FACTS = "Bruises on both arms, twice this week."
OUTCOME = "Signals mapped with the mentor."


def home_signal(pupil="p1"):
    return om.NewSignal(pupil=pupil, observed_at=now_ms() - 3600_000, place="klas",
                        category="thuissituatie", urgency=2, facts=FACTS,
                        source=om.SignalSource.SEEN(), share=True)


def step(n, on="2026-11-16", outcome=OUTCOME, **kw):
    return om.NewCaseStep(step=n, on=on, participants=["zc", "m1"], outcome=outcome, **kw)


HELP = om.CaseHelp(case_manager="wijkteam", deadline="2026-11-25", evaluation_on="2026-12-16")


class CaseTest(unittest.TestCase):
    """One server per class: the devices of one class only see each other through it."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-cases-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def care(self):
        """The care coordinator's device with a signal about p1 of her own; (store, signal)."""
        store = self.server.device("zc")
        return store, store.record_signal(home_signal())

    def assertNoContent(self, error, *texts):
        for text in (FACTS, OUTCOME) + texts:
            self.assertNotIn(text, str(error))


class FiveSteps(CaseTest):
    def test_a_case_goes_through_the_five_steps_and_closes_only_by_the_rules(self):
        zc, sid = self.care()
        cid = zc.open_case("p1", [sid])
        c = zc.case(cid)
        self.assertEqual((c.id, c.signals, c.status), (cid, [sid], om.CaseStatus.OPEN))
        self.assertEqual((c.current_step, c.report_required, c.steps, c.closed_at), (0, False, [], None))

        s1 = zc.record_case_step(cid, step(1))
        zc.record_case_step(cid, step(2, "2026-11-17", "Collegial consultation, advice line called."))
        zc.record_case_step(cid, step(3, "2026-11-17", "", skipped_because="A talk would endanger the child."))
        self.assertEqual(zc.case(cid).current_step, 3)
        zc.weigh_case(cid, "2026-11-18", True, om.Unsafety.STRUCTURAL)
        c = zc.case(cid)
        self.assertEqual((c.current_step, c.report_required), (4, True))
        self.assertEqual(c.weighing, om.Weighing(on="2026-11-18", suspicion=True,
                                                 unsafety=om.Unsafety.STRUCTURAL, by="zc"))
        zc.arrange_case_help(cid, HELP)
        c = zc.case(cid)
        self.assertEqual((c.current_step, c.help), (5, HELP))
        self.assertEqual([(s.id == s1, s.step, s.on, s.by) for s in c.steps],
                         [(True, 1, "2026-11-16", "zc"), (False, 2, "2026-11-17", "zc"),
                          (False, 3, "2026-11-17", "zc")])
        self.assertEqual((c.steps[0].participants, c.steps[0].outcome), (["zc", "m1"], OUTCOME))
        self.assertEqual((c.steps[2].outcome, c.steps[2].skipped_because),
                         ("", "A talk would endanger the child."))

        # No monitoring agreements: refused as Invalid, and nothing changes.
        before = zc.case(cid)
        with self.assertRaises(om.OmkijkenError.Invalid) as e:
            zc.close_case(cid)
        self.assertIn("monitoring", e.exception.reason)
        self.assertNoContent(e.exception)
        self.assertEqual(zc.case(cid), before)
        mid = zc.add_monitoring_agreement(cid, "Mentor talks with the pupil weekly.", "m1", "2027-01-31")
        # Suspicion with structural unsafety: the report to Veilig Thuis is required first.
        with self.assertRaises(om.OmkijkenError.Invalid) as e:
            zc.close_case(cid)
        self.assertIn("Veilig Thuis", e.exception.reason)
        self.assertNoContent(e.exception, "Mentor talks")
        self.assertEqual(zc.case(cid).status, om.CaseStatus.OPEN)

        # Thursday: feedback is due five working days later, the Thursday after.
        zc.report_case(cid, "2026-11-19", "VT-2026-0042")
        self.assertEqual(zc.case(cid).report, om.CaseReport(
            reported_on="2026-11-19", reference="VT-2026-0042", feedback_due="2026-11-26",
            feedback_on=None))
        [row] = zc.list_cases("p1")
        self.assertEqual((row.feedback_due, row.evaluation_on), ("2026-11-26", "2026-12-16"))
        zc.record_case_feedback(cid, "2026-11-24")
        zc.close_case(cid)

        c = zc.case(cid)
        self.assertEqual(c.status, om.CaseStatus.CLOSED)
        self.assertIsNotNone(c.closed_at)
        self.assertEqual(c.steps, before.steps)
        self.assertEqual(c.report.feedback_on, "2026-11-24")
        self.assertEqual(c.monitoring, [om.MonitoringAgreement(
            id=mid, text="Mentor talks with the pupil weekly.", owner="m1", due="2027-01-31")])
        [row] = zc.list_cases(None)
        self.assertEqual((row.id, row.pupil, row.author, row.status, row.step, row.signals),
                         (cid, "p1", "zc", om.CaseStatus.CLOSED, 5, 1))
        self.assertIsNone(row.feedback_due, "the feedback came")

        # A closed case is final: Forbidden, and nothing changes.
        with self.assertRaises(om.OmkijkenError.Forbidden):
            zc.record_case_step(cid, step(5, "2026-11-30"))
        with self.assertRaises(om.OmkijkenError.Forbidden):
            zc.add_monitoring_agreement(cid, "One more.", "m1", None)
        self.assertEqual(zc.case(cid), c)

        # The signal got the two fixed status entries, nothing of the case.
        s = zc.signal(sid)
        self.assertEqual([(f.kind, f.author, f.text) for f in s.follow_ups],
                         [(om.FollowUpKind.PICKED_UP, "zc", om.case_opened_status()),
                          (om.FollowUpKind.FOLLOW_UP, "zc", om.case_closed_status())])
        self.assertTrue(s.picked_up)

    def test_the_weighing_decides_whether_the_report_is_required(self):
        zc, sid = self.care()
        for suspicion, unsafety, required in [
            (True, om.Unsafety.ACUTE, True),
            (True, om.Unsafety.STRUCTURAL, True),
            (True, om.Unsafety.DOUBT, True),
            (True, om.Unsafety.NONE, False),
            (False, om.Unsafety.ACUTE, False),
        ]:
            with self.subTest(suspicion=suspicion, unsafety=unsafety):
                cid = zc.open_case("p1", [sid])
                zc.weigh_case(cid, "2026-11-18", suspicion, unsafety)
                zc.add_monitoring_agreement(cid, "Check in daily.", "m1", None)
                c = zc.case(cid)
                self.assertEqual((c.report_required, c.weighing.unsafety), (required, unsafety))
                if required:
                    with self.assertRaises(om.OmkijkenError.Invalid) as e:
                        zc.close_case(cid)
                    self.assertIn("Veilig Thuis", e.exception.reason)
                    self.assertEqual(zc.case(cid).status, om.CaseStatus.OPEN)
                    zc.report_case(cid, "2026-11-20", "VT-1")
                zc.close_case(cid)
                self.assertEqual(zc.case(cid).status, om.CaseStatus.CLOSED)


class BadInput(CaseTest):
    def test_bad_input_is_invalid_and_changes_nothing(self):
        zc, sid = self.care()
        cid = zc.open_case("p1", [sid])
        zc.record_case_step(cid, step(1))
        before, [row] = zc.case(cid), zc.list_cases(None)
        for bad in [step(6), step(0), step(2, on="16-11-2026"), step(2, on="2026-02-30"),
                    step(2, outcome="   ")]:
            with self.subTest(step=bad.step, on=bad.on):
                with self.assertRaises(om.OmkijkenError.Invalid) as e:
                    zc.record_case_step(cid, bad)
                self.assertNoContent(e.exception)
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.weigh_case(cid, "gisteren", True, om.Unsafety.ACUTE)
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.arrange_case_help(cid, om.CaseHelp(case_manager="wijkteam", deadline="soon",
                                                  evaluation_on="2026-12-16"))
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.report_case(cid, "2026-11-19", " ")
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.report_case(cid, "19-11", "VT-1")
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.record_case_feedback(cid, "2026-11-20")  # no report yet
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.add_monitoring_agreement(cid, "Check.", "m1", "next week")
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.case("not an id")
        self.assertEqual(zc.case(cid), before)
        self.assertEqual(zc.list_cases(None), [row])
        self.assertEqual(row.step, 1)

    def test_a_case_needs_signals_of_its_own_pupil(self):
        zc, sid = self.care()
        other = zc.record_signal(home_signal("p2"))
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.open_case("p1", [])
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.open_case("p1", [other])
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.open_case("p1", ["not an id"])
        with self.assertRaises(om.OmkijkenError.NotFound):
            zc.open_case("nobody", [sid])
        self.assertEqual(zc.list_cases(None), [])
        self.assertEqual(zc.signal(sid).follow_ups, [], "nothing said to the signaller")

        cid = zc.open_case("p1", [sid])
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.link_case_signal(cid, other)
        second = zc.record_signal(home_signal())
        zc.link_case_signal(cid, second)
        zc.link_case_signal(cid, second)
        self.assertEqual(zc.case(cid).signals, [sid, second])
        self.assertEqual([f.text for f in zc.signal(second).follow_ups], [om.case_opened_status()])
        self.assertEqual(zc.list_cases("p1")[0].signals, 2)


class CaseList(CaseTest):
    def test_list_cases_per_pupil_newest_first(self):
        zc, sid = self.care()
        first = zc.open_case("p1", [sid])
        zc.record_case_step(first, step(2))
        zc.weigh_case(first, "2026-11-18", True, om.Unsafety.DOUBT)
        time.sleep(0.01)  # opened in a later millisecond
        second = zc.open_case("p2", [zc.record_signal(home_signal("p2"))])
        rows = zc.list_cases(None)
        self.assertEqual([r.id for r in rows], [second, first])
        self.assertEqual([(r.pupil, r.step, r.status, r.signals, r.feedback_due) for r in rows],
                         [("p2", 0, om.CaseStatus.OPEN, 1, None), ("p1", 4, om.CaseStatus.OPEN, 1, None)])
        self.assertGreaterEqual(rows[0].opened_at, rows[1].opened_at)
        self.assertEqual([r.id for r in zc.list_cases("p1")], [first])
        self.assertEqual(zc.list_cases("p9"), [])


class Signaller(CaseTest):
    def test_the_signaller_sees_the_status_on_her_signal_and_never_the_case(self):
        teacher = self.server.device("t1")
        mentor = self.server.device("m1")
        zc = self.server.device("zc")
        sid = teacher.record_signal(home_signal())
        # Her own store refuses to open a case: the care team only.
        with self.assertRaises(om.OmkijkenError.Forbidden) as e:
            teacher.open_case("p1", [sid])
        self.assertIn("care team", e.exception.reason)
        self.assertEqual(teacher.list_cases(None), [])
        self.assertEqual(teacher.signal(sid).follow_ups, [])
        self.assertEqual(teacher.sync_now().refused, [])
        zc.sync_now()

        cid = zc.open_case("p1", [sid])
        zc.record_case_step(cid, step(1))
        zc.add_monitoring_agreement(cid, "Check in daily.", "m1", None)
        zc.close_case(cid)
        report = zc.sync_now()
        self.assertEqual(report.refused, [])
        self.assertEqual(zc.outbox_count(), 0)
        teacher.sync_now()
        mentor.sync_now()

        # Neither the signaller nor the mentor reads the case, nor lists it.
        for store in (teacher, mentor):
            with self.assertRaises(om.OmkijkenError.NotFound):
                store.case(cid)
            self.assertEqual(store.list_cases(None), [])
        # Her signal tells her the status, and nothing of the case.
        s = teacher.signal(sid)
        self.assertEqual([(f.kind, f.author, f.text) for f in s.follow_ups],
                         [(om.FollowUpKind.PICKED_UP, "zc", om.case_opened_status()),
                          (om.FollowUpKind.TO_SIGNALLER, "zc", om.case_closed_status())])
        self.assertEqual(s.facts, FACTS)
        [listed] = teacher.list_signals(om.SignalFilter())
        self.assertTrue(listed.picked_up)
        # The care coordinator's copy is the same case after the round trip.
        self.assertEqual(zc.case(cid).status, om.CaseStatus.CLOSED)


class SignallerReadsBack(CaseTest):
    def test_the_signaller_gets_the_status_and_notes_to_her_never_the_care_teams_notes(self):
        teacher = self.server.device("t1", "t1-reads-back")
        mentor = self.server.device("m1", "m1-reads-back")
        zc = self.server.device("zc", "zc-reads-back")
        sid = teacher.record_signal(home_signal())
        teacher.sync_now()
        zc.sync_now()
        mentor.sync_now()

        # The care coordinator: a status (no words of its own), a note for those who follow
        # the signal up, and one to the signaller; the mentor adds a note of her own.
        with self.assertRaises(om.OmkijkenError.Invalid):
            zc.append_follow_up(sid, om.FollowUpKind.PICKED_UP, "Father called the wijkteam.")
        # (Each in a later millisecond: entries are listed by time.)
        for store, kind, text in [(zc, om.FollowUpKind.PICKED_UP, ""),
                                  (zc, om.FollowUpKind.FOLLOW_UP, "Father called the wijkteam."),
                                  (zc, om.FollowUpKind.TO_SIGNALLER, "Thank you, we are on it."),
                                  (mentor, om.FollowUpKind.FOLLOW_UP, "She cried after gym.")]:
            store.append_follow_up(sid, kind, text)
            time.sleep(0.005)
        for store in (zc, mentor, zc, mentor):
            self.assertEqual(store.sync_now().refused, [])
        teacher.sync_now()

        # The signaller: the status with its date, and what is addressed to her.
        s = teacher.signal(sid)
        self.assertEqual([(f.kind, f.author, f.text) for f in s.follow_ups],
                         [(om.FollowUpKind.PICKED_UP, "zc", ""),
                          (om.FollowUpKind.TO_SIGNALLER, "zc", "Thank you, we are on it.")])
        self.assertGreater(s.follow_ups[0].at, 0)
        self.assertTrue(s.picked_up)
        [listed] = [x for x in teacher.list_signals(om.SignalFilter()) if x.id == sid]
        self.assertTrue(listed.picked_up and listed.open)
        # She adds to her own signal, and cannot write to herself.
        teacher.append_follow_up(sid, om.FollowUpKind.FOLLOW_UP, "Spoke to her again.")
        with self.assertRaises(om.OmkijkenError.Invalid):
            teacher.append_follow_up(sid, om.FollowUpKind.TO_SIGNALLER, "To me.")
        self.assertEqual(teacher.sync_now().refused, [])

        # Those who follow it up read everything, oldest first.
        zc.sync_now()
        mentor.sync_now()
        for store in (zc, mentor):
            texts = [f.text for f in store.signal(sid).follow_ups]
            self.assertEqual(texts, ["", "Father called the wijkteam.", "Thank you, we are on it.",
                                     "She cried after gym.", "Spoke to her again."])
        # Closing is a status too: the signaller sees it closed, with no text.
        zc.append_follow_up(sid, om.FollowUpKind.CLOSED, "")
        zc.sync_now()
        teacher.sync_now()
        self.assertEqual([f.kind for f in teacher.signal(sid).follow_ups],
                         [om.FollowUpKind.PICKED_UP, om.FollowUpKind.TO_SIGNALLER,
                          om.FollowUpKind.FOLLOW_UP, om.FollowUpKind.CLOSED])
        self.assertFalse(teacher.signal(sid).open)


class NotAccepted(CaseTest):
    def test_a_close_refused_for_good_is_kept_as_not_accepted_and_the_device_takes_the_servers_case(self):
        """Two devices of the care coordinator both close a case while offline. The tablet
        syncs first; the phone's close (made later, its closing time winning the merge)
        would change the closing time of a closed case: the server refuses it for good
        (invalid_record). The phone's changes then go one at a time: her agreements get in,
        her close does not. The phone holds the server's case, like every other device, and
        keeps the case as she had it as a "not accepted" item with the reason."""
        tablet, sid = self.care()
        cid = tablet.open_case("p1", [sid])
        tablet.sync_now()
        phone = self.server.device("zc", "zc-phone")
        self.assertEqual(phone.case(cid).status, om.CaseStatus.OPEN)

        # Offline: the tablet closes with one monitoring agreement...
        tablet.add_monitoring_agreement(cid, "Mentor talks with Sam weekly.", "m1", None)
        tablet.close_case(cid)
        # ...the phone, a little later, with three.
        phone_agreements = ["Weekly talk with the mentor.", "Check-in with the parents.",
                            "Evaluate in the care team in January."]
        for text in phone_agreements:
            phone.add_monitoring_agreement(cid, text, "m1", None)
        time.sleep(0.01)
        phone.close_case(cid)
        mine = phone.case(cid)
        self.assertEqual([m.text for m in mine.monitoring], phone_agreements)

        tablet.sync_now()
        report = phone.sync_now()
        self.assertIn(om.RefusedDocument(id=cid, reason=om.RefusalReason.INVALID_RECORD),
                      report.refused)
        tablet.sync_now()

        # Both hold the server's case: the tablet's close, all four agreements.
        server_case = tablet.case(cid)
        self.assertEqual(phone.case(cid), server_case)
        self.assertEqual(server_case.closed_at, tablet.case(cid).closed_at)
        self.assertEqual(sorted(m.text for m in server_case.monitoring),
                         sorted(phone_agreements + ["Mentor talks with Sam weekly."]))
        self.assertNotIn(cid, [e.id for e in phone.outbox()])
        # What she entered is kept, with the reason: her close, with its closing time.
        [item] = phone.not_accepted()
        self.assertEqual((item.document_id, item.kind, item.pupil, item.reason),
                         (cid, om.DocumentKind.CASE, "p1", om.RefusalReason.INVALID_RECORD))
        content = phone.not_accepted_content(item.id)
        self.assertIsInstance(content, om.NotAcceptedContent.CASE_RECORD)
        kept = content.meldcode_case
        self.assertEqual((kept.id, kept.status), (cid, om.CaseStatus.CLOSED))
        self.assertEqual(kept.closed_at, mine.closed_at)
        self.assertNotEqual(kept.closed_at, server_case.closed_at)
        self.assertEqual(sorted(m.text for m in kept.monitoring),
                         sorted(phone_agreements + ["Mentor talks with Sam weekly."]))
        # A later sync changes nothing: converged, and the item stays until she discards it.
        again = phone.sync_now()
        self.assertEqual(again.refused, [])
        self.assertEqual(phone.case(cid), server_case)
        self.assertEqual(len(phone.not_accepted()), 1)
        phone.discard_not_accepted(item.id)
        self.assertEqual(phone.not_accepted(), [])
        with self.assertRaises(om.OmkijkenError.NotFound):
            phone.discard_not_accepted(item.id)
        with self.assertRaises(om.OmkijkenError.NotFound):
            phone.not_accepted_content(item.id)

def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-cases: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
