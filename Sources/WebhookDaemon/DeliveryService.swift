import Logging
import ServiceLifecycle
import Synchronization
import WebhookCore
import WebhookDelivery
import WebhookStorage

/// Claims due jobs, sends them through the libcurl client and records every attempt.
///
/// Three loops share the work: claiming (fills free transfer slots), collecting (takes finished
/// transfers off the client) and recording (writes finished attempts in batches, one transaction
/// each). A graceful stop ends claiming, lets transfers in flight finish up to the drain timeout,
/// aborts the rest and hands their claims back, and records everything that finished.
final class DeliveryService: Service {
    private let store: any WebhookStore
    private let client: DeliveryClient
    private let configuration: DaemonConfiguration
    /// Signalled when jobs may have become claimable: new jobs, freed slots, a stop.
    private let work: Wakeup
    private let statistics: DaemonStatistics
    private let logger: Logger
    /// The lease owner written on this process's claims.
    let owner: String

    private struct State {
        /// Claims sent or waiting to be recorded, by request tag.
        var claims: [UInt64: ClaimedJob] = [:]
        /// Requests submitted to the client and not finished.
        var sending = 0
        /// Finished requests not yet recorded.
        var finished: [CompletedRequest] = []
        /// True once the client's completion stream has ended.
        var clientEnded = false
    }

    private let state = Mutex(State())
    private let finishedReady = Wakeup()
    private let progress = Wakeup()

    init(
        store: any WebhookStore,
        client: DeliveryClient,
        configuration: DaemonConfiguration,
        work: Wakeup,
        statistics: DaemonStatistics,
        owner: String,
        logger: Logger
    ) {
        self.store = store
        self.client = client
        self.configuration = configuration
        self.work = work
        self.statistics = statistics
        self.owner = owner
        self.logger = logger
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.collect() }
            group.addTask { await self.recordLoop() }
            await withGracefulShutdownHandler {
                await self.claimLoop()
            } onGracefulShutdown: {
                self.work.signal()
            }
            await self.drain()
        }
    }

    // MARK: Claiming

    private func claimLoop() async {
        let lease = Duration.milliseconds(Int64(configuration.leaseSeconds * 1000))
        let idle = Duration.milliseconds(Int64(max(configuration.pollInterval, 0.05) * 1000))
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // A slot is free once its result is recorded, not merely once its request ended: a
            // process never holds more than `concurrency` claims with unrecorded results, so a
            // crash sends at most that many requests again (and recording paces claiming).
            let free = state.withLock { state in configuration.maximumConcurrentTransfers - state.claims.count }
            guard free > 0 else {
                await work.wait(timeout: idle)
                continue
            }
            let limit = min(free, configuration.claimBatchSize)
            let now = Timestamp.now()
            let claimed: [ClaimedJob]
            do {
                claimed = try await store.claim(
                    owner: owner,
                    limit: limit,
                    perWebhookLimit: configuration.perWebhookConcurrency,
                    lease: lease,
                    now: now
                )
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.error("Cannot claim jobs", metadata: ["error": "\(error)", "failures": "\(failures)"])
                await work.wait(timeout: .milliseconds(min(5_000, 100 * failures)))
                continue
            }
            if !claimed.isEmpty {
                send(claimed)
                if claimed.count == limit { continue }
            }
            await waitForWork(idle: idle, now: now)
        }
    }

    /// Waits until something may be claimable: a signal, the next due time, or the idle interval.
    private func waitForWork(idle: Duration, now: Timestamp) async {
        var timeout = idle
        if let due = try? await store.nextDueTime() {
            let untilDue = due.milliseconds - now.milliseconds
            if untilDue > 0 {
                timeout = min(idle * 4, .milliseconds(untilDue))
            }
        }
        await work.wait(timeout: timeout)
    }

    private func send(_ jobs: [ClaimedJob]) {
        var requests: [OutboundRequest] = []
        requests.reserveCapacity(jobs.count)
        for job in jobs {
            let tag = UInt64(bitPattern: job.jobID)
            requests.append(
                OutboundRequest(
                    tag: tag,
                    url: job.url,
                    body: job.payload,
                    headers: [
                        "X-QR3-Signature: " + WebhookSignature.header(body: job.payload, secret: job.secret),
                        "X-QR3-Event-Id: " + job.eventID,
                        "X-QR3-Event-Type: " + job.eventType,
                        "X-QR3-Delivery-Attempt: " + String(job.attempt),
                        "X-QR3-Webhook-Id: " + job.webhookID,
                    ]
                )
            )
        }
        let sending = state.withLock { state in
            for job in jobs { state.claims[UInt64(bitPattern: job.jobID)] = job }
            state.sending += jobs.count
            return state.sending
        }
        statistics.setInFlight(sending)
        client.submit(requests)
    }

    // MARK: Collecting and recording

    private func collect() async {
        for await batch in client.completions {
            let sending = state.withLock { state in
                state.sending -= batch.count
                state.finished.append(contentsOf: batch)
                return state.sending
            }
            statistics.setInFlight(sending)
            finishedReady.signal()
            progress.signal()
            work.signal()
        }
        state.withLock { $0.clientEnded = true }
        finishedReady.signal()
        progress.signal()
    }

    private func recordLoop() async {
        while true {
            let (batch, ended) = state.withLock { state in
                let batch = state.finished
                state.finished.removeAll(keepingCapacity: true)
                return (batch, state.clientEnded)
            }
            if batch.isEmpty {
                if ended { return }
                await finishedReady.wait(timeout: .seconds(1))
                continue
            }
            await record(batch)
        }
    }

    private func record(_ batch: [CompletedRequest]) async {
        let finishedAt = Timestamp.now()
        let (results, abandoned) = state.withLock { state in
            var results: [AttemptResult] = []
            var abandoned: [ClaimedJob] = []
            results.reserveCapacity(batch.count)
            for completion in batch {
                guard let job = state.claims[completion.tag] else { continue }
                if completion.outcome.failure == .aborted {
                    abandoned.append(job)
                } else {
                    results.append(AttemptResult(job: job, outcome: completion.outcome, finishedAt: finishedAt))
                }
            }
            return (results, abandoned)
        }
        var failures = 0
        while true {
            do {
                if !abandoned.isEmpty {
                    try await store.release(abandoned, now: finishedAt)
                }
                let report = try await store.record(
                    results,
                    policy: configuration.retryPolicy,
                    disableAfter: configuration.disableAfterFailures
                )
                report.log(results: results, abandoned: abandoned, logger: logger)
                let succeeded = results.filter(\.outcome.isSuccess).count
                statistics.attempted(
                    succeeded: succeeded,
                    failed: results.count - succeeded - report.staleResults.count,
                    stale: report.staleResults.count
                )
                break
            } catch {
                // The results stay in memory and are written once the database answers again;
                // if this process dies first, the leases expire and the jobs are sent again.
                failures += 1
                logger.error(
                    "Cannot record delivery attempts, retrying",
                    metadata: ["error": "\(error)", "attempts": "\(results.count)", "failures": "\(failures)"]
                )
                try? await Task.sleep(for: .milliseconds(min(5_000, 100 * failures)))
            }
        }
        state.withLock { state in
            for completion in batch { state.claims[completion.tag] = nil }
        }
        work.signal()
    }

    // MARK: Stopping

    private func drain() async {
        let deadline = ContinuousClock.now + .milliseconds(Int64(configuration.drainTimeout * 1000))
        let inFlight = state.withLock { $0.sending }
        if inFlight > 0 {
            logger.info("Draining deliveries in flight", metadata: ["in_flight": "\(inFlight)"])
        }
        while state.withLock({ $0.sending }) > 0, ContinuousClock.now < deadline {
            await progress.wait(timeout: .milliseconds(100))
        }
        let left = state.withLock { $0.sending }
        if left > 0 {
            logger.warning(
                "Drain timeout reached; handing unfinished deliveries back",
                metadata: ["in_flight": "\(left)"]
            )
            client.abortAll()
        }
        client.shutdown()
    }
}

