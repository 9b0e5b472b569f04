import Glibc

/// Starts a detached OS thread (not a Swift task) that runs `body` once.
enum LoopThread {
    /// Starts the thread; false when the system refused.
    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        let context = Unmanaged.passRetained(Payload(body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { context in
                let payload = Unmanaged<Payload>.fromOpaque(context!).takeRetainedValue()
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
        let body: @Sendable () -> Void

        init(body: @escaping @Sendable () -> Void) {
            self.body = body
        }
    }
}
