import Logging
import ServiceLifecycle
import Synchronization
import WebhookCore
import WebhookDelivery
import WebhookStorage

/// Claims due jobs, sends them through the libcurl client and records every attempt.
///
/// One loop does the database work: each round records the attempts that finished since the
/// last round and claims jobs for the free slots, in one transaction. A second task
/// takes finished transfers off the client. A graceful stop ends claiming, lets transfers in
/// flight finish up to the drain timeout, aborts the rest and hands their claims back, and
/// records everything that finished.
final class DeliveryService: Service {
    private let store: any DeliveryStore
    private let client: DeliveryClient
    private let configuration: DaemonConfiguration
    /// Signalled when there may be work: new jobs, finished transfers, a stop.
    private let work: Wakeup
    private let statistics: DaemonStatistics
    private let metrics: DaemonMetrics
    /// Where a failing database is reported for `/healthz`, the API and the status line.
    private let health: StoreHealth
    /// The file `qr3-webhookd status` reads a fault from, when it could be made.
    private let faultNote: FaultNoteFile?
    /// Receives `WATCHDOG=1` from the loop and `EXTEND_TIMEOUT_USEC=` while draining.
    private let notifier: SystemdNotifier
    private let readiness: ReadinessGate
    private let logger: Logger
    /// The lease owner written on this process's claims.
    let owner: String

    /// The readiness gate part this service reports once its loop runs.
    static let readinessPart = "delivery"

    private struct State {
        /// Claims sent or waiting to be recorded, by request tag.
        var claims: [UInt64: ClaimedJob] = [:]
        /// Requests submitted to the client and not finished: up to `concurrency` of them on the
        /// wire, the rest waiting in the client for a transfer to end.
        var sending = 0
        /// Finished requests not yet recorded.
        var finished: [CompletedRequest] = []
        /// True once the client's completion stream has ended.
        var clientEnded = false
        /// True once no more jobs may be claimed (graceful stop).
        var stopping = false
        /// Claims held per webhook: what each webhook's adaptive limit is compared with.
        var claimsByWebhook: [String: Int] = [:]
    }

    private let state = Mutex(State())
    /// This process's current limit of every webhook that had an attempt, for readers elsewhere.
    let limitBoard: ConcurrencyLimitBoard
    /// Set when the database file changed since the loop last looked at the outbox.
    private let outboxTouched = Atomic<Bool>(true)
    /// The most claims this process holds: twice the transfer slots. The client keeps at most
    /// `concurrency` requests on the wire and starts a waiting one the moment a transfer ends,
    /// while the finished one waits for the next round to record it: with only as many claims as
    /// slots, every slot would stay empty from its request's end until its result was recorded.
    /// A crash therefore sends at most twice `concurrency` requests again (their results were
    /// not recorded), not more.
    private var claimLimit: Int { 2 * configuration.maximumConcurrentTransfers }
    /// The fewest free slots worth a claim (and finished attempts worth a commit) while requests are in flight.
    private var claimThreshold: Int {
        max(1, min(configuration.claimBatchSize, configuration.maximumConcurrentTransfers / 4))
    }
    /// The most slots one round claims: half of them. With every slot claimed at once, the
    /// requests all go out and come back together, and the database and the transfers take turns,
    /// each idle while the other works. Two halves alternate instead: one is recorded and claimed
    /// again while the other is on the wire.
    private var claimCohort: Int {
        max(claimThreshold, configuration.maximumConcurrentTransfers / 2)
    }
    /// The longest a finished attempt waits for others before it is recorded.
    private static let recordDelay = Duration.milliseconds(5)

