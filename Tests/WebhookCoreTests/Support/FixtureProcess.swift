import Foundation
import WebhookTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Paths of the helper scripts under `Tests/Fixtures`.
enum Fixtures {
    /// The absolute path of `Tests/Fixtures`.
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
        .path

    /// The absolute path of `relativePath` inside `Tests/Fixtures`.
    static func path(_ relativePath: String) -> String {
        directory + "/" + relativePath
    }
}

/// A scratch folder for one test, removed by `remove()`.
struct ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("qr3-core-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// A subprocess run to completion, its output collected in files so that neither pipe can fill up.
struct FinishedProcess {
    let status: Int32
    let stdout: String
    let stderr: String

    /// Runs `command` (looked up on `PATH`) with `arguments` and waits for it to exit.
    static func run(_ command: String, _ arguments: [String]) async throws -> FinishedProcess {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let stdoutURL = scratch.file("stdout")
        let stderrURL = scratch.file("stderr")
        try Data().write(to: stdoutURL)
        try Data().write(to: stderrURL)
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [command] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        let status = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                try spawning { try process.run() }
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try stdout.close()
        try stderr.close()
        return FinishedProcess(
            status: status,
            stdout: try String(contentsOf: stdoutURL, encoding: .utf8),
            stderr: try String(contentsOf: stderrURL, encoding: .utf8)
        )
    }
}

/// A long-running subprocess whose standard output is read line by line as it arrives.
final class LineProcess: Sendable {
    /// The lines the process writes to standard output, without their newlines; finishes at end of file.
    let lines: AsyncStream<String>
    private let process: Process
    private let exit: AsyncStream<(Process.TerminationReason, Int32)>

    /// Starts `command` (looked up on `PATH`) with `arguments`; its standard error goes to the test's.
    init(_ command: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [command] + arguments
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        let (exit, exitContinuation) = AsyncStream.makeStream(of: (Process.TerminationReason, Int32).self)
        process.terminationHandler = { finished in
            exitContinuation.yield((finished.terminationReason, finished.terminationStatus))
            exitContinuation.finish()
        }
        let (lines, lineContinuation) = AsyncStream.makeStream(of: String.self)
        try spawning { try process.run() }
        let reading = pipe.fileHandleForReading
        Thread.detachNewThread {
            var pending: [UInt8] = []
            while case let data = reading.availableData, !data.isEmpty {
                pending.append(contentsOf: data)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    lineContinuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            lineContinuation.finish()
        }
        self.process = process
        self.lines = lines
        self.exit = exit
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited with status 0.
    func terminate() async -> Bool {
        if process.isRunning { process.terminate() }
        for await (reason, status) in exit {
            return reason == .exit && status == 0
        }
        return false
    }

    /// Sends SIGTERM without waiting, for cleanup after a failed expectation.
    func kill() {
        if process.isRunning { process.terminate() }
    }
}

/// A one-request HTTP/1.1 client over a plain TCP socket to 127.0.0.1.
enum LoopbackHTTP {
    /// Errors of the socket calls, with the call's name and `errno`.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends `POST /` with `headers` and `body` to 127.0.0.1:`port` and returns the response's status code.
    static func post(port: Int, headers: [(String, String)], body: [UInt8]) throws -> Int {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(socketFD) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Failure(description: "connect to port \(port): errno \(errno)") }

        var head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < request.count {
            let written = request[sent...].withUnsafeBytes { send(socketFD, $0.baseAddress, $0.count, 0) }
            guard written > 0 else { throw Failure(description: "send: errno \(errno)") }
            sent += written
        }

        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let received = chunk.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, $0.count, 0) }
            guard received >= 0 else { throw Failure(description: "recv: errno \(errno)") }
            if received == 0 { break }
            response.append(contentsOf: chunk[..<received])
        }
        let statusLine = String(decoding: response.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw Failure(description: "not an HTTP response: \(statusLine)")
        }
        return status
    }
}
