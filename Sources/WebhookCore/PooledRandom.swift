import CQR3OpenSSL
import Synchronization

/// Cryptographic randomness drawn 4 KiB at a time, from OpenSSL's `RAND_bytes` (seeded by the
/// kernel).
///
/// The daemon makes an id for every delivery attempt, thousands a second, and
/// `SystemRandomNumberGenerator` makes a `getrandom` system call for every 64-bit word: more than
/// the rest of the id costs. This generator hands out words from a shared pool refilled 512 at a
/// time, and falls back to the system generator should OpenSSL fail. Safe from any thread.
public struct PooledRandom: RandomNumberGenerator {
    private struct Pool {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512
    }

    private static let pool = Mutex(Pool())

    public init() {}

    public mutating func next() -> UInt64 {
        Self.pool.withLock { pool in
            if pool.next == pool.words.count {
                Self.refill(&pool.words)
                pool.next = 0
            }
            defer { pool.next += 1 }
            return pool.words[pool.next]
        }
    }

    private static func refill(_ words: inout [UInt64]) {
        let filled = words.withUnsafeMutableBytes { buffer in
            RAND_bytes(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)) == 1
        }
        guard !filled else { return }
        var system = SystemRandomNumberGenerator()
        for index in words.indices { words[index] = system.next() }
    }
}
