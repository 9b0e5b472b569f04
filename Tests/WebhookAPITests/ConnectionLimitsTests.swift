import Foundation
import Testing
import WebhookAPI
import WebhookTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The API server closes idle connections and accepts at most `api-max-connections` at once.
///
/// Serialized, and every blocking read runs on a thread of its own: a read that waits seconds on
/// one of the two threads of Swift's cooperative pool would stall every other test's server.
@Suite(.serialized) struct ConnectionLimitsTests {
    /// A TCP connection to 127.0.0.1:`port` whose reads give up after `timeout`.
    final class Connection: @unchecked Sendable {
        // @unchecked: one descriptor, used by one test at a time (reads run one after another).
        let descriptor: Int32

        init(port: Int) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard result == 0 else { throw TestFailure("cannot connect to port \(port)") }
        }

        func send(_ text: String) {
            _ = text.withCString { Glibc.send(descriptor, $0, strlen($0), 0) }
        }

        /// What arrives within `timeout`: bytes, `nil` for nothing, or empty for a closed connection.
        /// The blocking read runs on a thread of its own, not on the cooperative pool.
        func read(timeout: Duration) async -> [UInt8]? {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: self.readBlocking(timeout: timeout)) }
            }
        }

        private func readBlocking(timeout: Duration) -> [UInt8]? {
            var limit = timeval(
                tv_sec: Int(timeout.components.seconds),
                tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count < 0 { return nil }
            return Array(buffer.prefix(count))
        }

        deinit { close(descriptor) }
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withAPIServer(configure: { $0.idleTimeout = .seconds(1) }) { server in
            let connection = try Connection(port: server.port)
            let opened = ContinuousClock.now
            let read = await connection.read(timeout: .seconds(20))
            #expect(read == [], "the server closed the idle connection")
            #expect(ContinuousClock.now - opened >= .milliseconds(900))
        }
    }

    @Test func connectionsBeyondTheCapWaitUntilOneCloses() async throws {
        try await withAPIServer(configure: { $0.maximumConnections = 1 }) { server in
            var first: Connection? = try Connection(port: server.port)
            first?.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(await first?.read(timeout: .seconds(10))?.isEmpty == false, "the first connection is served")
            let second = try Connection(port: server.port)
            second.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            // Not served while the first connection is open (a bounded look for an answer that
            // must not come).
            #expect(await second.read(timeout: .milliseconds(700)) == nil, "a second connection waits")
            first = nil
            let answer = try #require(await second.read(timeout: .seconds(10)))
            #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        }
    }
}
