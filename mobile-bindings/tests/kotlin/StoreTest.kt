// The mobile API from Kotlin on the JVM, through the generated bindings and JNA, as the
// Android app uses it: a device enrolled with the real server (omkijken-server on a free
// loopback port, from OMKIJKEN_SERVER), then offline: record a signal, list it, an error
// thrown as an exception, a listener called on a background thread; the care
// coordinator's device opening and closing a meldcode case; a mentor planning an
// excursion; and a mentor's sociogram of groep 7a.
//
// Built and run by scripts/test-bindings.sh (kotlinc + java, no Gradle). Plain main() with
// a small runner; prints "kotlin: N passed, M failed".

import nl.omkijken.core.*
import java.io.File
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URI
import java.nio.file.Files
import java.nio.file.Path
import java.security.SecureRandom
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess

private var passed = 0
private var failed = 0

private fun test(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (e: Throwable) {
        failed++
        println("FAIL $name: $e")
        e.printStackTrace()
    }
}

private fun check(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

private fun key(): ByteArray = ByteArray(32).also { SecureRandom().nextBytes(it) }

private const val SCHOOL = "school-kt"
private const val ROSTER_CSV = """type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,groep 6b,,,,,,
group,g2,groep 7a,,,,,,
staff,m1,Mentor,,,,mentor,,
staff,zc,Care,,,,care_coordinator,,
pupil,p1,Pupil One,g1,po_5_8,false,,m1,
pupil,p2,Zoë Visser,g2,po_5_8,false,,m1,
pupil,p3,Daan Öztürk,g2,po_5_8,false,,m1,
pupil,p4,Inès Bakker,g2,po_5_8,false,,m1,
"""

/** The real server with one school, on a free loopback port. */
private class Server(private val dir: Path) {
    private val bin = System.getenv("OMKIJKEN_SERVER") ?: "target/debug/omkijken-server"
    private val data = dir.resolve("server-data").toString()
    private val port = ServerSocket(0).use { it.localPort }
    val url = "http://127.0.0.1:$port"
    private val process: Process

    init {
        admin("create-school", "--id", SCHOOL, "--name", "Test School")
        val csv = dir.resolve("roster.csv").toFile().apply { writeText(ROSTER_CSV) }
        admin("import-roster", "--school", SCHOOL, csv.path)
        process = ProcessBuilder(bin, "serve", "--data", data, "--listen", "127.0.0.1:$port")
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("server.log").toFile())
            .start()
        val deadline = System.currentTimeMillis() + 30_000
        while (!healthy()) {
            check(System.currentTimeMillis() < deadline, "the server answers /healthz")
            Thread.sleep(50)
        }
    }

    fun admin(vararg args: String): String {
        val p = ProcessBuilder(listOf(bin, "admin", "--data", data) + args).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor() == 0, "admin ${args.first()} succeeds")
        return out.trim()
    }

    private fun healthy(): Boolean = try {
        val c = URI("$url/healthz").toURL().openConnection() as HttpURLConnection
        c.connectTimeout = 1000
        c.responseCode == 200
    } catch (e: java.io.IOException) {
        false
    }

    /** A store enrolled as [user] with a one-time code, synced once (it holds the roster). */
    fun device(path: String, key: ByteArray, user: String = "m1"): OmkijkenStore {
        val store = OmkijkenStore.open(path, key)
        val code = admin("enroll", "--school", SCHOOL, "--user", user).lines().last().trim()
        val identity = store.enroll(url, code, "kotlin-test")
        check(identity == Identity(school = SCHOOL, user = user), "enrolled as $user")
        store.syncNow()
        return store
    }

    fun stop() {
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
    }
}

private fun newSignal(facts: String, urgency: Int = 1, category: String = "pesten") = NewSignal(
    pupil = "p1",
    observedAt = System.currentTimeMillis() - 60_000,
    place = "gym",
    category = category,
    urgency = urgency.toUByte(),
    facts = facts,
    source = SignalSource.Seen,
    share = true,
)

