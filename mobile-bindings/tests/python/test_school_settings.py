"""School settings, through the generated Python bindings and the real server (server.py):
the thermometer scale and labels per age band, the school's kindgesprek templates and the
one a new kindgesprek starts from, and the cadence, written with `admin settings` (flags and
a JSON file) or by the school leader from her device, and read by devices after a sync;
defaults before anything is set.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import omkijken as om
from server import Server, now_ms, wait_until

SCHOOL = "school-settings"

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,Groep 3,,,,,,
group,g2,Groep 6,,,,,,
staff,m1,Juf Eén,,,,mentor,,g1;g2
staff,sl,Meneer Leider,,,,school_leader,,
pupil,p1,Daan,g1,po_1_4,false,,m1,
pupil,p2,Fien,g2,po_5_8,false,,m1,
"""

SETTINGS = {
    "thermometer": {
        "po_1_4": {
            "scale": "smileys-5",
            "labels": [{"nl": "Heel verdrietig"}, {"nl": "Een beetje verdrietig"},
                       {"nl": "Gewoon"}, {"nl": "Blij"}, {"nl": "Heel blij", "en": "Very glad"}],
            "talk_flag": {"nl": "Wil je even met de juf praten?"},
            "emotion_words": ["blij", "moe", "boos"],
        }
    },
    "templates": [{
        "id": "start-groep-3",
        "name": {"nl": "Startgesprek groep 3", "en": "Start of year, group 3"},
        "opening": {"nl": "Ik schrijf kort op wat we zeggen. Je juf en je ouders mogen het lezen."},
        "questions": [{"id": "leuk", "label": {"nl": "Wat vind je leuk op school?"}},
                      {"id": "lastig", "label": {"nl": "Wat vind je lastig?"}}],
    }],
    "default_template": "start-groep-3",
    "conversations_per_year": 3,
    "thermometer_months": [10, 2, 6],
}


class SchoolSettingsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-settings-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def settings_file(self, settings):
        path = os.path.join(self.root, "settings.json")
        with open(path, "w") as f:
            json.dump(settings, f)
        return path

    def wait_for(self, device, cond, what):
        wait_until(lambda: device.sync_now() is not None and cond(), 10, what)

    def test_1_defaults_before_the_school_sets_anything(self):
        mentor = self.server.device("m1", "mentor-defaults")
        s = mentor.school_settings()
        self.assertEqual((s.default_template, s.conversations_per_year, s.thermometer_months,
                          s.parent_names), ("ik-jij-wij", 3, [], False))
        self.assertEqual(mentor.thermometer_scale("p1"), om.thermometer_scale_for_band(om.AgeBand.PO1_TO4))
        self.assertEqual(mentor.school_conversation_templates(), om.conversation_templates())
        cid = mentor.start_conversation("p2", "", "2026-12-01")
        self.assertEqual(mentor.conversation(cid).template_id, "ik-jij-wij")

    def test_2_the_schools_scale_template_and_cadence_reach_the_device(self):
        mentor = self.server.device("m1", "mentor-settings")
        out = self.server.admin("settings", "--school", SCHOOL,
                                "--file", self.settings_file(SETTINGS),
                                "--leader-phone", "020-7654321")
        self.assertIn("settings changed", out)
        self.wait_for(mentor, lambda: mentor.school_settings().default_template == "start-groep-3",
                      "the settings to reach the device")
        s = mentor.school_settings()
        self.assertEqual((s.conversations_per_year, s.thermometer_months, s.leader_phone),
                         (3, [10, 2, 6], "020-7654321"))
        # The thermometer of groep 1-4: the school's smileys with its own labels and words.
        scale = mentor.thermometer_scale("p1")
        self.assertEqual((scale.id, scale.min, scale.max), ("smileys-5", 1, 5))
        self.assertEqual(scale.labels[0], om.LocalizedText(nl="Heel verdrietig", en="Heel verdrietig"))
        self.assertEqual(scale.labels[4].en, "Very glad")
        self.assertEqual(scale.talk_flag.nl, "Wil je even met de juf praten?")
        self.assertEqual([w.id for w in scale.emotion_words], ["blij", "moe", "boos"])
        self.assertEqual(mentor.school_thermometer_scale(om.AgeBand.PO1_TO4), scale)
        # Groep 5-8 keeps its default.
        self.assertEqual(mentor.thermometer_scale("p2"), om.thermometer_scale_for_band(om.AgeBand.PO5_TO8))
        month = mentor.record_thermometer(om.NewThermometerEntry(
            pupil="p1", at=now_ms(), score=5, emotions=["moe"], wants_to_talk=False))
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.record_thermometer(om.NewThermometerEntry(
                pupil="p1", at=now_ms(), score=3, emotions=["trots"], wants_to_talk=False))
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.record_thermometer(om.NewThermometerEntry(
                pupil="p1", at=now_ms(), score=12, wants_to_talk=False))
        self.assertEqual(mentor.sync_now().refused, [])
        self.assertTrue(month)
        # A new kindgesprek starts from the school's template.
        templates = mentor.school_conversation_templates()
        self.assertEqual([t.id for t in templates], ["start-groep-3", "ik-jij-wij"])
        self.assertEqual(templates[0].questions[1].label.nl, "Wat vind je lastig?")
        cid = mentor.start_conversation("p1", "", "2026-12-02")
        c = mentor.conversation(cid)
        self.assertEqual((c.template_id, sorted(c.answers)), ("start-groep-3", ["lastig", "leuk"]))
        mentor.set_answer(cid, "leuk", "Buitenspelen")
        mentor.share_conversation(cid)
        self.assertEqual(mentor.sync_now().refused, [])
        # The default template stays on offer.
        other = mentor.start_conversation("p2", "ik-jij-wij", "2026-12-02")
        self.assertEqual(mentor.conversation(other).template_id, "ik-jij-wij")
        with self.assertRaises(om.OmkijkenError.Invalid):
            mentor.start_conversation("p2", "bestaat-niet", "2026-12-02")
        # The cadence: three a year, so the next for Daan is four months on; Fien's too.
        due = {d.pupil: d for d in mentor.conversations_due("2026-12-03")}
        self.assertEqual((due["p1"].last_held_on, due["p1"].due_on, due["p1"].due),
                         ("2026-12-02", "2027-04-02", False))
        self.assertTrue(due["p2"].last_held_on is not None)
        # A later flag changes one setting and keeps the others.
        self.server.admin("settings", "--school", SCHOOL, "--conversations-per-year", "1")
        self.wait_for(mentor, lambda: mentor.school_settings().conversations_per_year == 1,
                      "the new cadence")
        self.assertEqual(mentor.school_settings().default_template, "start-groep-3")
        due = {d.pupil: d for d in mentor.conversations_due("2026-12-03")}
        self.assertEqual(due["p1"].due_on, "2027-12-02")

    def test_3_settings_that_do_not_fit_are_refused_and_change_nothing(self):
        before = self.server.admin("settings", "--school", SCHOOL, "--json")
        for bad in [{"thermometer": {"po_1_4": {"scale": "sterren-7"}}},
                    {"thermometer": {"po_1_4": {"scale": "smileys-5", "labels": [{"nl": "één"}]}}},
                    {"templates": [{"id": "ik-jij-wij", "name": {"nl": "x"}, "opening": {"nl": "x"},
                                    "questions": [{"id": "q", "label": {"nl": "q"}}]}]},
                    {"default_template": "bestaat-niet"},
                    {"thermometer_months": [13]},
                    {"kleur": "blauw"}]:
            with self.assertRaises(subprocess.CalledProcessError, msg=json.dumps(bad)):
                self.server.admin("settings", "--school", SCHOOL, "--file", self.settings_file(bad))
        self.assertEqual(self.server.admin("settings", "--school", SCHOOL, "--json"), before)

    def test_4_the_school_leader_sets_them_from_her_device_and_nobody_else(self):
        leader = self.server.device("sl", "leader-settings")
        mentor = self.server.device("m1", "mentor-leader-settings")
        leader.set_school_settings(json.dumps({
            "thermometer": {"vo_mbo": {"scale": "cijfer-10",
                                       "talk_flag": {"nl": "Ik wil mijn mentor even spreken"}}},
            "thermometer_months": [],
        }))
        # Her device holds them at once; the rest stays as it was.
        self.assertEqual(leader.school_settings().thermometer_months, [])
        self.assertEqual(leader.school_thermometer_scale(om.AgeBand.VO_MBO).talk_flag.nl,
                         "Ik wil mijn mentor even spreken")
        self.assertEqual(leader.school_settings().default_template, "start-groep-3")
        self.wait_for(mentor, lambda: mentor.school_settings().thermometer_months == [],
                      "the leader's settings to reach the mentor")
        self.assertEqual(mentor.school_thermometer_scale(om.AgeBand.VO_MBO).talk_flag.nl,
                         "Ik wil mijn mentor even spreken")
        # A mentor may not; settings that do not fit are refused before they are sent.
        with self.assertRaises(om.OmkijkenError.Forbidden):
            mentor.set_school_settings(json.dumps({"conversations_per_year": 4}))
        with self.assertRaises(om.OmkijkenError.Invalid):
            leader.set_school_settings(json.dumps({"conversations_per_year": 40}))
        with self.assertRaises(om.OmkijkenError.Invalid):
            leader.set_school_settings("geen json")
        self.assertEqual(leader.school_settings().conversations_per_year, 1)
        audit = self.server.admin("audit", "--action", "school_settings", "--format", "json")
        rows = [json.loads(line) for line in audit.splitlines() if line.strip()]
        self.assertEqual([r.get("user") for r in rows], ["sl"])


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-school-settings: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
