"""Excursions through the generated Python bindings, on devices enrolled with a real server
(server.py): the organiser plans a trip with a colleague on it, the colleague's phone gets
it (read only) and loses it when she is taken off the trip, staff not on the trip never see
it, the guideline's count of adults, bad input that writes nothing, and the trip cache
wiped from the colleague's phone on return while the organiser keeps the trip.

Run by scripts/test-bindings.sh with PYTHONPATH pointing at the generated bindings.
"""

import shutil
import sys
import tempfile
import unittest

import omkijken as om
from server import Server, now_ms

SCHOOL = "school-trips"

# Organiser m1 (mentor of groep 2a and 7b), colleague t1 on the trip, t2 and the care
# coordinator zc not on it. Groep 2a: y1-y6 (po_1_4, one adult per 5); groep 7b: o1-o8
# (po_5_8, one adult per 7); klas 2a: v1 (vo_mbo, no fixed ratio).
ROSTER_CSV = "\n".join(
    ["type,id,name,group,age_band,in_care,roles,mentors,teaches",
     "group,g1,groep 2a,,,,,,",
     "group,g2,groep 7b,,,,,,",
     "group,g3,klas 2a,,,,,,",
     "staff,m1,Organiser,,,,mentor,,g1;g2",
     "staff,t1,Colleague,,,,teacher,,g1;g2",
     "staff,t2,Other Teacher,,,,teacher,,g3",
     "staff,zc,Care,,,,care_coordinator,,"]
    + [f"pupil,y{i},Young {i},g1,po_1_4,false,,m1," for i in range(1, 7)]
    + [f"pupil,o{i},Older {i},g2,po_5_8,false,,m1," for i in range(1, 9)]
    + ["pupil,v1,Secondary,g3,vo_mbo,false,,,"]) + "\n"

YOUNG = [f"y{i}" for i in range(1, 7)]
OLDER = [f"o{i}" for i in range(1, 9)]
PHONE = "06-12345678"
PARENT = om.NewTripContact(name="Ouder van dienst", role="begeleider", phone=PHONE,
                           supervises=True)
BUS = om.NewTripContact(name="Busbedrijf", role="busmaatschappij", phone="030-1234567")


def trip(**kw):
    base = dict(name="Schoolkamp", place="Ardennen", starts_on="2027-05-10",
                ends_on="2027-05-12", participants=["y1", "o1", "o2"], staff=["t1"],
                contacts=[PARENT, BUS])
    base.update(kw)
    return om.NewExcursion(**base)


