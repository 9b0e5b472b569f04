#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import Synchronization

/// A Unix datagram socket a test owns, standing in for systemd's notification socket or
/// journald's native socket: it records every datagram with its arrival time.
///
/// Tests wait on datagrams arriving (`waitFor`), with a bounded timeout, never on fixed sleeps.
public final class DatagramSink: Sendable {
    /// One datagram received.
    public struct Datagram: Sendable {
        /// The datagram as sent.
        public let bytes: [UInt8]
        /// When the sink read it (a little after it was sent).
        public let receivedAt: ContinuousClock.Instant

        /// The bytes as UTF-8 text.
        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    private struct State {
        var datagrams: [Datagram] = []
        var closed = false
        var waiters:
            [(id: Int, condition: @Sendable ([Datagram]) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        var nextWaiter = 0
    }

    /// The address to give the daemon: a path, or `@name` for an abstract socket.
    public let address: String
    private let descriptor: Int32
    private let state = Mutex(State())
    private let stopped = Atomic<Bool>(false)
    private let threadDone = Mutex<CheckedContinuation<Void, Never>?>(nil)

    /// Binds `address`: a file path, or `@name` for a socket in the abstract namespace.
    public init(address: String) throws {
        self.address = address
        var bytes = Array(address.utf8)
        let isAbstract = bytes.first == UInt8(ascii: "@")
        if isAbstract { bytes[0] = 0 }
        var socketAddress = sockaddr_un()
        guard bytes.count < MemoryLayout.size(ofValue: socketAddress.sun_path) else {
            throw TestFailure("socket address too long: \(address)")
        }
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket(AF_UNIX, SOCK_DGRAM) failed: errno \(errno)") }
        var size: Int32 = 4 * 1024 * 1024
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (isAbstract ? 0 : 1))
        let bound = withUnsafePointer(to: &socketAddress) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else {
            let reason = errno
            Glibc.close(descriptor)
            throw TestFailure("cannot bind \(address): errno \(reason)")
        }
        let thread = Thread { [self] in receive() }
        thread.name = "datagram-sink"
        thread.start()
    }

    /// A sink on a fresh abstract address `@qr3-test-<random>`.
    public static func abstract() throws -> DatagramSink {
        try DatagramSink(address: "@qr3-test-\(UUID().uuidString.prefix(12))")
    }

    /// Every datagram so far, in arrival order.
    public var datagrams: [Datagram] { state.withLock { $0.datagrams } }

    /// Waits until `condition` holds for the datagrams so far and returns them; throws after `timeout`.
    @discardableResult
    public func waitFor(
        _ what: String,
        timeout: Duration = .seconds(20),
        until condition: @escaping @Sendable ([Datagram]) -> Bool
    ) async throws -> [Datagram] {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.state.withLock { state -> Bool in
                        if state.closed || condition(state.datagrams) { return true }
                        state.waiters.append((id, condition, continuation))
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                waiter?.resume()
            }
            await group.next()
            group.cancelAll()
        }
        let datagrams = self.datagrams
        guard condition(datagrams) else {
            let received = datagrams.map { "  " + $0.text.debugDescription }.joined(separator: "\n")
            throw TestFailure("no \(what) on \(address) within \(timeout); received:\n\(received)")
        }
        return datagrams
    }

    /// Stops receiving and closes the socket.
    public func close() async {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finishedAlready = threadDone.withLock { slot -> Bool in
                if state.withLock({ $0.closed }) { return true }
                slot = continuation
                return false
            }
            if finishedAlready { continuation.resume() }
        }
    }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while !stopped.load(ordering: .relaxed) {
            var pollDescriptor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&pollDescriptor, 1, 50) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count >= 0 else { continue }
            let datagram = Datagram(bytes: Array(buffer[0..<count]), receivedAt: .now)
            let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.datagrams.append(datagram)
                var ready: [CheckedContinuation<Void, Never>] = []
                state.waiters.removeAll { waiter in
                    guard waiter.condition(state.datagrams) else { return false }
                    ready.append(waiter.continuation)
                    return true
                }
                return ready
            }
            for continuation in ready { continuation.resume() }
        }
        Glibc.close(descriptor)
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.map(\.continuation)
        }
        for continuation in waiters { continuation.resume() }
        // Lock order: `close()` takes threadDone, then state; never the other way round.
        let done = threadDone.withLock { slot in
            defer { slot = nil }
            return slot
        }
        done?.resume()
    }
}
