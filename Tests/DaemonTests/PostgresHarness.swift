import Foundation
import Logging
import Testing
import WebhookPostgres
import WebhookTestSupport

/// A fresh PostgreSQL database on the test cluster, the CLI and daemon processes pointed at it,
/// and a connection for producer inserts and checks.
final class PostgresHarness: Sendable {
    let server: PostgresTestServer
    let url: String
    let database: PostgresDatabase
    let baseArguments: [String]

    init(
        server: PostgresTestServer? = nil, retrySchedule: String = "0,0.2,0.4", extra: [String] = []
    ) async throws {
        let shared = server == nil ? try await PostgresTestServer.shared() : nil
        let server = server ?? shared!
        self.server = server
        url = try await server.createDatabase()
        database = PostgresDatabase(location: try PostgresLocation(url: url), size: 2, logger: Logger(label: "test"))
        baseArguments =
            [
                "run", "--database", url, "--allow-networks", "127.0.0.0/8,::1/128", "--retry-schedule", retrySchedule,
                "--request-timeout", "2", "--connect-timeout", "1", "--lease", "5", "--drain-timeout", "5",
                "--log-level", "info", "--listen", "127.0.0.1:0",
            ] + extra
        // The schema, made once here rather than by daemons racing to start.
        try await runCLI(["migrate"])
    }

    /// Runs `qr3-webhookd` with `arguments` (the database added) on a thread of its own.
    @discardableResult
    func runCLI(_ arguments: [String], expectSuccess: Bool = true) async throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let result = try await runToolInBackground(DaemonProcess.executablePath, arguments + ["--database", url])
        if expectSuccess, result.status != 0 {
            throw TestFailure("qr3-webhookd \(arguments) failed (\(result.status)): \(result.stderr)")
        }
        return result
    }

    /// Creates a webhook through the CLI and returns its id.
    func addWebhook(url receiver: String, workspace: String = "ws_test") async throws -> String {
        let output = try await runCLI([
            "webhooks", "create", "--workspace", workspace, "--url", receiver, "--events", "*", "--secret",
            "test-secret-0123456789", "--json",
        ]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        guard let id = object?["id"] as? String else { throw TestFailure("no id in \(output)") }
        return id
    }

    /// Starts a daemon with the base arguments plus `extra`.
    func startDaemon(_ extra: [String] = []) async throws -> DaemonProcess {
        let daemon = try DaemonProcess(arguments: baseArguments + extra)
        try await daemon.waitForLog("qr3-webhookd started")
        return daemon
    }

    /// Inserts `count` events in one transaction, as a producer does: a plain INSERT.
    func insertEvents(_ count: Int, prefix: String, workspace: String = "ws_test") async throws {
        try await database.transaction { connection in
            try connection.query(
                """
                INSERT INTO outbox (event_id, workspace_id, type, data)
                SELECT $1 || n, $2, 'qr.scanned', '{"code_id":"qr_' || n || '"}' FROM generate_series(1, $3::int) AS n
                """, [.text(prefix), .text(workspace), .int(Int64(count))])
        }
    }

    /// One number read from the database.
    func count(_ sql: String) async throws -> Int {
        try await database.withConnection { try $0.query(sql).int(0, 0) }
    }

    /// Waits (bounded) until `condition` holds, checking with a growing pause.
    func eventually(
        timeout: Duration = .seconds(60), _ what: String, check condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        var pause: Duration = .milliseconds(10)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            // Polling a database the daemons write: there is no event to wait on from outside.
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(200))
        }
        throw TestFailure("timed out waiting for: \(what)")
    }

    func close() { database.close() }
}
