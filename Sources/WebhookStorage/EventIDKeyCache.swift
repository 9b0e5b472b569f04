import Synchronization
import WebhookCore

/// A database's key for derived event ids, read at a store's first ingest and kept: the schema
/// writes it once (`daemon_settings`), and it never changes.
public final class EventIDKeyCache: Sendable {
    private let key = Mutex<String?>(nil)

    public init() {}

    /// `validator` with the database's key, read with `read` the first time it is needed. A
    /// validator that carries a key already is returned as it is.
    public func keyed(_ validator: OutboxValidator, reading read: () async throws -> String) async throws
        -> OutboxValidator
    {
        guard validator.eventIDKey.isEmpty else { return validator }
        var keyed = validator
        if let known = key.withLock({ $0 }) {
            keyed.eventIDKey = known
            return keyed
        }
        let read = try await read()
        key.withLock { $0 = read }
        keyed.eventIDKey = read
        return keyed
    }
}
