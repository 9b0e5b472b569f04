#if canImport(Glibc)
    import Glibc
#endif
import Foundation

/// Starts a detached OS thread (not a Swift task) that runs `body` once: the change watch blocks
/// in `poll(2)`, which must not hold a thread of the cooperative pool.
enum WatchThread {
    /// Starts the thread named `name` (15 bytes at most); false when the system refused.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let context = Unmanaged.passRetained(Payload(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { context in
                let payload = Unmanaged<Payload>.fromOpaque(context!).takeRetainedValue()
                // Foundation names the OS thread (pthread_setname_np is not visible to Swift here).
                Thread.current.name = payload.name
                payload.body()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<Payload>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }

    private final class Payload: Sendable {
        let name: String
        let body: @Sendable () -> Void

        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
