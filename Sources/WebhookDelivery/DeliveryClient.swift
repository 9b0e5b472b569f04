import Logging
import Synchronization
import WebhookCore

/// Sends webhook POSTs with the libcurl multi interface on one dedicated thread.
///
/// Callers `submit` requests from any thread; the loop started by `run()` sends up to
/// `maximumConcurrentTransfers` at once over pooled easy handles (so kept-alive connections
/// are reused) and reports each result once through `completions`. Receiver failures are
/// outcomes, never thrown errors.
public final class DeliveryClient: Sendable {
    /// The configuration the client was created with.
    public let configuration: Configuration
    /// Where the loop reports its own faults (never per request).
    let logger: Logger
    /// The multi handle the loop drives.
    let multi: CurlMulti
    private let queue = Mutex(SubmissionQueue())
    private let inFlightCount = Atomic<Int>(0)
    private let stream: AsyncStream<[CompletedRequest]>
    private let continuation: AsyncStream<[CompletedRequest]>.Continuation

    /// Creates the multi handle; starts nothing. Throws when the configuration cannot work or libcurl fails.
    public init(configuration: Configuration, logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        multi = try CurlMulti(configuration: configuration)
        (stream, continuation) = AsyncStream.makeStream(of: [CompletedRequest].self, bufferingPolicy: .unbounded)
    }

    /// Completed requests, in batches (one batch per sweep of `curl_multi_info_read`).
    ///
    /// Every submitted request appears exactly once. Meant for one consumer; it finishes after `shutdown()`.
    public var completions: AsyncStream<[CompletedRequest]> { stream }

    /// Number of submitted requests not yet completed.
    public var inFlight: Int { inFlightCount.load(ordering: .relaxed) }

    /// How many descriptors the transfer loop's epoll set holds (its wake-up included), for tests.
    var registeredDescriptors: Int { multi.registeredDescriptors }

    /// Runs the transfer loop on a dedicated thread until `shutdown()`; returns when the loop has ended.
    ///
    /// Cancelling the calling task shuts the client down. Returns at once if the loop already ran
    /// or the client was shut down first.
    public func run() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (ended: CheckedContinuation<Void, Never>) in
                guard queue.withLock({ $0.start() }) else {
                    ended.resume()
                    return
                }
                logger.debug(
                    "delivery loop starting",
                    metadata: ["maximum_concurrent_transfers": "\(configuration.maximumConcurrentTransfers)"])
                let started = LoopThread.start(name: "qr3-delivery") { [self] in
                    TransferLoop(client: self).run()
                    continuation.finish()
                    logger.debug("delivery loop ended")
                    ended.resume()
                }
                if !started {
                    logger.critical("could not start the delivery thread")
                    finishWithoutLoop()
                    ended.resume()
                }
            }
        } onCancel: {
            shutdown()
        }
    }

    /// Queues requests; thread-safe, non-blocking; wakes the loop with `curl_multi_wakeup`.
    ///
    /// Requests submitted after `shutdown()` are dropped (the completions stream has finished).
    public func submit(_ requests: [OutboundRequest]) {
        guard !requests.isEmpty else { return }
        let action = queue.withLock { queue in
            let (accepted, action) = queue.submit(requests)
            if accepted { inFlightCount.add(requests.count, ordering: .relaxed) }
            return action
        }
        perform(action)
    }

    /// Ends every transfer still in flight with failure `.aborted` (they are reported through completions).
    public func abortAll() {
        perform(queue.withLock { $0.abortAll() })
    }

    /// Stops the loop (after aborting everything in flight) and finishes the completions stream.
    public func shutdown() {
        perform(queue.withLock { $0.shutdown() })
    }

    /// Everything submitted since the loop's last turn (called by the loop).
    func takeSubmissions() -> SubmissionQueue.Take {
        queue.withLock { $0.take() }
    }

    /// Hands a batch of completions to the consumer (called by the loop).
    func publish(_ batch: [CompletedRequest]) {
        inFlightCount.subtract(batch.count, ordering: .relaxed)
        continuation.yield(batch)
    }

    /// The excerpt of an aborted request.
    static let abortedExcerpt = "The delivery was abandoned before it completed (the client was stopped or aborted)."

    /// The outcome of a request abandoned after `responseTimeMs`.
    static func abortedOutcome(responseTimeMs: Int) -> DeliveryOutcome {
        DeliveryOutcome(statusCode: nil, responseTimeMs: responseTimeMs, failure: .aborted, excerpt: abortedExcerpt)
    }

    private func perform(_ action: SubmissionQueue.Action) {
        switch action {
        case .none:
            break
        case .wakeLoop:
            multi.wakeup()
        case .abortNow(let requests):
            publishAborted(requests)
        case .abortNowAndFinish(let requests):
            publishAborted(requests)
            continuation.finish()
        }
    }

    private func finishWithoutLoop() {
        let take = queue.withLock { queue in
            _ = queue.shutdown()
            return queue.take()
        }
        publishAborted(take.requests + take.aborted)
        continuation.finish()
    }

    private func publishAborted(_ requests: [OutboundRequest]) {
        guard !requests.isEmpty else { return }
        publish(
            requests.map { CompletedRequest(tag: $0.tag, outcome: DeliveryClient.abortedOutcome(responseTimeMs: 0)) })
    }
}
