import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The real `qr3-webhookd` binary, run as a child process, with its standard error captured.
///
/// Tests wait on what the daemon writes (`waitForLog`) or on its exit, never on fixed sleeps.
public final class DaemonProcess: Sendable {
    /// The path of the binary built next to the test bundle.
    public static var executablePath: String {
        if let override = ProcessInfo.processInfo.environment["QR3_WEBHOOKD_BINARY"] { return override }
        let bundle = Bundle.main.bundleURL.deletingLastPathComponent()
        let candidates = [
            bundle.appendingPathComponent("qr3-webhookd").path,
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                .appendingPathComponent("qr3-webhookd").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    private struct Output {
        var text = ""
        var exitStatus: Int32?
        var waiters:
            [(id: Int, condition: @Sendable (String, Int32?) -> Bool, continuation: CheckedContinuation<Bool, Never>)] =
                []
        var nextWaiter = 0
    }

    /// The captured output, shared with the pipe and termination handlers.
    private final class Captured: Sendable {
        let output = Mutex(Output())
        let standardOutput = Mutex("")
    }

    private let captured = Captured()
    /// The process id.
    public let pid: Int32

    /// Starts `qr3-webhookd` with `arguments` and extra `environment` variables.
    ///
    /// `executable` runs another program instead (a wrapper that execs the daemon, for one).
    /// `standardErrorIsJournal` sets `JOURNAL_STREAM` to the device and inode of the child's
    /// standard error, as systemd does when that is a stream to journald.
    ///
    /// Started with posix_spawn, its output read and its exit waited for on threads of their
    /// own: Foundation's `Process.run()` crashed the test process now and then (a bad pointer
    /// in its memcpy), even one at a time.
    public init(
        arguments: [String],
        environment: [String: String] = [:],
        executable: String? = nil,
        standardErrorIsJournal: Bool = false
    ) throws {
        var merged = ProcessInfo.processInfo.environment
        for key in merged.keys where key.hasPrefix("QR3_WEBHOOKD_") || key == "NOTIFY_SOCKET" || key == "JOURNAL_STREAM"
        {
            merged[key] = nil
        }
        merged.merge(environment) { $1 }
        // Which test process started the daemon: `scripts/test` kills one whose owner is gone (a
        // test process that crashed could not stop it).
        merged["QR3_TEST_OWNER_PID"] = String(getpid())
        var errorPipe: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        guard pipe(&errorPipe) == 0, pipe(&outputPipe) == 0 else {
            throw TestFailure("cannot make pipes: errno \(errno)")
        }
        // Not inherited by other children (every spawn here also closes what it does not pass on).
        for descriptor in errorPipe + outputPipe { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        if standardErrorIsJournal {
            var status = stat()
            guard fstat(errorPipe[1], &status) == 0 else { throw TestFailure("cannot fstat the standard error pipe") }
            merged["JOURNAL_STREAM"] = "\(status.st_dev):\(status.st_ino)"
        }
        let command = [executable ?? Self.executablePath] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
        closeDescriptorsFromThree(&actions)
        let pid: pid_t
        do {
            pid = try spawn(command, environment: merged, actions: &actions)
        } catch {
            for descriptor in errorPipe + outputPipe { close(descriptor) }
            throw error
        }
        close(errorPipe[1])
        close(outputPipe[1])
        self.pid = pid
        let child = pid
        let captured = self.captured
        Self.reading(errorPipe[0]) { Self.append($0, exit: nil, to: captured) }
        Self.reading(outputPipe[0]) { text in captured.standardOutput.withLock { $0 += text } }
        let waiter = Thread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            Self.append("", exit: exitCode(status), to: captured)
        }
        waiter.name = "qr3-test-wait"
        waiter.start()
    }

    /// Reads `descriptor` to its end on a thread of its own, handing each chunk to `chunk`.
    private static func reading(_ descriptor: Int32, _ chunk: @escaping @Sendable (String) -> Void) {
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                chunk(String(decoding: buffer[0..<count], as: UTF8.self))
            }
            close(descriptor)
        }
        reader.name = "qr3-test-read"
        reader.start()
    }

