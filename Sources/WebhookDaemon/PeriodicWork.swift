import Logging
import ServiceLifecycle

/// Runs `body` every `interval` until a graceful stop, the loop of the daemon's housekeeping
/// services. A failure is logged as a warning with `failureMessage`, at the first one and every
/// hundredth in a row after, so a lasting fault does not flood the journal; not at all while
/// `logsFailures` is false (another part already reports the fault).
func repeatUntilShutdown(
    every interval: Duration, failureMessage: Logger.Message, logger: Logger,
    logsFailures: () -> Bool = { true },
    _ body: () async throws -> Void
) async {
    var failures = 0
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        do {
            try await body()
            failures = 0
        } catch is CancellationError {
            return
        } catch {
            failures += 1
            if logsFailures(), failures == 1 || failures.isMultiple(of: 100) {
                logger.warning(failureMessage, metadata: ["error": "\(error)", "failures": "\(failures)"])
            }
        }
        // The pause ends at a graceful stop too: a service that slept through it (a minute, for
        // retention) would hold the whole daemon's stop back.
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
}
