import Foundation
import Testing

@testable import WebhookTestSupport

/// The test support's fallbacks for a process whose end Foundation has not reported.
@Suite struct DaemonProcessTests {
    @Test func aZombieIsReadAsEndedWithItsStatus() throws {
        for (script, expected) in [("exit 3", Int32(3)), ("kill -KILL $$", SIGKILL)] {
            let pid = try Self.spawn(["/bin/sh", "-c", script])
            // Not reaped yet: the process stays a zombie until waitpid, and /proc tells its status.
            var status: Int32? = nil
            for _ in 0..<500 where status == nil {
                status = DaemonProcess.zombieExitStatus(pid)
                if status == nil { usleep(10_000) }
            }
            #expect(status == expected, "\(script)")
            var raw: Int32 = 0
            #expect(waitpid(pid, &raw, 0) == pid)
            #expect(DaemonProcess.zombieExitStatus(pid) == nil, "reaped: no process any more")
            #expect(DaemonProcess.describe(pid).hasPrefix("no process"))
        }
    }

    @Test func aRunningProcessIsDescribedWithItsThreads() throws {
        let pid = try Self.spawn(["/bin/sleep", "30"])
        defer {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            waitpid(pid, &raw, 0)
        }
        #expect(DaemonProcess.zombieExitStatus(pid) == nil, "still running")
        let description = DaemonProcess.describe(pid)
        #expect(description.contains("pid \(pid) state "), "\(description)")
        #expect(description.contains("sleep: "), "\(description)")
    }

    /// Starts `arguments[0]` with `arguments` and returns its pid; the caller reaps it (a child
    /// started this way, not through Foundation, stays a zombie until `waitpid`).
    static func spawn(_ arguments: [String]) throws -> pid_t {
        var pid: pid_t = 0
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        try #require(posix_spawn(&pid, arguments[0], nil, nil, &argv, environ) == 0)
        return pid
    }
}
