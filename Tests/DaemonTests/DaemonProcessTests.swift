import Foundation
import Testing

@testable import WebhookTestSupport

/// The test support's fallbacks for a process whose end Foundation has not reported.
@Suite struct DaemonProcessTests {
    @Test func aZombieIsReadAsEndedWithItsStatus() throws {
        for (script, expected) in [("exit 3", Int32(3)), ("kill -KILL $$", SIGKILL)] {
            var pid: pid_t = 0
            let arguments = ["/bin/sh", "-c", script]
            var argv = arguments.map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            #expect(posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0)
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
        var pid: pid_t = 0
        let sleepArguments = ["/bin/sleep", "30"]
        var argv = sleepArguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        #expect(posix_spawn(&pid, "/bin/sleep", nil, nil, &argv, environ) == 0)
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
}
