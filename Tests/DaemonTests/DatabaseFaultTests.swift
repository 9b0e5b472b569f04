import Foundation
import GRDB
import Synchronization
import Testing
import WebhookTestSupport

/// A database that fails for seconds while producers insert and the daemon delivers: the daemon
/// backs off, says so once (and once when it ends), reports it through `/healthz`, `status`, the
/// systemd status line and a metric, answers API writes with 503, and loses nothing.
///
/// Two faults: a full filesystem (a small tmpfs mounted under the database, filled with a file,
/// then freed) and I/O errors (a preloaded `pwrite64`/`write` that fails the database's writes
/// with EIO while a flag file exists, built from C here with the toolchain's `clang`). Mounting
/// needs root, as the tests run.
@Suite(.serialized, .timeLimit(.minutes(3))) struct DatabaseFaultTests {
    @Test func aFullDiskIsBackedOffSaidOnceAndRecoveredFromWithNothingLost() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let mount = try TmpfsMount(at: harness.directory.path, size: "24m")
        defer { mount.unmount() }
        let filler = harness.directory.file("filler")
        let figures = try await FaultScenario(harness: harness, kind: "disk_full", phrase: "disk full").run(
            begin: { try TmpfsMount.fill(filler) },
            end: { try FileManager.default.removeItem(atPath: filler) }
        )
        print("disk full: \(figures)")
    }

    @Test func anIOErrorIsBackedOffSaidOnceAndRecoveredFromWithNothingLost() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let library = try await Self.compileFailingWrites(in: harness)
        let flag = harness.directory.file("eio-on")
        let scenario = FaultScenario(
            harness: harness, kind: "io_error", phrase: "I/O error",
            environment: ["LD_PRELOAD": library, "QR3_TEST_EIO_FLAG": flag])
        let figures = try await scenario.run(
            begin: { _ = FileManager.default.createFile(atPath: flag, contents: nil) },
            end: { try FileManager.default.removeItem(atPath: flag) }
        )
        print("I/O error: \(figures)")
    }

    @Test func aDatabaseFileMovedAwayIsNoticedAndWorkResumesWhenItIsBack() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let away = harness.directory.file("moved-away.sqlite")
        var scenario = FaultScenario(harness: harness, kind: "file_moved", phrase: "database file removed or replaced")
        scenario.statusCanOpenTheDatabase = false
        let figures = try await scenario.run(
            begin: { try FileManager.default.moveItem(atPath: harness.databasePath, toPath: away) },
            end: { try FileManager.default.moveItem(atPath: away, toPath: harness.databasePath) }
        )
        print("file moved: \(figures)")
    }

    /// A stop while the database fails waits for it no longer than the drain timeout: the daemon
    /// exits cleanly, saying what it could not write, and the next daemon delivers those jobs again
    /// once their leases run out.
    @Test func aStopWhileTheDatabaseFailsEndsAfterTheDrainTimeout() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let library = try await Self.compileFailingWrites(in: harness)
        let flag = harness.directory.file("eio-on")
        let receiver = try await TestReceiver.start { _ in Response.status(200).delayed(by: .milliseconds(300)) }
        defer { Task { try? await receiver.shutdown() } }
        _ = try await harness.addWebhook(url: receiver.url)
        let daemon = try DaemonProcess(
            arguments: harness.baseArguments + ["--log-level", "info", "--drain-timeout", "2"],
            environment: ["LD_PRELOAD": library, "QR3_TEST_EIO_FLAG": flag])
        defer { daemon.stop() }
        try await daemon.waitForLog("qr3-webhookd ready")
        try harness.insert(Array(repeating: ("ws_test", "qr.scanned", "{}"), count: 5))
        _ = try await receiver.waitForRequests(count: 1)
        // The requests are on the wire: their results meet the fault.
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        try await daemon.waitForLog("Cannot write the database")
        let stoppedAt = ContinuousClock.now
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit(timeout: .seconds(20)) == 0, "\(daemon.log)")
        let took = ContinuousClock.now - stoppedAt
        #expect(took < .seconds(8), "the stop took \(took)")
        #expect(daemon.log.contains("Stopping with results unwritten"), "\(daemon.log)")
        print("stop during a fault: \(took)")

        // The next daemon, with a sound database, delivers every job (again, after the lease).
        try FileManager.default.removeItem(atPath: flag)
        let next = try await harness.startDaemon(["--log-level", "info"])
        defer { next.stop() }
        try await harness.eventually(timeout: .seconds(30), "every job delivered after the leases") {
            try harness.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'") == 5
        }
        let ids = Set(receiver.requests.compactMap { $0.header("X-QR3-Event-Id") })
        #expect(ids.count == 5)
        next.send(SIGTERM)
        #expect(try await next.waitForExit() == 0)
    }

    /// Builds ``failingWrites`` with the toolchain's `clang`; returns the library's path.
    static func compileFailingWrites(in harness: Harness) async throws -> String {
        let source = harness.directory.file("eio.c")
        let library = harness.directory.file("eio.so")
        try failingWrites.write(toFile: source, atomically: true, encoding: .utf8)
        let compiled = try await runToolInBackground(
            "/usr/bin/env", ["clang", "-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"])
        guard compiled.status == 0 else { throw TestFailure("clang: \(compiled.stderr)") }
        return library
    }

    /// Fails every write to a `.sqlite` or `.sqlite-wal` file with EIO while the file named by
    /// `QR3_TEST_EIO_FLAG` exists; every other write goes through.
    static let failingWrites = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <errno.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>

        static int ends_with(const char *text, size_t length, const char *suffix) {
            size_t n = strlen(suffix);
            return length >= n && strcmp(text + length - n, suffix) == 0;
        }

        static int failing(int fd) {
            const char *flag = getenv("QR3_TEST_EIO_FLAG");
            if (flag == NULL || access(flag, F_OK) != 0) return 0;
            char link[64], path[4096];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t length = readlink(link, path, sizeof path - 1);
            if (length <= 0) return 0;
            path[length] = 0;
            return ends_with(path, (size_t)length, ".sqlite") || ends_with(path, (size_t)length, ".sqlite-wal");
        }

        ssize_t pwrite64(int fd, const void *buffer, size_t count, off64_t offset) {
            static ssize_t (*next)(int, const void *, size_t, off64_t);
            if (next == NULL) next = dlsym(RTLD_NEXT, "pwrite64");
            if (failing(fd)) { errno = EIO; return -1; }
            return next(fd, buffer, count, offset);
        }

        ssize_t write(int fd, const void *buffer, size_t count) {
            static ssize_t (*next)(int, const void *, size_t);
            if (next == NULL) next = dlsym(RTLD_NEXT, "write");
            if (fd > 2 && failing(fd)) { errno = EIO; return -1; }
            return next(fd, buffer, count);
        }
        """
}

/// What one fault cost, as printed by the tests.
struct FaultFigures: CustomStringConvertible {
    /// From the fault's making to its end.
    var faultLasted: Duration
    /// From the fault's end to the daemon's `Database recovered`.
    var recoveryTook: Duration
    /// Daemon log lines from the fault's making to `Database recovered`, that one included.
    var logLines: Int
    /// Failed database operations counted by the daemon meanwhile (`database_errors_total`).
    var failedTries: Int
    /// Events a producer or the API added (each one delivered).
    var events: Int
    /// Producer inserts that failed during the fault (expected for a full disk).
    var producerErrors: Int
    /// API writes answered 503 during the fault.
    var refusedWrites: Int
    /// The daemon's `results_written_late`.
    var resultsWrittenLate: String
    /// The log lines, for the record.
    var lines: [String]

    var description: String {
        "fault \(faultLasted), recovered \(recoveryTook) after its end, \(logLines) log lines, "
            + "\(failedTries) failed tries, \(events) events all delivered, \(producerErrors) producer errors, "
            + "\(refusedWrites) API writes refused with 503, results written late: \(resultsWrittenLate); lines:\n"
            + lines.joined(separator: "\n")
    }
}

/// One fault under load, from a running daemon to everything delivered after it.
struct FaultScenario {
    let harness: Harness
    /// The `fault=` the daemon logs.
    let kind: String
    /// How `/healthz`, `status` and the status line name it.
    let phrase: String
    var environment: [String: String] = [:]
    /// False when the fault keeps `status` from opening the database (it is not at its path):
    /// `status` then fails, with the daemon's note in its message.
    var statusCanOpenTheDatabase = true

    /// The failed tries of the back-off to wait for while the fault lasts: about 5 s of it.
    static let triesToWaitFor = 7
    /// The most daemon log lines a fault of several seconds may cost.
    static let mostLogLines = 30

    func run(begin: () throws -> Void, end: () throws -> Void) async throws -> FaultFigures {
        // Answers take a moment, so requests are in flight when the fault comes: their results wait.
        let receiver = try await TestReceiver.start { _ in Response.status(200).delayed(by: .milliseconds(50)) }
        defer { Task { try? await receiver.shutdown() } }
        _ = try await harness.addWebhook(url: receiver.url)
        let key = try harness.apiKey()
        let sink = try DatagramSink.abstract()
        let daemon = try DaemonProcess(
            arguments: harness.baseArguments + ["--log-level", "info", "--lease", "60", "--status-interval", "0.2"],
            environment: environment.merging(["NOTIFY_SOCKET": sink.address]) { $1 }
        )
        defer { daemon.stop() }
        try await daemon.waitForLog("qr3-webhookd ready")
        let api = try await harness.apiClient(daemon)
        func metrics() async throws -> MetricsText { MetricsText(try await api.send("GET", "/metrics").text) }

        let producer = try Producer(harness)
        producer.start()
        defer { producer.stop() }
        _ = try await receiver.waitForRequests(count: 100, timeout: .seconds(30))

        // The fault: made while events flow.
        let linesBefore = daemon.log.split(separator: "\n").count
        let errorsBefore = try await metrics()["qr3_webhookd_database_errors_total"] ?? 0
        let madeAt = ContinuousClock.now
        try begin()
        try await daemon.waitForLog("Cannot write the database", timeout: .seconds(30))
        let began = try #require(daemon.log.split(separator: "\n").first { $0.contains("Cannot write the database") })
        #expect(began.hasPrefix("<3>"), "an error: \(began)")
        #expect(began.contains("fault=\(kind)"), "\(began)")

        // While it lasts: /healthz, the metric, the status line, `status`, and API writes say so.
        var health = try await api.send("GET", "/healthz")
        let healthDeadline = ContinuousClock.now + .seconds(10)
        while health.status != 503, ContinuousClock.now < healthDeadline {
            health = try await api.send("GET", "/healthz")
        }
        #expect(health.status == 503 && health.text.contains(phrase), "/healthz: \(health.status) \(health.text)")
        let during = try await metrics()
        #expect(during["qr3_webhookd_database_fault"] == 1)
        #expect(during["qr3_webhookd_database_faults_total{kind=\"\(kind)\"}"] == 1)
        try await sink.waitFor("a status line about the fault") { datagrams in
            datagrams.contains { $0.text.hasPrefix("STATUS=Database failing: \(phrase) for ") }
        }
        if statusCanOpenTheDatabase {
            let status = try await harness.runCLI(["status"]).stdout
            #expect(status.contains("DATABASE FAILING:   \(phrase)"), "status:\n\(status)")
            let statusJSON = try await harness.statusReport()
            #expect((statusJSON["database_fault"] as? [String: Any])?["fault"] as? String == kind, "\(statusJSON)")
        } else {
            let status = try await harness.runCLI(["status"], expectSuccess: false)
            #expect(status.status != 0 && status.stderr.contains("DATABASE FAILING:   \(phrase)"), "\(status)")
        }
        var events: [String] = []
        var refused = 0
        for index in 0..<20 where refused == 0 {
            let created = try await api.authorized(key).send(
                "POST", "/v1/events", json: #"{"type":"qr.scanned","data":{"n":\#(index)}}"#)
            if created.status == 202, let id = try object(created)["event_id"] as? String {
                events.append(id)
                continue
            }
            #expect(created.status == 503, "\(created.status) \(created.text)")
            #expect(created.text.contains(#""code":"unavailable""#) && created.text.contains(phrase), "\(created.text)")
            #expect(created.header("Retry-After") != nil)
            refused += 1
        }
        #expect(refused == 1, "an API write met the fault")
        // Held for several tries of the back-off (an event to wait for, not a fixed sleep).
        let triesDeadline = ContinuousClock.now + .seconds(30)
        while try await metrics()["qr3_webhookd_database_errors_total"] ?? 0 < errorsBefore
            + Double(Self.triesToWaitFor)
        {
            guard ContinuousClock.now < triesDeadline else {
                throw TestFailure("the daemon did not try \(Self.triesToWaitFor) times in 30 s:\n\(daemon.log)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }

        // The end of the fault.
        let endedAt = ContinuousClock.now
        try end()
        try await daemon.waitForLog("Database recovered", timeout: .seconds(30))
        let recoveredAt = ContinuousClock.now
        let lines = daemon.log.split(separator: "\n")
        let recoveredIndex = try #require(lines.firstIndex { $0.contains("Database recovered") })
        let faultLines = lines[linesBefore...recoveredIndex]
        #expect(
            faultLines.count <= Self.mostLogLines, "log lines during the fault:\n\(faultLines.joined(separator: "\n"))")
        let recovered = lines[recoveredIndex]
        #expect(recovered.contains("fault=\(kind)") && recovered.contains("after_s="), "\(recovered)")
        let errorsAfter = try await metrics()["qr3_webhookd_database_errors_total"] ?? 0

        var healthy = try await api.send("GET", "/healthz")
        let healthyDeadline = ContinuousClock.now + .seconds(10)
        while healthy.status != 200, ContinuousClock.now < healthyDeadline {
            healthy = try await api.send("GET", "/healthz")
        }
        #expect(healthy.status == 200, "/healthz after: \(healthy.text)")
        #expect(try await metrics()["qr3_webhookd_database_fault"] == 0)
        try await sink.waitFor("the status line back to delivering") { datagrams in
            guard let failing = datagrams.lastIndex(where: { $0.text.hasPrefix("STATUS=Database failing") })
            else { return false }
            return datagrams[failing...].contains { $0.text.hasPrefix("STATUS=Delivering: ") }
        }
        let statusAfter = try await harness.runCLI(["status"]).stdout
        #expect(!statusAfter.contains("DATABASE FAILING"), "status after:\n\(statusAfter)")

        // Nothing lost: every event a producer or the API added is delivered, no job is left.
        let (inserted, producerErrors) = producer.stop()
        let expected = Set(inserted + events)
        try await harness.eventually(timeout: .seconds(60), "all \(expected.count) events delivered") {
            Set(receiver.requests.compactMap { $0.header("X-QR3-Event-Id") }).isSuperset(of: expected)
        }
        try await harness.eventually("no job left undelivered") {
            try harness.count("SELECT COUNT(*) FROM jobs WHERE state != 'delivered'") == 0
        }
        #expect(try harness.count("SELECT COUNT(*) FROM outbox") == 0)
        #expect(try harness.count("SELECT COUNT(*) FROM jobs") == expected.count)
        daemon.send(SIGTERM)
        #expect(try await daemon.waitForExit() == 0)
        await sink.close()
        let late = recovered.split(separator: " ").first { $0.hasPrefix("results_written_late=") }
        return FaultFigures(
            faultLasted: endedAt - madeAt, recoveryTook: recoveredAt - endedAt, logLines: faultLines.count,
            failedTries: Int(errorsAfter - errorsBefore), events: expected.count, producerErrors: producerErrors,
            refusedWrites: refused, resultsWrittenLate: late.map { String($0.dropFirst(21)) } ?? "-",
            lines: faultLines.map(String.init))
    }
}

/// A producer on a thread of its own: small transactions of outbox rows with its own event ids,
/// paced a little, for as long as the test runs. Failed inserts (a full disk) are counted, not fatal.
final class Producer: Sendable {
    private struct State {
        var inserted: [String] = []
        var errors = 0
        var stopped = false
        var done = false
    }

    private let state = Mutex(State())
    private let queue: DatabaseQueue
    private let finished = DispatchSemaphore(value: 0)

    init(_ harness: Harness) throws {
        queue = try harness.producer()
    }

    func start() {
        let thread = Thread { [self] in
            var batch = 0
            let data = #"{"code_id":"qr_fault","padding":""# + String(repeating: "x", count: 1000) + #""}"#
            while !state.withLock({ $0.stopped }) {
                batch += 1
                let ids = (0..<5).map { "evt_p\(batch)_\($0)" }
                do {
                    try queue.write { db in
                        for id in ids {
                            try db.execute(
                                sql:
                                    "INSERT INTO outbox (event_id, workspace_id, type, data) VALUES (?, 'ws_test', 'qr.scanned', ?)",
                                arguments: [id, data])
                        }
                    }
                    state.withLock { $0.inserted += ids }
                } catch {
                    state.withLock { $0.errors += 1 }
                }
                // Pacing of the load (about 500 events a second), not a wait for an outcome.
                usleep(10_000)
            }
            finished.signal()
        }
        thread.name = "test-producer"
        thread.start()
    }

    /// Stops the thread (once) and returns the event ids it inserted and the inserts that failed.
    @discardableResult
    func stop() -> (inserted: [String], errors: Int) {
        let wait = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        if wait { finished.wait() }
        return state.withLock { ($0.inserted, $0.errors) }
    }
}

/// A tmpfs of `size` mounted on a folder, for a filesystem that fills up.
struct TmpfsMount {
    let path: String

    init(at path: String, size: String) throws {
        let mounted = try runTool(
            "/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", path])
        guard mounted.status == 0 else {
            throw TestFailure("cannot mount a tmpfs on \(path) (the test needs root): \(mounted.stderr)")
        }
        self.path = path
    }

    /// Unmounts, lazily: a daemon killed a moment ago may still hold a file open.
    func unmount() {
        _ = try? runTool("/usr/bin/env", ["umount", "--lazy", path])
    }

    /// Writes zeros to a new file at `path` until the filesystem is full.
    static func fill(_ path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw TestFailure("cannot create \(path): errno \(errno)") }
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let written = chunk.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                guard errno == ENOSPC else { throw TestFailure("writing \(path): errno \(errno)") }
                return
            }
            // A short write: the last pages are taken; the next write meets ENOSPC.
        }
    }
}
