import Foundation
import GRDB
import Testing
import WebhookCore
import WebhookTestSupport

/// A temporary database, the CLI, producer inserts and daemon processes, for end-to-end tests.
final class Harness: Sendable {
    let directory: TemporaryDirectory
    let databasePath: String
    /// Settings every daemon of the test gets: loopback allowed, fast retries, short timeouts.
    let baseArguments: [String]

    /// `allowNetworks` is the daemon's `--allow-networks`; `nil` leaves the default (public addresses only).
    init(retrySchedule: String = "0,0.2,0.4", extra: [String] = [], allowNetworks: String? = "127.0.0.0/8,::1/128")
        throws
    {
        directory = try TemporaryDirectory(prefix: "qr3-daemon")
        databasePath = directory.file("webhooks.sqlite")
        baseArguments =
            ["run", "--database", databasePath] + (allowNetworks.map { ["--allow-networks", $0] } ?? []) + [
                "--retry-schedule", retrySchedule, "--request-timeout", "2", "--connect-timeout", "1",
                "--lease", "5", "--drain-timeout", "5", "--log-level", "debug", "--listen", "127.0.0.1:0",
            ] + extra
    }

    /// Runs `qr3-webhookd` with `arguments` (the database added) and returns its output.
    @discardableResult
    func cli(_ arguments: [String], expectSuccess: Bool = true) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let result = try runTool(DaemonProcess.executablePath, arguments + ["--database", databasePath])
        if expectSuccess, result.status != 0 {
            throw TestFailure("qr3-webhookd \(arguments) failed (\(result.status)): \(result.stderr)")
        }
        return result
    }

    /// Creates a webhook through the CLI and returns its id.
    func createWebhook(
        url: String,
        events: String = "*",
        workspace: String = "ws_test",
        secret: String = "test-secret-0123456789"
    ) throws -> String {
        let output = try cli([
            "webhooks", "create", "--workspace", workspace, "--url", url, "--events", events, "--secret", secret,
            "--json",
        ]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        guard let id = object?["id"] as? String else { throw TestFailure("no id in \(output)") }
        return id
    }

    /// `cli`, without blocking a thread of the shared concurrency pool while the command runs.
    @discardableResult
    func runCLI(_ arguments: [String], expectSuccess: Bool = true) async throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let result = try await runToolInBackground(
            DaemonProcess.executablePath, arguments + ["--database", databasePath])
        if expectSuccess, result.status != 0 {
            throw TestFailure("qr3-webhookd \(arguments) failed (\(result.status)): \(result.stderr)")
        }
        return result
    }

    /// `createWebhook`, without blocking a thread of the shared concurrency pool.
    func addWebhook(
        url: String,
        events: String = "*",
        workspace: String = "ws_test",
        secret: String = "test-secret-0123456789"
    ) async throws -> String {
        let output = try await runCLI([
            "webhooks", "create", "--workspace", workspace, "--url", url, "--events", events, "--secret", secret,
            "--json",
        ]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        guard let id = object?["id"] as? String else { throw TestFailure("no id in \(output)") }
        return id
    }

    /// `deliveries`, without blocking a thread of the shared concurrency pool.
    func deliveryLog(_ webhookID: String) async throws -> [[String: Any]] {
        try Self.parseLog(try await runCLI(["deliveries", webhookID, "--json", "--limit", "1000"]).stdout)
    }

    /// `status`, without blocking a thread of the shared concurrency pool.
    func statusReport() async throws -> [String: Any] {
        let output = try await runCLI(["status", "--json"]).stdout
        return (try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]) ?? [:]
    }

    /// Opens a producer connection with the documented settings.
    func producer() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        return try DatabaseQueue(path: databasePath, configuration: configuration)
    }

    /// Inserts outbox rows exactly as a producer does (one transaction for all).
    func insert(_ rows: [(workspace: String?, type: String?, data: String?)], eventIDs: [String?]? = nil) throws {
        try producer().write { db in
            for (index, row) in rows.enumerated() {
                try db.execute(
                    sql: "INSERT INTO outbox (event_id, workspace_id, type, data) VALUES (?, ?, ?, ?)",
                    arguments: [eventIDs?[index], row.workspace, row.type, row.data]
                )
            }
        }
    }

    /// Starts a daemon with the base arguments plus `extra`.
    func startDaemon(_ extra: [String] = []) async throws -> DaemonProcess {
        let daemon = try DaemonProcess(arguments: baseArguments + extra)
        try await daemon.waitForLog("qr3-webhookd started")
        return daemon
    }

    /// The delivery log of a webhook, via the CLI's JSON.
    func deliveries(_ webhookID: String) throws -> [[String: Any]] {
        try Self.parseLog(try cli(["deliveries", webhookID, "--json", "--limit", "1000"]).stdout)
    }

    /// The rows of `deliveries --json`; a JSON null reads as a missing field.
    private static func parseLog(_ output: String) throws -> [[String: Any]] {
        let rows = (try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]]) ?? []
        return rows.map { $0.filter { !($0.value is NSNull) } }
    }

    /// The status report, via the CLI's JSON.
    func status() throws -> [String: Any] {
        let output = try cli(["status", "--json"]).stdout
        return (try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]) ?? [:]
    }

    /// One number read straight from the database, e.g. `SELECT COUNT(*) FROM jobs WHERE ...`.
    ///
    /// For polling loops: milliseconds, where the CLI (`status`, `deliveries`) would block a
    /// thread of the shared concurrency pool for a whole process run on every check.
    func count(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws -> Int {
        try producer().read { db in try Int.fetchOne(db, sql: sql, arguments: arguments) ?? 0 }
    }

    /// Waits (bounded) until `condition` holds, re-checking whenever `progress` returns.
    func eventually(
        timeout: Duration = .seconds(20),
        _ what: String,
        check condition: () throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        var pause: Duration = .milliseconds(10)
        while ContinuousClock.now < deadline {
            if try condition() { return }
            // Polling a database the daemon writes: there is no event to wait on from outside.
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(200))
        }
        throw TestFailure("timed out waiting for: \(what)")
    }

    func remove() { directory.remove() }
}

/// Where fixture scripts live.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