    init(
        store: any DeliveryStore,
        client: DeliveryClient,
        configuration: DaemonConfiguration,
        work: Wakeup,
        statistics: DaemonStatistics,
        metrics: DaemonMetrics,
        health: StoreHealth,
        faultNote: FaultNoteFile? = nil,
        notifier: SystemdNotifier,
        readiness: ReadinessGate,
        owner: String,
        logger: Logger
    ) {
        self.store = store
        self.client = client
        self.configuration = configuration
        self.work = work
        self.statistics = statistics
        self.metrics = metrics
        self.health = health
        self.faultNote = faultNote
        self.notifier = notifier
        self.readiness = readiness
        self.owner = owner
        self.logger = logger
        self.limitBoard = ConcurrencyLimitBoard(initial: configuration.concurrencyLimitPolicy.initial)
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.collect() }
            group.addTask {
                await withGracefulShutdownHandler {
                    await self.waitForStop()
                } onGracefulShutdown: {
                    self.beginStopping()
                }
                await self.drain()
            }
            await self.loop()
        }
    }

    // MARK: The loop

    /// Records finished attempts and claims new jobs until stopped and everything is recorded.
    private func loop() async {
        let lease = Duration.milliseconds(Int64(configuration.leaseSeconds * 1000))
        let idle = Duration.milliseconds(Int64(max(configuration.pollInterval, 0.001) * 1000))
        let validator = OutboxValidator(maximumDataBytes: configuration.maximumEventBytes)
        var faults = StoreFaultHandler(
            store: store, health: health, metrics: metrics, note: faultNote, logger: logger)
        var pendingResults: [AttemptResult] = []
        var pendingReleases: [ClaimedJob] = []
        /// When the loop first saw a stop while the database failed.
        var stopFailingSince: ContinuousClock.Instant?
        // Each webhook's adaptive in-flight limit: the loop alone feeds it, as results come in.
        var adaptiveLimits = ConcurrencyLimits(policy: configuration.concurrencyLimitPolicy)
        var oldestResult = ContinuousClock.now
        var lastOutboxCheck = ContinuousClock.now - idle
        // After an ingest that stopped on its budget (a fan-out to thousands of webhooks, a large
        // outbox), the next one waits as long as that one took: the write lock is free half the
        // time, so a producer's commit gets in within a few milliseconds instead of starving.
        var ingestResumesAt = ContinuousClock.now
        readiness.ready(Self.readinessPart)
        while true {
            // The keep-alive comes from this loop itself: if it hangs, systemd restarts the daemon.
            notifier.watchdogPing()
            let now = Timestamp.now()
            // A claim is given up once its result is recorded, not merely once its request ended:
            // a process never holds more than `claimLimit` claims with unrecorded results, so a
            // crash sends at most that many requests again (and recording paces claiming).
            let (finished, unclaimed, sending, stopping, ended) = state.withLock { state in
                let finished = state.finished
                state.finished.removeAll(keepingCapacity: true)
                return (
                    finished, claimLimit - state.claims.count, state.sending,
                    state.stopping || Task.isCancelled, state.clientEnded
                )
            }
            // Cancelled (another service failed, or a test ended the service): every wait returns at
            // once and the store's writes throw CancellationError, so nothing more can be done;
            // claims whose results are not recorded are sent again after their leases, as after a crash.
            if Task.isCancelled, ended { return }
            let (results, releases) = attemptResults(finished, finishedAt: now)
            adapt(&adaptiveLimits, to: results, now: now)
            if pendingResults.isEmpty, !results.isEmpty { oldestResult = .now }
            pendingResults += results
            pendingReleases += releases
            // The round that records results frees their slots in the same transaction as it
            // claims: claiming for them there keeps the transfers busy while the database works,
            // instead of a round that records and then one that claims.
            let free = unclaimed + pendingResults.count

            // Work in worthwhile batches: a transaction per few finished requests would cost more
            // than the requests. Latency comes first: with nothing in flight any free slot is
            // claimed at once, new events are claimed in the transaction that takes them in, and
            // results wait at most `recordDelay` for company.
            let resultsWaited = ContinuousClock.now - oldestResult
            let recordWanted =
                !pendingReleases.isEmpty
                || (!pendingResults.isEmpty
                    && (pendingResults.count >= claimThreshold || stopping || ended
                        || resultsWaited >= Self.recordDelay))
            var claimWanted = !stopping && free > 0 && (sending == 0 || free >= claimThreshold)
            // New outbox rows: looked for when the database file changed, and every poll interval
            // in case another process wrote where no change can be noticed. The daemon's own
            // commits change the file too, so a round that writes anyway just takes the outbox in
            // (an empty outbox costs one index probe); only an otherwise idle loop asks first, with
            // a cheap read, whether there is anything to take.
            var ingestWanted = false
            if !stopping, ContinuousClock.now >= ingestResumesAt,
                outboxTouched.exchange(false, ordering: .relaxed) || ContinuousClock.now - lastOutboxCheck >= idle
            {
                lastOutboxCheck = .now
                if recordWanted || claimWanted {
                    ingestWanted = true
                } else {
                    ingestWanted = (try? await store.hasOutboxRows()) ?? true
                }
                if ingestWanted, free > 0 { claimWanted = true }
            }
            if !recordWanted && !claimWanted && !ingestWanted {
                if ended && pendingResults.isEmpty { return }
                var timeout = pendingResults.isEmpty ? idle : Self.recordDelay - resultsWaited
                if ingestResumesAt > .now { timeout = min(timeout, ingestResumesAt - .now) }
                await work.wait(timeout: notifier.watchdog.capping(timeout))
                continue
            }
            var round = DeliveryRound(rules: configuration.deliveryRules)
            round.results = pendingResults
            if ingestWanted {
                round.ingest = DeliveryRound.Ingest(
                    limit: configuration.ingestBatchSize, validator: validator, now: now)
            }
            if claimWanted {
                round.claim = ClaimRequest(
                    owner: owner,
                    limit: min(free, configuration.claimBatchSize, claimCohort),
                    perWebhookLimit: adaptiveLimits.policy.initial,
                    webhookLimits: adaptiveLimits.limits,
                    lease: lease,
                    now: now
                )
            }
            do {
                if !pendingReleases.isEmpty {
                    try await store.release(pendingReleases, now: now)
                    logger.info("Unfinished deliveries handed back", metadata: ["count": "\(pendingReleases.count)"])
                    metrics.handedBack(pendingReleases.count)
                    forget(pendingReleases)
                    pendingReleases = []
                }
                let began = ContinuousClock.now
                let report = try await store.advance(round)
                faults.succeeded(resultsWritten: pendingResults.count)
                recorded(pendingResults, report: report.recorded)
                pendingResults = []
                report.ingested.log(logger: logger)
                metrics.ingested(report.ingested)
                statistics.ingested(
                    events: report.ingested.events,
                    jobs: report.ingested.jobs,
                    rejected: report.ingested.rejected.count
                )
                let moreOutbox = report.ingested.rows >= configuration.ingestBatchSize || report.ingested.hasMore
                if moreOutbox { outboxTouched.store(true, ordering: .relaxed) }
                if report.ingested.hasMore { ingestResumesAt = .now + (.now - began) }
                if !report.claimed.isEmpty { send(report.claimed) }
                if let claim = round.claim, report.claimed.count < claim.limit, finished.isEmpty, !moreOutbox,
                    report.ingested.jobs == 0
                {
                    await waitForWork(idle: idle, now: now)
                }
            } catch {
                // Results stay in memory and are written once the database answers again; if this
                // process dies first, the leases expire and the jobs are sent again. Nothing new is
                // claimed meanwhile (claiming is part of the round), so at most `claimLimit` results
                // wait. The back-off is not cut short by new work: every commit of a producer and
                // every finished request signals it, which would make it a tight loop.
                // Cancelled: not a fault of the database; the loop ends once the client has.
                if Task.isCancelled {
                    await Task.yield()
                    continue
                }
                outboxTouched.store(true, ordering: .relaxed)
                let delay = faults.failed(error, resultsWaiting: pendingResults.count)
                if stopping {
                    // A stop does not wait for the database for ever: after the drain timeout the
                    // results are given up, as a crash would lose them, rather than systemd's kill.
                    let since = stopFailingSince ?? .now
                    stopFailingSince = since
                    if ContinuousClock.now - since >= .milliseconds(Int64(configuration.drainTimeout * 1000)) {
                        logger.error(
                            "Stopping with results unwritten: the database still fails; their jobs are sent again once their leases run out",
                            metadata: [
                                "results": "\(pendingResults.count)", "claims": "\(pendingReleases.count)",
                                "error": "\(store.fault(of: error))",
                            ]
                        )
                        return
                    }
                }
                await backOff(delay)
            }
        }
    }

    /// Waits `delay` after a failed round, keeping the watchdog fed. The start of a stop cuts one
    /// wait short (its results get a try at once); the back-off goes on after that.
    private func backOff(_ delay: Duration) async {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline, !Task.isCancelled {
            notifier.watchdogPing()
            await faultWake.wait(timeout: notifier.watchdog.capping(deadline - ContinuousClock.now))
        }
    }

    /// Tells the loop the database file changed: there may be new outbox rows. Callable from any thread.
    func outboxChanged() {
        outboxTouched.store(true, ordering: .relaxed)
        work.signal()
    }

    /// Turns finished transfers into attempt results; aborted ones are handed back instead.
    private func attemptResults(_ finished: [CompletedRequest], finishedAt: Timestamp) -> (
        [AttemptResult], [ClaimedJob]
    ) {
        guard !finished.isEmpty else { return ([], []) }
        return state.withLock { state in
            var results: [AttemptResult] = []
            var abandoned: [ClaimedJob] = []
            results.reserveCapacity(finished.count)
            for completion in finished {
                guard let job = state.claims[completion.tag] else { continue }
                if completion.outcome.failure == .aborted {
                    abandoned.append(job)
                } else {
                    results.append(AttemptResult(job: job, outcome: completion.outcome, finishedAt: finishedAt))
                }
            }
            return (results, abandoned)
        }
    }

    /// Feeds finished attempts to their webhooks' adaptive limits and publishes the new limits.
    private func adapt(_ adaptiveLimits: inout ConcurrencyLimits, to results: [AttemptResult], now: Timestamp) {
        guard !results.isEmpty else { return }
        var changed = false
        // The claims of these results are still held: they count as in flight.
        let claims = state.withLock { $0.claimsByWebhook }
        for result in results {
            let webhookID = result.job.webhookID
            let change = adaptiveLimits.record(
                webhookID: webhookID, outcome: result.outcome, now: now, inFlight: claims[webhookID, default: 0])
            if change != .unchanged { changed = true }
        }
        if changed { limitBoard.publish(adaptiveLimits.limits) }
    }

    private func recorded(_ results: [AttemptResult], report: RecordReport) {
        guard !results.isEmpty else { return }
        report.log(results: results, logger: logger)
        metrics.recorded(results, report: report)
        let succeeded = results.count { $0.outcome.isSuccess }
        statistics.attempted(
            succeeded: succeeded,
            failed: results.count - succeeded - report.staleResults.count,
            stale: report.staleResults.count
        )
        forget(results.map(\.job))
    }

    private func forget(_ jobs: [ClaimedJob]) {
        state.withLock { state in
            for job in jobs where state.claims.removeValue(forKey: UInt64(bitPattern: job.jobID)) != nil {
                // One hash of the id a job: this runs for every attempt.
                guard let index = state.claimsByWebhook.index(forKey: job.webhookID) else { continue }
                if state.claimsByWebhook.values[index] > 1 {
                    state.claimsByWebhook.values[index] -= 1
                } else {
                    state.claimsByWebhook.remove(at: index)
                }
            }
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
        await work.wait(timeout: notifier.watchdog.capping(timeout))
    }

    private func send(_ claimed: [ClaimedJob]) {
        logReclaims(claimed)
        // Signed once per request, here, outside the lock: every header of the attempt, and the
        // webhook-timestamp the attempt is logged with. One clock read for the batch: its requests
        // start within the claim's few seconds.
        let now = Timestamp.now()
        let timestamp = now.milliseconds / 1000
        var signed = claimed
        var requests: [OutboundRequest] = []
        requests.reserveCapacity(claimed.count)
        for index in signed.indices {
            let job = signed[index]
            let signatures = DeliveryHeaders.sign(
                body: job.payload, eventID: job.eventID, timestamp: timestamp, rotation: job.rotation, now: now)
            signed[index].signedAt = timestamp
            signed[index].signatureCount = signatures.count
            let headers = DeliveryHeaders(
                eventID: job.eventID, eventType: job.eventType, attempt: job.attempt, webhookID: job.webhookID,
                timestamp: timestamp)
            requests.append(
                OutboundRequest(
                    tag: UInt64(bitPattern: job.jobID), url: job.url, body: job.payload,
                    headers: headers.lines(signatures, custom: job.headers)))
        }
        // A job this process claimed again (its lease ran out while its request waited here or
        // was on the wire) is not sent twice: the request under way reports under the new claim.
        let (fresh, sending) = state.withLock { state in
            let fresh = signed.map { job in
                state.claims.updateValue(job, forKey: UInt64(bitPattern: job.jobID)) == nil
            }
            for (job, isFresh) in zip(signed, fresh) where isFresh {
                state.claimsByWebhook[job.webhookID, default: 0] += 1
            }
            let count = fresh.count { $0 }
            state.sending += count
            return (fresh, state.sending)
        }
        reportInFlight(sending)
        client.submit(fresh.allSatisfy { $0 } ? requests : zip(requests, fresh).filter(\.1).map(\.0))
    }

    /// Publishes the requests on the wire: of those `sending`, the client runs at most
    /// `concurrency` at once; the rest wait in its queue.
    private func reportInFlight(_ sending: Int) {
        statistics.setInFlight(min(sending, configuration.maximumConcurrentTransfers))
    }

    /// Warns about jobs claimed again because an earlier claim's lease ran out (a worker died or hung).
    private func logReclaims(_ jobs: [ClaimedJob]) {
        var count = 0
        for job in jobs {
            guard let previousOwner = job.reclaimedFrom else { continue }
            count += 1
            logger.warning(
                "Lease expired; job claimed again",
                metadata: [
                    "webhook_id": "\(job.webhookID)",
                    "event_id": "\(job.eventID)",
                    "job_id": "\(job.jobID)",
                    "attempt": "\(job.attempt)",
                    "previous_owner": "\(previousOwner)",
                ]
            )
        }
        metrics.reclaimed(count)
    }

    // MARK: Collecting

    private func collect() async {
        for await batch in client.completions {
            let sending = state.withLock { state in
                state.sending -= batch.count
                state.finished.append(contentsOf: batch)
                return state.sending
            }
            reportInFlight(sending)
            work.signal()
        }
        state.withLock { $0.clientEnded = true }
        work.signal()
    }

    // MARK: Stopping

    private let stopped = Wakeup()
    /// Ends a back-off wait early: only a stop signals it.
    private let faultWake = Wakeup()

    private func waitForStop() async {
        // Cancelled (another service failed): `wait` returns at once from then on, so stop too.
        while !state.withLock({ $0.stopping }) && !Task.isCancelled {
            await stopped.wait(timeout: .seconds(3600))
        }
    }

    private func beginStopping() {
        state.withLock { $0.stopping = true }
        stopped.signal()
        faultWake.signal()
        work.signal()
    }

    /// After a stop: waits for transfers in flight up to the drain timeout, aborts the rest (their
    /// claims are handed back by the loop) and shuts the client down, which ends the loop.
    private func drain() async {
        let deadline = ContinuousClock.now + .milliseconds(Int64(configuration.drainTimeout * 1000))
        let inFlight = state.withLock { $0.sending }
        if inFlight > 0 {
            logger.info("Draining deliveries in flight", metadata: ["in_flight": "\(inFlight)"])
        }
        var extendedUntil = ContinuousClock.now
        // A cancelled service does not drain: its waits would return at once, a busy loop.
        while state.withLock({ $0.sending }) > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            // Keep systemd's stop timeout ahead of the drain, however long drain-timeout is.
            if extendedUntil - ContinuousClock.now < StatusService.stopMargin / 2 {
                extendedUntil = deadline + StatusService.stopMargin
                notifier.extendTimeout(by: extendedUntil - ContinuousClock.now)
            }
            await stopped.wait(timeout: .milliseconds(20))
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
    fileprivate func log(results: [AttemptResult], logger: Logger) {
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
                        "remote_address": "\(outcome.remoteAddress ?? "-")",
                        "name_lookup_ms": "\(outcome.timings.nameLookup.map(TransferTimings.milliseconds) ?? "-")",
                        "connect_ms": "\(outcome.timings.connect.map(TransferTimings.milliseconds) ?? "-")",
                        "tls_ms": "\(outcome.timings.tls.map(TransferTimings.milliseconds) ?? "-")",
                        "first_byte_ms": "\(outcome.timings.firstByte.map(TransferTimings.milliseconds) ?? "-")",
                        "total_ms": "\(outcome.timings.total.map(TransferTimings.milliseconds) ?? "-")",
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
        for change in webhookChanges {
            var metadata: Logger.Metadata = [
                "webhook_id": "\(change.webhookID)", "workspace_id": "\(change.workspaceID)",
            ]
            switch change.step {
            case .unchanged:
                continue
            case .startedFailing:
                metadata["next_probe_at"] = "\(change.circuit.pausedUntil?.iso8601 ?? "-")"
                logger.notice(
                    "Webhook failing; its deliveries wait while one probe at a time is sent", metadata: metadata)
            case .recovered(let failures, let since):
                metadata["failed_probes"] = "\(failures)"
                metadata["failing_for_s"] = "\(Double(change.at.milliseconds - since.milliseconds) / 1000)"
                logger.notice("Webhook recovered; its waiting deliveries are sent again", metadata: metadata)
            case .disable(let reason):
                metadata["reason"] = "\(reason.description(at: change.at))"
                logger.warning(
                    "Webhook disabled; its deliveries are held until it is enabled", metadata: metadata)
            case .enable:
                logger.notice(
                    "Webhook enabled again by a recovery probe; its held deliveries are sent", metadata: metadata)
            }
        }
        for job in staleResults {
            logger.warning(
                "Result dropped: the lease was lost and the job was claimed again",
                metadata: ["webhook_id": "\(job.webhookID)", "event_id": "\(job.eventID)", "job_id": "\(job.jobID)"]
            )
        }
    }
}