fun main() {
    val dir = Files.createTempDirectory("omkijken-kt")
    val path = dir.resolve("store.db").toString()
    val key = key()
    val server = Server(dir)
    var enrolled: OmkijkenStore? = null
    fun openStore(): OmkijkenStore = enrolled?.let { OmkijkenStore.open(path, key) }
        ?: server.device(path, key).also { enrolled = it }

    test("open, record a signal and list it") {
        openStore().use { store ->
            val id = store.recordSignal(newSignal("A bag was taken away.", urgency = 2))
            val list = store.listSignals(SignalFilter(pupil = "p1"))
            check(list.map { it.id } == listOf(id), "list holds the signal: $list")
            check(list[0].urgency.toInt() == 2, "urgency read back")
            val signal = store.signal(id)
            check(signal.facts == "A bag was taken away.", "facts read back")
            check(signal.source == SignalSource.Seen, "source read back")
            check(store.outboxCount() >= 1u, "the signal waits in the outbox")
            val report = store.syncNow()
            check(report.pushed >= 1uL && report.refused.isEmpty(), "sent: $report")
            check(store.outboxCount() == 0u, "the outbox is empty after the sync")
            check(store.lastSyncTime() != null, "the last sync time is kept")
        }
    }

    test("urgency 3 guidance carries the emergency numbers") {
        val acute = urgencyLevel(3u.toUByte())!!
        check(acute.emergencyContacts.any { it.number == "112" }, "112 listed")
    }

    test("errors are thrown as OmkijkenException subclasses") {
        try {
            OmkijkenStore.open(path, key())
            throw AssertionError("a wrong key opened the store")
        } catch (e: OmkijkenException.Storage) {
            check(e.reason.isNotEmpty(), "a reason is given")
        }
        openStore().use { store ->
            try {
                store.recordSignal(newSignal("Zwaailicht", urgency = 9))
                throw AssertionError("urgency 9 accepted")
            } catch (e: OmkijkenException.Invalid) {
                check(e.reason.contains("urgency"), "the reason names the field: ${e.reason}")
                check(!e.reason.contains("Zwaailicht"), "the reason holds no content")
            }
            try {
                store.signal("1111111111111111111111")
                throw AssertionError("a missing signal was found")
            } catch (e: OmkijkenException) {
                check(e is OmkijkenException.NotFound || e is OmkijkenException.Invalid, "$e")
            }
        }
    }

    test("a listener is called on a background thread, and not after cancel()") {
        openStore().use { store ->
            val latch = CountDownLatch(1)
            val seen = mutableListOf<List<String>>()
            var onMain = true
            val caller = Thread.currentThread()
            val handle = store.subscribe(object : StoreListener {
                override fun onChange(documentIds: List<String>) {
                    synchronized(seen) { seen.add(documentIds) }
                    onMain = Thread.currentThread() == caller
                    latch.countDown()
                }
            })
            val id = store.recordSignal(newSignal("Listener test."))
            check(latch.await(5, TimeUnit.SECONDS), "listener called within 5 s")
            check(!onMain, "called on another thread than the writer's")
            synchronized(seen) { check(seen == listOf(listOf(id)), "told which document: $seen") }
            handle.cancel()
            check(!handle.isActive(), "inactive after cancel")
            store.recordSignal(newSignal("After cancel."))
            Thread.sleep(300)
            synchronized(seen) { check(seen.size == 1, "no call after cancel: $seen") }
            handle.close()
        }
    }

    test("the care coordinator opens a meldcode case and closes it by the rules") {
        server.device(dir.resolve("care.db").toString(), key(), user = "zc").use { store ->
            val signal = store.recordSignal(newSignal("Case test.", urgency = 2, category = "thuissituatie"))
            val id = store.openCase("p1", listOf(signal))
            store.recordCaseStep(id, NewCaseStep(step = 1u.toUByte(), on = "2026-11-16", outcome = "Mapped."))
            store.weighCase(id, "2026-11-18", true, Unsafety.ACUTE)
            try {
                store.closeCase(id)
                throw AssertionError("closed without monitoring agreements")
            } catch (e: OmkijkenException.Invalid) {
                check(e.reason.contains("monitoring"), "the reason names the rule: ${e.reason}")
            }
            store.addMonitoringAgreement(id, "Check in daily.", "m1", null)
            try {
                store.closeCase(id)
                throw AssertionError("closed without the required report")
            } catch (e: OmkijkenException.Invalid) {
                check(e.reason.contains("Veilig Thuis"), "the reason names the report: ${e.reason}")
            }
            store.reportCase(id, "2026-11-19", "VT-1")
            store.closeCase(id)
            val case = store.case(id)
            check(case.status == CaseStatus.CLOSED && case.closedAt != null, "closed: $case")
            check(case.currentStep.toInt() == 5 && case.reportRequired, "step 5, report required")
            check(case.report?.feedbackDue == "2026-11-26", "feedback due: ${case.report}")
            val rows = store.listCases("p1")
            check(rows.map { it.id to it.status } == listOf(id to CaseStatus.CLOSED), "listed: $rows")
            val texts = store.signal(signal).followUps.map { it.text }
            check(texts == listOf(caseOpenedStatus(), caseClosedStatus()), "status entries: $texts")
        }
    }

    test("a mentor plans an excursion, counts the adults and changes who goes") {
        server.device(dir.resolve("trip.db").toString(), key()).use { store ->
            val parent = NewTripContact(name = "Ouder", role = "begeleider", phone = "06-12345678", supervises = true)
            val id = store.planExcursion(
                NewExcursion(
                    name = "Schoolkamp", place = "Ardennen", startsOn = "2027-05-10", endsOn = "2027-05-12",
                    participants = listOf("p1"), staff = listOf("zc"), contacts = listOf(parent),
                )
            )
            val trip = store.excursion(id)
            check(trip.staff == listOf("zc") && trip.contacts.map { it.phone } == listOf("06-12345678"), "read: $trip")
            check(
                store.excursionSupervision(id) == Supervision(pupils = 1u, adults = 3u, required = 1u, enough = true),
                "supervision: ${store.excursionSupervision(id)}",
            )
            try {
                store.setExcursionDetails(id, "Schoolkamp", "Ardennen", "2027-05-12", "2027-05-10")
                throw AssertionError("a trip that ends before it starts")
            } catch (e: OmkijkenException.Invalid) {
                check(e.reason.contains("first day"), "the reason names the rule: ${e.reason}")
            }
            store.setExcursionStaff(id, emptyList())
            store.removeTripContact(id, trip.contacts[0].id)
            check(store.excursionSupervision(id).adults == 1u, "the organiser alone")
            val rows = store.listExcursions()
            check(rows.map { Triple(it.id, it.organiser, it.participants) } == listOf(Triple(id, "m1", 1u)), "listed: $rows")
            val changed = store.excursion(id)
            check(changed.staff.isEmpty() && changed.contacts.isEmpty(), "changed: $changed")
        }
    }

    test("the acute screen's school numbers come from the school's settings") {
        openStore().use { store ->
            val before = store.acuteContacts()
            check(before.any { it.number == "112" }, "112 is always there: $before")
            check(before.count { it.number == null } == 1, "the leader's number is not set yet: $before")
            server.admin("settings", "--school", SCHOOL, "--leader-name", "Juf Bakker", "--leader-phone", "020-1234567")
            store.syncNow()
            val after = store.acuteContacts()
            val leader = after.single { it.number == "020-1234567" }
            check(leader.label.nl.contains("Juf Bakker"), "the leader by name: $leader")
            check(after.none { it.number == null }, "every number set: $after")
        }
    }

    test("the group overview of the mentor's group") {
        openStore().use { store ->
            val now = System.currentTimeMillis()
            store.recordThermometer(NewThermometerEntry(pupil = "p1", at = now, score = 2u, wantsToTalk = true))
            val week = 7L * 24 * 3600 * 1000
            val o = store.groupOverview("g1", now - 2 * week, now)
            check(o.pupils == 1u, "one pupil: $o")
            val last = o.weeks.last()
            check(last.readings >= 1u && last.wantsToTalk >= 1u, "this week's reading: $last")
            check(o.trendSvg.startsWith("<svg"), "a picture")
            check(o.toWatch.any { it.pupil == "p1" }, "asked to talk: ${o.toWatch}")
        }
    }

    test("a mentor's sociogram: questions, answers, the analysis and its picture") {
        server.device(dir.resolve("sociogram.db").toString(), key()).use { store ->
            val picked = store.sociogramQuestions()
                .filter { it.id.startsWith("spelen") }
                .map { SociogramQuestion(id = it.id, text = it.nl, polarity = it.polarity) }
            check(picked.map { it.polarity } == listOf(Polarity.POSITIVE, Polarity.NEGATIVE), "picked: $picked")
            val round = store.openSociogramRound("g2", "2026-12-07", picked)
            store.addSociogramAnswers(round, "p2", listOf(SociogramAnswerInput(question = "spelen_graag", pupils = listOf("p3"))))
            store.addSociogramAnswers(
                round, "p3",
                listOf(
                    SociogramAnswerInput(question = "spelen_graag", pupils = listOf("p2")),
                    SociogramAnswerInput(question = "spelen_niet", pupils = listOf("p4")),
                ),
            )
            try {
                store.addSociogramAnswers(round, "p4", listOf(SociogramAnswerInput(question = "spelen_graag", pupils = listOf("p1"))))
                throw AssertionError("a pupil of another group named")
            } catch (e: OmkijkenException.Invalid) {
                check(!e.reason.contains("Pupil One"), "the reason holds no name: ${e.reason}")
            }
            val s = store.sociogram(round, "nl")
            check(s.isolated == listOf("p4"), "Inès is chosen by nobody: ${s.isolated}")
            check(s.mutual.map { it.fromPupil to it.toPupil } == listOf("p3" to "p2"), "mutual: ${s.mutual}")
            check(s.subgroups == listOf(listOf("p3", "p2")), "sub-groups: ${s.subgroups}")
            check(s.svg.startsWith("<svg") && s.svg.contains(">Zoë<"), "a picture with first names")
            val place = store.pupilSociogram("p2")
            check(place?.mutualNames == listOf("Daan"), "Zoë's place: $place")
            store.closeSociogramRound(round, "2026-12-11")
            check(store.listSociogramRounds("g2").single().status == SociogramStatus.CLOSED, "closed")
        }
    }

    server.stop()
    dir.toFile().deleteRecursively()
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