extension RecordReport {
    /// Logs what a recorded batch means for operators: attempts at debug, trouble as warnings.
    fileprivate func log(results: [AttemptResult], abandoned: [ClaimedJob], logger: Logger) {
        if logger.logLevel <= .debug {
            for (result, deliveryID) in zip(results, deliveryIDs) {
                guard let deliveryID else { continue }
                let outcome = result.outcome
                logger.debug(
                    outcome.isSuccess ? "Delivered" : "Delivery attempt failed",
                    metadata: [
                        "webhook_id": "\(result.job.webhookID)",
                        "event_id": "\(result.job.eventID)",
                        "event_type": "\(result.job.eventType)",
                        "delivery_id": "\(deliveryID)",
                        "attempt": "\(result.job.attempt)",
                        "status_code": "\(outcome.statusCode.map(String.init) ?? "-")",
                        "failure": "\(outcome.failure?.rawValue ?? "-")",
                        "response_time_ms": "\(outcome.responseTimeMs)",
                    ]
                )
            }
        }
        for job in finallyFailed {
            logger.notice(
                "Delivery failed after its last attempt",
                metadata: [
                    "webhook_id": "\(job.webhookID)",
                    "event_id": "\(job.eventID)",
                    "event_type": "\(job.eventType)",
                    "attempt": "\(job.attempt)",
                ]
            )
        }
        for webhookID in disabledWebhooks {
            logger.warning(
                "Webhook disabled after consecutive failures",
                metadata: ["webhook_id": "\(webhookID)"]
            )
        }
        for job in staleResults {
            logger.warning(
                "Result dropped: the lease was lost and the job was claimed again",
                metadata: ["webhook_id": "\(job.webhookID)", "event_id": "\(job.eventID)", "job_id": "\(job.jobID)"]
            )
        }
        if !abandoned.isEmpty {
            logger.info("Unfinished deliveries handed back", metadata: ["count": "\(abandoned.count)"])
        }
    }
}
