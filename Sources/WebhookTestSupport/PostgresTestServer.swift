import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PostgreSQL cluster for tests: `initdb` in a temporary folder, started with
/// `pg_ctl` on a free port of 127.0.0.1 (its socket in that folder), stopped and removed when the
/// test process exits or `stop()` is called.
///
/// The server refuses to run as root, so as root it runs as the `postgres` system user (which the
/// Debian `postgresql` package creates; `scripts/bootstrap` installs it). Durability settings are
/// off (`fsync`, `synchronous_commit`): tests kill daemons, never the machine.
public final class PostgresTestServer: Sendable {
    /// The folder holding the cluster, its socket and its log.
    public let directory: TemporaryDirectory
    /// The TCP port on 127.0.0.1.
    public let port: Int
    private let binaries: String
    private let databaseCount = Atomic<Int>(0)
    private let running = Atomic<Bool>(true)

    /// The one cluster most tests share, started at first use.
    public static func shared() async throws -> PostgresTestServer {
        try await sharedServer.value
    }

    private static let sharedServer = Task<PostgresTestServer, any Error> {
        try await PostgresTestServer.start()
    }

    /// Starts a cluster of its own (for tests that stop or restart the server).
    public static func start() async throws -> PostgresTestServer {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try PostgresTestServer() }) }
            thread.name = "qr3-test-postgres"
            thread.start()
        }
    }

    private init() throws {
        binaries = try Self.findBinaries()
        directory = try TemporaryDirectory(prefix: "qr3-pg")
        // Which process started the cluster: `scripts/test` stops a cluster whose owner is gone (a
        // test process that crashed never ran its exit handler).
        try "\(getpid())\n".write(toFile: directory.file("owner.pid"), atomically: true, encoding: .utf8)
        let data = directory.file("data")
        try Self.asServerUser(["/bin/chown", "-R", "postgres:postgres", directory.path], always: true)
        let initdb = try Self.asServerUser([
            "\(binaries)/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync",
            "--locale=C.UTF-8",
        ])
        guard initdb.status == 0 else {
            throw PostgresTestServerError("initdb failed: \(initdb.stderr)\(initdb.stdout)")
        }
        var lastError = ""
        // Another process may take the port between choosing and binding it: try a few.
        for _ in 0..<5 {
            let candidate = try Self.freePort()
            let options = [
                "-p \(candidate)", "-k \(directory.path)", "-c listen_addresses=127.0.0.1",
                "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
                "-c max_connections=400", "-c shared_buffers=64MB",
            ].joined(separator: " ")
            let started = try Self.asServerUser([
                "\(binaries)/pg_ctl", "-D", data, "-l", directory.file("server.log"), "-o", options, "-w", "-t", "60",
                "start",
            ])
            if started.status == 0 {
                port = candidate
                Self.started.withLock { $0.append((binaries, data)) }
                Self.stopAtExit()
                return
            }
            lastError = started.stderr + started.stdout
                + ((try? String(contentsOfFile: directory.file("server.log"), encoding: .utf8)) ?? "")
        }
        directory.remove()
        throw PostgresTestServerError("pg_ctl start failed: \(lastError)")
    }

    /// A URL for the `postgres` superuser's `database` on this server.
    public func url(database: String) -> String {
        "postgresql://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// Creates an empty database of a new name and returns its URL.
    public func createDatabase() async throws -> String {
        let name = "qr3_test_\(databaseCount.add(1, ordering: .relaxed).newValue)_\(UInt32.random(in: 0...UInt32.max))"
        try await psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs `sql` as the superuser in the `postgres` database (or `database`), returning psql's
    /// unaligned output.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let result = try await runToolInBackground(
            "\(binaries)/psql",
            ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres",
             "-d", database, "-c", sql])
        guard result.status == 0 else { throw PostgresTestServerError("psql failed: \(result.stderr)") }
        return result.stdout
    }

    /// Stops the server at once (connections are cut, as in a crash of the server).
    public func stop() async throws {
        try await pgCtl(["stop", "-m", "immediate", "-w"])
        running.store(false, ordering: .relaxed)
    }

    /// Starts the server again on the same port, after `stop()`.
    public func start() async throws {
        let options = [
            "-p \(port)", "-k \(directory.path)", "-c listen_addresses=127.0.0.1", "-c fsync=off",
            "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=400",
        ].joined(separator: " ")
        try await pgCtl(["-l", directory.file("server.log"), "-o", options, "-w", "-t", "60", "start"])
        running.store(true, ordering: .relaxed)
    }

    /// Stops the server and removes its folder.
    public func remove() async {
        if running.load(ordering: .relaxed) { try? await stop() }
        Self.started.withLock { $0.removeAll { $0.data == directory.file("data") } }
        directory.remove()
    }

    private func pgCtl(_ arguments: [String]) async throws {
        let command = ["\(binaries)/pg_ctl", "-D", directory.file("data")] + arguments
        let result = try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try Self.asServerUser(command) }) }
            thread.name = "qr3-test-postgres"
            thread.start()
        }
        guard result.status == 0 else {
            throw PostgresTestServerError("pg_ctl \(arguments.last ?? "") failed: \(result.stderr)\(result.stdout)")
        }
    }

    // MARK: Process-wide

    private static let started = Mutex<[(binaries: String, data: String)]>([])
    private static let registered = Atomic<Bool>(false)

    private static func stopAtExit() {
        guard !registered.exchange(true, ordering: .relaxed) else { return }
        atexit {
            // Foundation's Process cannot be waited for while the process exits: plain system(3).
            for (binaries, data) in PostgresTestServer.started.withLock({ $0 }) {
                let stop = "'\(binaries)/pg_ctl' -D '\(data)' stop -m immediate >/dev/null 2>&1"
                _ = system(getuid() == 0 ? "/usr/sbin/runuser -u postgres -- \(stop)" : stop)
                _ = system("rm -rf '\((data as NSString).deletingLastPathComponent)'")
            }
        }
    }

    /// Runs `command` as the `postgres` user when this process is root (as itself otherwise);
    /// `always` runs it as this process's user, and only when that is root.
    @discardableResult
    private static func asServerUser(_ command: [String], always: Bool = false) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        // posix_spawn, not Foundation's Process: its wait never returned for `pg_ctl start` run
        // through runuser (the server it leaves running), leaving the test process hung.
        if always { return getuid() == 0 ? try spawnAndWait(command) : (0, "", "") }
        return try spawnAndWait(getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command)
    }

    /// The newest `/usr/lib/postgresql/N/bin` with initdb (Debian's layout).
    private static func findBinaries() throws -> String {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(base)/\(version)/bin/initdb") {
            return "\(base)/\(version)/bin"
        }
        throw PostgresTestServerError(
            "no PostgreSQL server binaries in \(base)/*/bin: install the postgresql package (scripts/bootstrap does)")
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw PostgresTestServerError("socket() failed: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw PostgresTestServerError("cannot bind 127.0.0.1:0: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A test cluster could not be made or driven.
public struct PostgresTestServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