    /// Starts another helper program (a python3 producer, a TLS server) the same way: its
    /// standard error is the `log` that `waitForLog` watches, its standard output is kept apart.
    public convenience init(executable: String, arguments: [String], environment: [String: String] = [:]) throws {
        try self.init(arguments: arguments, environment: environment, executable: executable)
    }

    private static func append(_ text: String, exit: Int32?, to captured: Captured) {
        let ready = captured.output.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.text += text
            if let exit { state.exitStatus = exit }
            var ready: [CheckedContinuation<Bool, Never>] = []
            state.waiters.removeAll { waiter in
                if waiter.condition(state.text, state.exitStatus) {
                    ready.append(waiter.continuation)
                    return true
                }
                if state.exitStatus != nil {
                    ready.append(waiter.continuation)
                    return true
                }
                return false
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Everything written to standard error so far.
    public var log: String { captured.output.withLock { $0.text } }

    /// The exit status once the process has ended, `nil` while it runs.
    public var exitStatus: Int32? { captured.output.withLock { $0.exitStatus } }

    /// Everything written to standard output so far.
    public var standardOutput: String { captured.standardOutput.withLock { $0 } }

    /// Waits until standard error contains `text` (counting `occurrences`), or throws on timeout or exit.
    public func waitForLog(_ text: String, occurrences: Int = 1, timeout: Duration = .seconds(20)) async throws {
        let matched = await waitFor(timeout: timeout) { log, _ in
            log.components(separatedBy: text).count - 1 >= occurrences
        }
        guard matched, log.components(separatedBy: text).count - 1 >= occurrences else {
            throw TestFailure("daemon did not log \"\(text)\" \(occurrences)x within \(timeout); log:\n\(log)")
        }
    }

    /// Waits for the process to exit and returns its status; throws on timeout.
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        _ = await waitFor(timeout: timeout) { _, status in status != nil }
        if let status = captured.output.withLock({ $0.exitStatus }) { return status }
        // The exit is reported by a thread of its own; should that report be late, the kernel
        // still tells whether the process ended (a zombie keeps its exit status) or hangs.
        if let status = Self.zombieExitStatus(pid) { return status }
        throw TestFailure(
            "daemon did not exit within \(timeout) (\(Self.describe(pid))); log:\n\(log)")
    }

    /// The threads of the running process: each one's name and the kernel function it waits in.
    public var threads: [(name: String, waitChannel: String)] { Self.threads(of: pid) }

    /// The fields of `/proc/PID/stat` after the process name, from the state (field 3) on; nil
    /// when there is no such process.
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(whereSeparator: \.isWhitespace)
    }

    /// The status of a process that has ended but was not reaped yet, read from `/proc/PID/stat`
    /// (the exit code field, encoded as `waitpid` reports it): the exit code, or the signal number.
    static func zombieExitStatus(_ pid: Int32) -> Int32? {
        // Field 52, the exit code, is the 50th from the state.
        guard let fields = statFields(pid), fields.first == "Z", fields.count >= 50, let code = Int32(fields[49])
        else { return nil }
        return code & 0x7f == 0 ? (code >> 8) & 0xff : code & 0x7f
    }

    /// Each thread of process `pid`: its name and the kernel function it waits in.
    static func threads(of pid: Int32) -> [(name: String, waitChannel: String)] {
        func read(_ path: String) -> String {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "?").trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.sorted().map { task in
            (read("/proc/\(pid)/task/\(task)/comm"), read("/proc/\(pid)/task/\(task)/wchan"))
        }
    }

    /// What a process that should have ended is doing: its state and each thread's wait.
    static func describe(_ pid: Int32) -> String {
        guard let state = statFields(pid)?.first else { return "no process \(pid) any more, and no exit reported" }
        let threads = threads(of: pid).map { "\($0.name): \($0.waitChannel)" }
        return "pid \(pid) state \(state), threads: \(threads.joined(separator: ", "))"
    }

