import CQR3Curl
import Glibc

/// Starts a detached OS thread (not a Swift task) that runs `body` once.
public enum LoopThread {
    /// Starts the thread named `name` (15 bytes at most); false when the system refused.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let context = Unmanaged.passRetained(Payload(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { context in
                let payload = Unmanaged<Payload>.fromOpaque(context!).takeRetainedValue()
                cqr3_name_current_thread(payload.name)
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
