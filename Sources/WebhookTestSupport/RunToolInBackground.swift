import Foundation

/// `runTool` on a thread of its own: the awaiting test leaves the shared concurrency pool free.
///
/// The pool has one thread per core (two on the CI machine); a test that runs command after
/// command with the blocking `runTool` holds one of them the whole time and stalls every other
/// test running in parallel.
public func runToolInBackground(_ path: String, _ arguments: [String], environment: [String: String] = [:]) async throws
    -> (status: Int32, stdout: String, stderr: String)
{
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try runTool(path, arguments, environment: environment) })
        }
        thread.name = "qr3-test-tool"
        thread.start()
    }
}
