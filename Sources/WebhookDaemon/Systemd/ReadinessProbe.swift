import ServiceLifecycle

/// Reports a part to the readiness gate once `probe` says it is up, then waits for the stop.
///
/// For parts that announce readiness through a call of their own, like the API server's
/// `waitUntilListening()`; `probe` returns false when the part stopped before it was ready.
struct ReadinessProbe: Service {
    let part: String
    let readiness: ReadinessGate
    let probe: @Sendable () async -> Bool

    init(part: String, readiness: ReadinessGate, probe: @escaping @Sendable () async -> Bool) {
        self.part = part
        self.readiness = readiness
        self.probe = probe
    }

    func run() async throws {
        if await probe() { readiness.ready(part) }
        // A service that returns ends the group: stay until the graceful stop.
        try? await gracefulShutdown()
    }
}