class ExcursionTest(unittest.TestCase):
    """One server per class: the devices of one class only see each other through it."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-trips-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def assertUnchanged(self, store, tid, before):
        self.assertEqual(store.excursion(tid), before)


class Colleague(ExcursionTest):
    def test_the_colleague_on_the_trip_reads_it_and_loses_it_when_taken_off(self):
        m1 = self.server.device("m1")
        t1 = self.server.device("t1")
        outsiders = [self.server.device("t2"), self.server.device("zc")]
        tid = m1.plan_excursion(trip())
        e = m1.excursion(tid)
        self.assertEqual((e.id, e.name, e.place, e.starts_on, e.ends_on),
                         (tid, "Schoolkamp", "Ardennen", "2027-05-10", "2027-05-12"))
        self.assertEqual((e.participants, e.staff), (["y1", "o1", "o2"], ["t1"]))
        self.assertEqual([(c.name, c.role, c.phone, c.supervises) for c in e.contacts],
                         [("Ouder van dienst", "begeleider", PHONE, True),
                          ("Busbedrijf", "busmaatschappij", "030-1234567", False)])
        self.assertEqual(len({c.id for c in e.contacts}), 2)
        self.assertEqual(m1.sync_now().refused, [])
        self.assertEqual(m1.outbox_count(), 0)

        # Her phone gets the trip at its next sync, contacts included.
        t1.sync_now()
        self.assertEqual(t1.excursion(tid), e)
        self.assertEqual(t1.excursion_supervision(tid), m1.excursion_supervision(tid))
        [row] = t1.list_excursions()
        self.assertEqual(row, om.ExcursionSummary(id=tid, organiser="m1", name="Schoolkamp",
                                                  starts_on="2027-05-10",
                                                  ends_on="2027-05-12", participants=3))
        self.assertEqual(m1.list_excursions(), [row])

        # She reads it, but only the organiser changes it.
        for change in [lambda: t1.set_excursion_details(tid, "Kamp", "Elders", "2027-05-10", "2027-05-11"),
                       lambda: t1.set_excursion_participants(tid, ["y1"]),
                       lambda: t1.set_excursion_staff(tid, ["t1", "t2"]),
                       lambda: t1.add_trip_contact(tid, PARENT),
                       lambda: t1.remove_trip_contact(tid, e.contacts[0].id)]:
            with self.assertRaises(om.OmkijkenError.Forbidden):
                change()
        self.assertUnchanged(t1, tid, e)
        self.assertEqual(t1.outbox_count(), 0)

        # Staff not on the trip never see it.
        for store in outsiders:
            store.sync_now()
            with self.assertRaises(om.OmkijkenError.NotFound):
                store.excursion(tid)
            with self.assertRaises(om.OmkijkenError.NotFound):
                store.excursion_supervision(tid)
            self.assertEqual(store.list_excursions(), [])

        # The organiser's changes reach her phone.
        m1.set_excursion_details(tid, "Schoolkamp Ardennen", "Han-sur-Lesse", "2027-05-11", "2027-05-13")
        m1.set_excursion_participants(tid, ["y1", "y2", "o1"])
        cid = m1.add_trip_contact(tid, om.NewTripContact(name="School", role="school",
                                                         phone="010-7654321", supervises=False))
        m1.remove_trip_contact(tid, e.contacts[1].id)
        m1.sync_now()
        t1.sync_now()
        seen = t1.excursion(tid)
        self.assertEqual(seen, m1.excursion(tid))
        self.assertEqual((seen.name, seen.place, seen.starts_on, seen.ends_on, seen.participants),
                         ("Schoolkamp Ardennen", "Han-sur-Lesse", "2027-05-11", "2027-05-13",
                          ["y1", "y2", "o1"]))
        self.assertEqual([c.id for c in seen.contacts], [e.contacts[0].id, cid])

        # Taken off the trip, her phone loses it at its next sync.
        m1.set_excursion_staff(tid, [])
        self.assertEqual(m1.excursion(tid).staff, [])
        m1.sync_now()
        report = t1.sync_now()
        self.assertEqual(report.purged, 1)
        with self.assertRaises(om.OmkijkenError.NotFound):
            t1.excursion(tid)
        self.assertEqual(t1.list_excursions(), [])
        self.assertEqual([r.id for r in m1.list_excursions()], [tid])


class GuidelineCount(ExcursionTest):
    def test_the_guideline_counts_the_adults_a_trip_needs(self):
        m1 = self.server.device("m1")
        # Six of groep 1-4 need two adults, eight of groep 5-8 two more; v1 counts as a
        # pupil but asks for no adult. The organiser, t1 and the parent make three. A plan
        # that names a pupil twice takes her once (a change that does is Invalid: BadInput).
        tid = m1.plan_excursion(trip(participants=YOUNG + OLDER + ["v1", "y1"]))
        self.assertEqual(m1.excursion(tid).participants, YOUNG + OLDER + ["v1"])
        self.assertEqual(m1.excursion_supervision(tid),
                         om.Supervision(pupils=15, adults=3, required=4, enough=False))
        self.assertEqual(m1.list_excursions()[0].participants, 15)
        m1.add_trip_contact(tid, om.NewTripContact(name="Stagiair", role="begeleider",
                                                   phone="06-87654321", supervises=True))
        self.assertEqual(m1.excursion_supervision(tid),
                         om.Supervision(pupils=15, adults=4, required=4, enough=True))
        # Five young ones and seven older ones: one adult each.
        m1.set_excursion_participants(tid, YOUNG[:5] + OLDER[:7])
        self.assertEqual(m1.excursion_supervision(tid),
                         om.Supervision(pupils=12, adults=4, required=2, enough=True))
        m1.set_excursion_staff(tid, [])
        parent = m1.excursion(tid).contacts[0]
        self.assertEqual(parent.name, "Ouder van dienst")
        m1.remove_trip_contact(tid, parent.id)
        s = m1.excursion_supervision(tid)
        self.assertEqual((s.adults, s.required, s.enough), (2, 2, True))
        m1.set_excursion_participants(tid, YOUNG)
        self.assertEqual(m1.excursion_supervision(tid),
                         om.Supervision(pupils=6, adults=2, required=2, enough=True))
        m1.set_excursion_participants(tid, YOUNG + ["o1"])
        self.assertEqual(m1.excursion_supervision(tid),
                         om.Supervision(pupils=7, adults=2, required=3, enough=False))
        # No pupils yet: one adult (the organiser) is enough.
        m1.set_excursion_participants(tid, [])
        self.assertEqual(m1.excursion_supervision(tid),
                         om.Supervision(pupils=0, adults=2, required=1, enough=True))


class BadInput(ExcursionTest):
    def test_bad_input_is_invalid_and_writes_nothing(self):
        m1 = self.server.device("m1")
        for what, bad in [
            ("ends before it starts", trip(ends_on="2027-05-09")),
            ("a date that is not YYYY-MM-DD", trip(starts_on="10 mei")),
            ("no name", trip(name="  ")),
            ("an unknown pupil", trip(participants=["y1", "nobody"])),
            ("an unknown colleague", trip(staff=["t1", "nobody"])),
            ("a contact without a phone", trip(contacts=[om.NewTripContact(
                name="Ouder", role="begeleider", phone="", supervises=True)])),
        ]:
            with self.subTest(what):
                with self.assertRaises(om.OmkijkenError.Invalid) as e:
                    m1.plan_excursion(bad)
                self.assertNotIn("nobody", e.exception.reason)
                self.assertNotIn("Ouder", e.exception.reason)
        self.assertEqual(m1.list_excursions(), [])
        self.assertEqual(m1.outbox_count(), 0)

        tid = m1.plan_excursion(trip())
        m1.sync_now()
        self.assertEqual(m1.outbox_count(), 0)
        before, rows = m1.excursion(tid), m1.list_excursions()
        for what, change, error in [
            ("ends before it starts",
             lambda: m1.set_excursion_details(tid, "Kamp", "Ardennen", "2027-05-12", "2027-05-10"),
             om.OmkijkenError.Invalid),
            ("a bad date",
             lambda: m1.set_excursion_details(tid, "Kamp", "Ardennen", "2027-02-30", "2027-05-10"),
             om.OmkijkenError.Invalid),
            ("no name",
             lambda: m1.set_excursion_details(tid, "", "Ardennen", "2027-05-10", "2027-05-12"),
             om.OmkijkenError.Invalid),
            ("an unknown pupil", lambda: m1.set_excursion_participants(tid, ["y1", "nobody"]),
             om.OmkijkenError.Invalid),
            ("a pupil twice", lambda: m1.set_excursion_participants(tid, ["o1", "o1"]),
             om.OmkijkenError.Invalid),
            ("an unknown colleague", lambda: m1.set_excursion_staff(tid, ["nobody"]),
             om.OmkijkenError.Invalid),
            ("a contact without a phone",
             lambda: m1.add_trip_contact(tid, om.NewTripContact(name="Ouder", role="begeleider",
                                                                phone=" ", supervises=False)),
             om.OmkijkenError.Invalid),
            ("no such contact", lambda: m1.remove_trip_contact(tid, "no-such-contact"),
             om.OmkijkenError.NotFound),
            ("not an id", lambda: m1.set_excursion_staff("not an id", []),
             om.OmkijkenError.Invalid),
        ]:
            with self.subTest(what):
                with self.assertRaises(error):
                    change()
        self.assertUnchanged(m1, tid, before)
        self.assertEqual(m1.list_excursions(), rows)
        self.assertEqual(m1.outbox_count(), 0, "nothing to send")
        with self.assertRaises(om.OmkijkenError.Invalid):
            m1.excursion("not an id")


class TripCache(ExcursionTest):
    def test_the_colleagues_phone_wipes_the_trip_on_return_the_organiser_keeps_it(self):
        m1 = self.server.device("m1")
        t1 = self.server.device("t1")
        tid = m1.plan_excursion(trip())
        m1.sync_now()
        t1.sync_now()
        # On the trip, offline, she records a signal that refers to it.
        sid = t1.record_signal(om.NewSignal(
            pupil="o1", observed_at=now_ms() - 60_000, place="bij het kampvuur", excursion=tid,
            category="welbevinden", urgency=1, facts="Homesick, wants to go home.",
            source=om.SignalSource.SEEN(), share=True))
        self.assertEqual(t1.signal(sid).excursion, tid)
        # Nothing unsent is wiped, and the trip stays while the signal waits.
        self.assertEqual(t1.wipe_excursion_cache(tid), 0)
        self.assertEqual(t1.excursion(tid).name, "Schoolkamp")

        # Back home the phone syncs: the signal and the trip go.
        self.assertEqual(t1.sync_now().refused, [])
        self.assertEqual(t1.wipe_excursion_cache(tid), 2)
        with self.assertRaises(om.OmkijkenError.NotFound):
            t1.signal(sid)
        with self.assertRaises(om.OmkijkenError.NotFound):
            t1.excursion(tid)
        self.assertEqual(t1.list_excursions(), [])
        self.assertEqual(t1.list_signals(om.SignalFilter(excursion=tid)), [])
        self.assertEqual(t1.wipe_excursion_cache(tid), 0)

        # The organiser (p1's mentor) gets the signal; her wipe removes it, not the trip.
        m1.sync_now()
        self.assertEqual([s.id for s in m1.list_signals(om.SignalFilter(excursion=tid))], [sid])
        self.assertEqual(m1.wipe_excursion_cache(tid), 1)
        self.assertEqual(m1.list_signals(om.SignalFilter(excursion=tid)), [])
        self.assertEqual(m1.excursion(tid).name, "Schoolkamp")
        self.assertEqual([r.id for r in m1.list_excursions()], [tid])


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-excursions: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
