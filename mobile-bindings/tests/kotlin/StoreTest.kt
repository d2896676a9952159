// The mobile API from Kotlin on the JVM, through the generated bindings and JNA, as the
// Android app uses it: open an encrypted store, record a signal, list it, an error thrown as
// an exception, a listener called on a background thread.
//
// Built and run by scripts/test-bindings.sh (kotlinc + java, no Gradle). Plain main() with
// a small runner; prints "kotlin: N passed, M failed".

import nl.omkijken.core.*
import java.nio.file.Files
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

private fun roster() = Roster(
    school = "school-1",
    pupils = listOf(
        Pupil(
            id = "p1", displayName = "Pupil One", group = "g1", ageBand = AgeBand.PO5_TO8,
            active = true, inCare = false, mentors = listOf("m1"),
        ),
    ),
    groups = listOf(SchoolGroup(id = "g1", name = "groep 6b", teachers = listOf())),
    staff = listOf(
        StaffMember(
            id = "m1", displayName = "Mentor", roles = listOf(StaffRole.MENTOR),
            meldcodeDuty = false, active = true,
        ),
    ),
)

private fun openSeeded(path: String, key: ByteArray): OmkijkenStore {
    val store = OmkijkenStore.open(path, key)
    store.devSeedRoster(Identity(school = "school-1", user = "m1"), roster())
    return store
}

private fun newSignal(facts: String, urgency: Int = 1) = NewSignal(
    pupil = "p1",
    observedAt = System.currentTimeMillis() - 60_000,
    place = "gym",
    category = "pesten",
    urgency = urgency.toUByte(),
    facts = facts,
    source = SignalSource.Seen,
    share = true,
)

fun main() {
    val dir = Files.createTempDirectory("omkijken-kt")
    val path = dir.resolve("store.db").toString()
    val key = key()

    test("open, record a signal and list it") {
        openSeeded(path, key).use { store ->
            val id = store.recordSignal(newSignal("A bag was taken away.", urgency = 2))
            val list = store.listSignals(SignalFilter(pupil = "p1"))
            check(list.map { it.id } == listOf(id), "list holds the signal: $list")
            check(list[0].urgency.toInt() == 2, "urgency read back")
            val signal = store.signal(id)
            check(signal.facts == "A bag was taken away.", "facts read back")
            check(signal.source == SignalSource.Seen, "source read back")
            check(store.outboxCount() >= 1u, "the signal waits in the outbox")
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
        openSeeded(path, key).use { store ->
            try {
                store.recordSignal(newSignal("x", urgency = 9))
                throw AssertionError("urgency 9 accepted")
            } catch (e: OmkijkenException.Invalid) {
                check(!e.reason.contains("x"), "the reason holds no content")
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
        openSeeded(path, key).use { store ->
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

    dir.toFile().deleteRecursively()
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