    private func waitFor(timeout: Duration, _ condition: @escaping @Sendable (String, Int32?) -> Bool) async -> Bool {
        let id = captured.output.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.captured.output.withLock { state -> Bool in
                        if condition(state.text, state.exitStatus) || state.exitStatus != nil { return true }
                        state.waiters.append((id, condition, continuation))
                        return false
                    }
                    if now { continuation.resume(returning: true) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                let waiter = self.captured.output.withLock { state -> CheckedContinuation<Bool, Never>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                waiter?.resume(returning: false)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Sends `signal` (e.g. SIGTERM, SIGKILL) to the process.
    public func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Kills the process if it still runs (for cleanup).
    public func stop() {
        if exitStatus == nil { kill(pid, SIGKILL) }
    }
}

/// A test's own failure with a message.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Runs a command line tool to completion and returns its exit status and output.
///
/// With posix_spawn and waitpid (``spawnAndWait(_:environment:)``), not Foundation's Process: full
/// runs of the suite crashed inside `Process.run()` (a bad pointer in its memcpy) while the
/// PostgreSQL tests' threads worked, even with every `Process.run()` taken one at a time.
public func runTool(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws
    -> (status: Int32, stdout: String, stderr: String)
{
    var merged = ProcessInfo.processInfo.environment
    for key in merged.keys where key.hasPrefix("QR3_WEBHOOKD_") { merged[key] = nil }
    merged.merge(environment) { $1 }
    return try spawnAndWait([path] + arguments, environment: merged)
}

/// Runs `command` to its end with posix_spawn and waitpid, standard output and error in
/// temporary files; `environment` replaces this process's when given.
///
/// The child gets none of this process's other descriptors (each open one is closed in it):
/// a server it leaves running (`pg_ctl start`) would otherwise hold test receivers' listening
/// sockets, and so their ports, for ever.
public func spawnAndWait(_ command: [String], environment: [String: String]? = nil) throws
    -> (status: Int32, stdout: String, stderr: String)
{
    let base = "/tmp/qr3-spawn-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    let (outPath, errPath) = (base + ".out", base + ".err")
    defer {
        unlink(outPath)
        unlink(errPath)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    closeDescriptorsFromThree(&actions)
    let pid = try spawn(command, environment: environment, actions: &actions)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw TestFailure("waitpid \(command[0]) failed: errno \(errno)") }
    }
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return (exitCode(status), stdout, stderr)
}

/// Starts `command` with posix_spawn and `actions`, with `environment` (this process's when nil).
private func spawn(
    _ command: [String], environment: [String: String]?, actions: inout posix_spawn_file_actions_t
) throws -> pid_t {
    let arguments = command.map { strdup($0) } + [nil]
    defer { arguments.forEach { free($0) } }
    let variables = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
    defer { variables?.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned =
        if let variables {
            posix_spawn(&pid, command[0], &actions, nil, arguments, variables)
        } else {
            posix_spawn(&pid, command[0], &actions, nil, arguments, environ)
        }
    guard spawned == 0 else {
        throw TestFailure("cannot run \(command[0]): \(String(cString: strerror(spawned)))")
    }
    return pid
}

/// A `waitpid` status as a shell shows it: the exit status, or 128 plus the signal that ended it.
private func exitCode(_ status: Int32) -> Int32 {
    (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Makes the child close every descriptor from 3 up, whatever this process opened meanwhile.
///
/// A list of the descriptors open before the spawn would miss one another thread opens in
/// between (a test receiver accepting a connection): the child, a daemon that lives on, would hold
/// it, and the receiver's close would then never reach the client, whose next request on that
/// connection waited for its timeout. glibc's closefrom action closes them in the child itself.
func closeDescriptorsFromThree(_ actions: inout posix_spawn_file_actions_t) {
    _ = posix_spawn_file_actions_addclosefrom(&actions, 3)
}

@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func posix_spawn_file_actions_addclosefrom(
    _ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32
) -> Int32

/// Foundation's `Process.run()` is not safe to call from several threads at once: a fresh-clone
/// run of the whole suite crashed in it (a bad pointer in its memcpy) while tests started
/// processes in parallel. Starting them one at a time costs milliseconds.
private let spawnLock = NSLock()

/// Runs `body` (a `Process.run()`) while no other thread of the tests starts a Foundation Process.
public func spawning<T>(_ body: () throws -> T) rethrows -> T {
    spawnLock.lock()
    defer { spawnLock.unlock() }
    return try body()
}
