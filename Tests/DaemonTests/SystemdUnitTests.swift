import Foundation
import Testing
import WebhookDaemon
import WebhookTestSupport

/// The unit file, its example environment file and the README against the settings, and the
/// unit's sandbox against what the daemon really does.
@Suite(.timeLimit(.minutes(3))) struct SystemdUnitTests {
    @Test func unitVerifiesCleanAndItsExposureIsAtMostTwo() throws {
        let result = try runTool(
            repository.appendingPathComponent("scripts/check-systemd-unit").path,
            [],
            environment: ["QR3_WEBHOOKD_BINARY": DaemonProcess.executablePath]
        )
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("systemd-analyze verify: clean"))
        #expect(result.stdout.contains("exposure"))
    }

    @Test func unitHasTheServiceSettingsTheDaemonReliesOn() throws {
        let unit = try unitSettings()
        #expect(unit["Type"] == ["notify"])
        #expect(unit["NotifyAccess"] == ["main"])
        #expect(unit["Restart"] == ["on-failure"])
        #expect(unit["StateDirectory"] == ["qr3-webhookd"])
        #expect(unit["UMask"] == ["0077"])
        #expect(unit["CapabilityBoundingSet"] == [""])
        #expect(unit["MemoryDenyWriteExecute"] == ["yes"])
        let stop = try #require(
            unit["TimeoutStopSec"]?.first.flatMap { Double($0.replacingOccurrences(of: "s", with: "")) })
        let drain = try #require(
            DaemonConfiguration.settings.first { $0.name == "drain-timeout" }.flatMap { Double($0.defaultValue) })
        #expect(stop > drain + 10, "TimeoutStopSec= covers the default drain timeout and recording the last results")
        let watchdog = try #require(unit["WatchdogSec"]?.first)
        #expect(watchdog.hasSuffix("s") && (Double(watchdog.dropLast()) ?? 0) >= 10)
    }

    @Test func exampleEnvironmentFileNamesEverySettingAndNothingElse() throws {
        let text = try String(
            contentsOf: repository.appendingPathComponent("systemd/qr3-webhookd.env"), encoding: .utf8)
        var named: Set<String> = []
        for line in text.split(separator: "\n") {
            let assignment = line.hasPrefix("#QR3_WEBHOOKD_") ? line.dropFirst() : line
            guard assignment.hasPrefix("QR3_WEBHOOKD_"), let equals = assignment.firstIndex(of: "=") else { continue }
            named.insert(String(assignment[..<equals]))
        }
        let settings = Set(DaemonConfiguration.settings.map(\.environmentName))
        #expect(named == settings)
        // What is set (not commented) must be a valid value.
        var configuration = DaemonConfiguration()
        let environment = Dictionary(
            text.split(separator: "\n").filter { $0.hasPrefix("QR3_WEBHOOKD_") }.map { line -> (String, String) in
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                return (parts[0], parts.count > 1 ? parts[1] : "")
            },
            uniquingKeysWith: { $1 }
        )
        try configuration.apply(environment: environment)
        try configuration.validate()
    }

    @Test func readmeAndRunHelpListEverySetting() throws {
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let help = try runTool(DaemonProcess.executablePath, ["run", "--help"])
        for setting in DaemonConfiguration.settings {
            #expect(readme.contains("| `\(setting.name)` |"), "README's settings table lacks \(setting.name)")
            #expect(help.stdout.contains("--\(setting.name) "), "run --help lacks --\(setting.name)")
        }
    }

    /// Runs the daemon as the unit would confine it, as far as a test can without systemd:
    /// memory-deny-write-execute through prctl, and every system call and socket family it
    /// uses (traced with strace) checked against the unit's SystemCallFilter= and
    /// RestrictAddressFamilies=. It starts, migrates, delivers, logs to the journal, notifies,
    /// serves a scrape and stops.
    @Test func theSandboxAllowsEverythingTheDaemonDoes() async throws {
        let strace = try #require(
            ["/usr/bin/strace", "/bin/strace"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "strace is needed to check the unit's system call filter (apt-get install strace; scripts/bootstrap does)"
        )
        let harness = try Harness()
        defer { harness.remove() }
        let traces = try TemporaryDirectory(prefix: "qr3-trace")
        defer { traces.remove() }
        let receiver = try await TestReceiver.start { _ in .status(200) }
        defer { Task { try? await receiver.shutdown() } }
        _ = try harness.createWebhook(url: receiver.url)
        let notify = try DatagramSink.abstract()
        let journal = try DatagramSink(address: traces.file("journal.socket"))
        let traceFile = traces.file("trace")
        let daemon = try DaemonProcess(
            arguments: [
                "python3", fixtures.appendingPathComponent("systemd/mdwe-exec.py").path, strace, "-f", "-qq", "-o",
                traceFile,
                DaemonProcess.executablePath,
            ] + harness.baseArguments + ["--metrics-listen", "127.0.0.1:0"],
            environment: [
                "NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000",
                DaemonLogging.journalSocketVariable: journal.address,
            ],
            executable: "/usr/bin/env",
            standardErrorIsJournal: true
        )
        defer { daemon.stop() }
        let started = try await journal.waitFor("the daemon's start") {
            $0.contains { $0.text.contains("Metrics listening") }
        }
        let entries = started.compactMap { JournalEntry(decoding: $0.bytes) }
        let address = try #require(entries.first { $0["MESSAGE"]?.hasPrefix("Metrics listening") == true }?["ADDRESS"])
        let owner = try #require(entries.first { $0["MESSAGE"]?.hasPrefix("qr3-webhookd started") == true }?["OWNER"])
        let pid = try #require(owner.split(separator: ":").dropFirst().first.flatMap { Int32($0) })
        try await notify.waitFor("READY=1") { $0.contains { $0.text.hasPrefix("READY=1") } }
        try harness.insert([("ws_test", "qr.created", "{}")])
        _ = try await receiver.waitForRequests(count: 1)
        #expect(try await HTTPGet.fetch("http://\(address)/metrics").status == 200)
        try await journal.waitFor("the delivery recorded") { $0.contains { $0.text.contains("MESSAGE=Delivered ") } }
        kill(pid, SIGTERM)  // the daemon itself, under strace
        #expect(try await daemon.waitForExit() == 0, "\(daemon.log)")
        await notify.close()
        await journal.close()

        let trace = try String(contentsOfFile: traceFile, encoding: .utf8)
        let used = Self.systemCalls(in: trace)
        #expect(
            used.contains("sendto") && used.contains("accept4") && used.contains("connect"), "the trace covers the work"
        )
        let unit = try unitSettings()
        let allowed = try Self.allowedSystemCalls(filters: unit["SystemCallFilter"] ?? [])
        var refused = used.subtracting(allowed)
        // SQLite gives the -wal and -shm files to the database's owner when it runs as root; the
        // service never does (DynamicUser=), so it never calls fchown there.
        if geteuid() == 0 { refused.remove("fchown") }
        #expect(refused.isEmpty, "system calls the unit's SystemCallFilter= refuses: \(refused.sorted())")
        let families = Self.socketFamilies(in: trace)
        let allowedFamilies = Set(
            (unit["RestrictAddressFamilies"] ?? []).flatMap { $0.split(separator: " ").map(String.init) })
        #expect(!families.isEmpty)
        #expect(
            families.isSubset(of: allowedFamilies),
            "socket families outside RestrictAddressFamilies=: \(families.subtracting(allowedFamilies))")
    }

    // MARK: Helpers

    /// `Key=value` lines of the unit file; a key given several times keeps every value.
    private func unitSettings() throws -> [String: [String]] {
        let text = try String(
            contentsOf: repository.appendingPathComponent("systemd/qr3-webhookd.service"), encoding: .utf8)
        var settings: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("[") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return settings
    }

    /// Names of the system calls in an `strace -f` log.
    static func systemCalls(in trace: String) -> Set<String> {
        var names: Set<String> = []
        for line in trace.split(separator: "\n") {
            // "1234  name(args) = result"; skip "<... name resumed>", signals and exits.
            let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard fields.count == 2 else { continue }
            let call = fields[1].trimmingCharacters(in: .whitespaces)
            guard let parenthesis = call.firstIndex(of: "("),
                call[..<parenthesis].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
                !call[..<parenthesis].isEmpty
            else { continue }
            names.insert(String(call[..<parenthesis]))
        }
        return names
    }

    /// Address families passed to `socket(2)` in an `strace -f` log.
    static func socketFamilies(in trace: String) -> Set<String> {
        var families: Set<String> = []
        for line in trace.split(separator: "\n") {
            guard let range = line.range(of: " socket(") ?? line.range(of: "  socket(") else { continue }
            let rest = line[range.upperBound...]
            if let comma = rest.firstIndex(of: ",") { families.insert(String(rest[..<comma])) }
        }
        return families
    }

    /// The system calls `SystemCallFilter=` lines allow, expanded with `systemd-analyze syscall-filter`.
    static func allowedSystemCalls(filters: [String]) throws -> Set<String> {
        let listing = try runTool("/usr/bin/env", ["systemd-analyze", "syscall-filter"])
        guard listing.status == 0 else { throw TestFailure("systemd-analyze syscall-filter failed: \(listing.stderr)") }
        var groups: [String: [String]] = [:]
        var current: String?
        for line in listing.stdout.split(separator: "\n") {
            if line.hasPrefix("@") {
                current = String(line)
                groups[String(line)] = []
            } else if let group = current {
                let item = line.trimmingCharacters(in: .whitespaces)
                if !item.isEmpty && !item.hasPrefix("#") { groups[group]?.append(item) }
            }
        }
        func expand(_ name: String, _ seen: inout Set<String>) -> Set<String> {
            guard name.hasPrefix("@") else { return [name] }
            guard seen.insert(name).inserted else { return [] }
            var calls: Set<String> = []
            for member in groups[name] ?? [] { calls.formUnion(expand(member, &seen)) }
            return calls
        }
        var allowed: Set<String> = []
        for filter in filters {
            let deny = filter.hasPrefix("~")
            var seen: Set<String> = []
            let calls = filter.dropFirst(deny ? 1 : 0).split(separator: " ").reduce(into: Set<String>()) {
                $0.formUnion(expand(String($1), &seen))
            }
            if deny { allowed.subtract(calls) } else { allowed.formUnion(calls) }
        }
        guard !allowed.isEmpty else { throw TestFailure("the unit's SystemCallFilter= allows nothing: \(filters)") }
        return allowed
    }
}

/// The repository's root folder.
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
