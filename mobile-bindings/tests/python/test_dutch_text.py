"""Kindgesprek notes in Dutch, with emoji and other scripts, through the generated Python
bindings and the real server (server.py). Text positions in the API count UTF-16 code units
(what Kotlin and Swift strings index); Python counts code points, so these tests convert.
"""

import os
import random
import secrets
import shutil
import sys
import tempfile
import unittest

import omkijken as om
from server import Server

SCHOOL = "school-tekst"

ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,Groep 7,,,,,,
staff,m1,Mentor Eén,,,,mentor,,g1
staff,m2,Mentor Twee,,,,mentor,,g1
pupil,p1,Zoë,g1,po_5_8,false,,m1;m2,
"""


def u16(s, i):
    """UTF-16 offset of code point index i of s."""
    return len(s[:i].encode("utf-16-le")) // 2


class DutchTextTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="omkijken-tekst-")
        cls.server = Server(cls.root, SCHOOL, ROSTER_CSV)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def device(self, user, label):
        store = om.OmkijkenStore.open(os.path.join(self.root, f"{label}.db"), secrets.token_bytes(32))
        store.enroll(self.server.url, self.server.code(user), label)
        store.sync_now()
        return store

    def test_a_kindgesprek_in_dutch_edited_offline_on_two_devices_reads_back_word_for_word(self):
        a = self.device("m1", "mentor-een")
        b = self.device("m2", "mentor-twee")
        # 1. Mentor one starts the conversation and writes in Dutch with accents and an emoji.
        cid = a.start_conversation("p1", "ik-jij-wij", "2026-12-01")
        question = om.conversation_template("ik-jij-wij").questions[0].id
        base = "Gesprek met één leerling 😀 over ideeën."
        a.set_notes(cid, base)
        a.set_answer(cid, question, "De zorgcoördinator was erbij.")
        a.share_conversation(cid)
        a.sync_now()
        b.sync_now()
        self.assertEqual(b.conversation(cid).notes, base)
        # 2. Offline on both: A inserts after the emoji, B appends and edits the answer.
        after_emoji = u16(base, base.index("😀") + 1)
        a.edit_notes(cid, after_emoji, 0, " (privé 👍🏽)")
        b.edit_notes(cid, u16(base, len(base)), 0, " Afspraak: café-gesprek.")
        b.set_answer(cid, question, "De zorgcoördinator én de intern begeleider waren erbij.")
        # 3. Both sync (A again to receive B's push).
        for store in (a, b, a):
            store.sync_now()
        want = "Gesprek met één leerling 😀 (privé 👍🏽) over ideeën. Afspraak: café-gesprek."
        for store in (a, b):
            c = store.conversation(cid)
            self.assertEqual(c.notes, want)
            self.assertEqual(c.answers[question], "De zorgcoördinator én de intern begeleider waren erbij.")

    def test_a_position_inside_an_emoji_is_invalid_and_changes_nothing(self):
        a = self.device("m1", "mentor-emoji")
        cid = a.start_conversation("p1", "ik-jij-wij", "2026-12-02")
        a.set_notes(cid, "ö😀ö")
        with self.assertRaises(om.OmkijkenError.Invalid):
            a.edit_notes(cid, 2, 0, "x")  # between the two halves of the emoji
        with self.assertRaises(om.OmkijkenError.Invalid):
            a.edit_notes(cid, 5, 0, "x")  # past the end (4 units)
        self.assertEqual(a.conversation(cid).notes, "ö😀ö")
        # The store keeps working after the refusals.
        a.edit_notes(cid, 4, 0, "!")
        self.assertEqual(a.conversation(cid).notes, "ö😀ö!")

    def test_random_unicode_edits_read_back_exactly(self):
        seed = random.randrange(1 << 30)
        print(f"random unicode edits: seed {seed}", file=sys.stderr)
        rng = random.Random(seed)
        alphabet = "abcdeéëïöüçñ ÉÖ\u0301😀👍🏽🇳🇱שלוםمرحبا"
        a = self.device("m1", "mentor-random")
        cid = a.start_conversation("p1", "ik-jij-wij", "2026-12-03")
        model = ""
        for _ in range(60):
            at = rng.randint(0, len(model))
            delete = rng.randint(0, min(3, len(model) - at))
            insert = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
            a.edit_notes(cid, u16(model, at), u16(model[at:], delete), insert)
            model = model[:at] + insert + model[at + delete:]
            self.assertEqual(a.conversation(cid).notes, model, f"seed {seed}")


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"python-dutch-text: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
