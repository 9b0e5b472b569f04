import CQR3Curl
import Logging
import WebhookCore

/// The body of the delivery thread: starts queued requests on pooled easy handles, drives
/// `curl_multi_socket_action` over an epoll set, collects finished transfers and publishes them
/// in batches.
///
/// Confined to the one thread that calls `run()`; only the `DeliveryClient` it reports to is shared.
final class TransferLoop {
    private let client: DeliveryClient
    private let multi: UnsafeMutableRawPointer
    private let settings: EasySettings
    private let maximumRunning: Int
    private var idle: [CurlEasy] = []
    private var running: [CurlEasy] = []
    /// Requests not started yet, each with the time it was queued; those before `waitingHead` have
    /// started and are nil, so their headers and body are not kept alive until the array is compacted.
    private var waiting: [(request: OutboundRequest?, since: ContinuousClock.Instant)] = []
    private var waitingHead = 0
    private let maximumQueueWait: Duration?
    private var batch: [CompletedRequest] = []
    /// The sockets (and their `CURL_CSELECT_*` bits) one wait for events returned.
    private let readySockets = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 512)
    private let readyActions = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 512)

    /// Prepares a loop for `client`; nothing is started until `run()`.
    init(client: DeliveryClient) {
        self.client = client
        multi = client.multi.handle
        settings = EasySettings(client.configuration)
        maximumRunning = client.configuration.maximumConcurrentTransfers
        maximumQueueWait = client.configuration.maximumQueueWait
        running.reserveCapacity(maximumRunning)
    }

    deinit {
        readySockets.deallocate()
        readyActions.deallocate()
    }

    /// Loops until the client asks it to stop; everything still running is then reported as aborted.
    func run() {
        while true {
            let take = client.takeSubmissions()
            if take.abortRunning || take.stop {
                abortEverything(alsoAborting: take.aborted)
            }
            enqueue(take.requests)
            if take.stop {
                abortEverything(alsoAborting: [])
                publish()
                break
            }
            startWaiting()
            runDueTimers()
            collectFinished()
            // Something finished while starting (a refused address): report it before waiting.
            let canStartMore = running.count < maximumRunning && waitingHead < waiting.count
            var timeoutMs: Int64 = canStartMore || !batch.isEmpty ? 0 : running.isEmpty ? 10_000 : 1000
            let deadline = client.multi.deadline.pointee
            if deadline >= 0 { timeoutMs = min(timeoutMs, max(0, deadline - cqr3_now_ms())) }
            awaitEvents(timeoutMs: Int32(timeoutMs))
            collectFinished()
            publish()
        }
        idle.removeAll()
    }

    /// Waits up to `timeoutMs` for libcurl's sockets or a wake-up, hands each ready socket to
    /// `curl_multi_socket_action`, and runs libcurl's timeouts once they are due. A turn costs
    /// the sockets that are ready, not every transfer in flight.
    private func awaitEvents(timeoutMs: Int32) {
        let count = cqr3_epoll_wait(
            client.multi.epoll, readySockets.baseAddress, readyActions.baseAddress, Int32(readySockets.count),
            timeoutMs)
        var stillRunning: Int32 = 0
        for index in 0..<max(0, Int(count)) {
            let socket = readySockets[index]
            if socket == client.multi.wakeupDescriptor {
                client.multi.drainWakeups()
                continue
            }
            check(curl_multi_socket_action(multi, socket, readyActions[index], &stillRunning))
        }
        runDueTimers()
    }

    /// Runs libcurl's timeouts once they are due. Adding a transfer makes one due at once (that is
    /// where libcurl starts it): running it in the same turn saves a turn and an `epoll_wait`.
    private func runDueTimers() {
        let deadline = client.multi.deadline.pointee
        guard deadline >= 0, cqr3_now_ms() >= deadline else { return }
        client.multi.deadline.pointee = -1
        var stillRunning: Int32 = 0
        check(curl_multi_socket_action(multi, cqr3_socket_timeout(), 0, &stillRunning))
    }

    private func check(_ code: CURLMcode) {
        guard code != CURLM_OK else { return }
        client.logger.error(
            "curl_multi_socket_action failed", metadata: ["error": "\(String(cString: curl_multi_strerror(code)))"])
    }

    private func enqueue(_ requests: [OutboundRequest]) {
        guard !requests.isEmpty else { return }
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        } else if waitingHead > 4096, waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        let now = ContinuousClock.now
        waiting.append(contentsOf: requests.lazy.map { (request: $0, since: now) })
    }

    private func startWaiting() {
        let now = ContinuousClock.now
        while running.count < maximumRunning, waitingHead < waiting.count {
            let since = waiting[waitingHead].since
            guard let request = waiting[waitingHead].request.take() else {
                waitingHead += 1
                continue
            }
            waitingHead += 1
            if let maximumQueueWait, now - since > maximumQueueWait {
                complete(request, outcome: DeliveryClient.abortedOutcome(responseTimeMs: 0))
                continue
            }
            let easy: CurlEasy
            if let reused = idle.popLast() {
                easy = reused
            } else {
                do {
                    easy = try CurlEasy(settings: settings, epoll: client.multi.epoll)
                } catch {
                    client.logger.error("could not create a transfer", metadata: ["error": "\(error)"])
                    complete(request, failure: .other, excerpt: "The delivery client could not create a transfer.")
                    continue
                }
            }
            if let problem = easy.prepare(request) {
                complete(request, failure: .other, excerpt: problem)
                idle.append(easy)
                continue
            }
            let added = curl_multi_add_handle(multi, easy.handle)
            guard added == CURLM_OK else {
                complete(request, failure: .other, excerpt: String(cString: curl_multi_strerror(added)))
                idle.append(easy)
                continue
            }
            easy.activeIndex = running.count
            running.append(easy)
        }
        if waitingHead == waiting.count, waitingHead > 0 {
            waiting.removeAll(keepingCapacity: waiting.capacity <= 65536)
            waitingHead = 0
        }
    }

    private func collectFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            let easy = CurlEasy.owning(handle)
            batch.append(CompletedRequest(tag: easy.tag, outcome: easy.outcome(code)))
            retire(easy)
        }
    }

    /// Removes a transfer from the multi handle (its connection goes back to the cache) and pools it.
    private func retire(_ easy: CurlEasy) {
        curl_multi_remove_handle(multi, easy.handle)
        let index = easy.activeIndex
        let last = running.removeLast()
        if last !== easy {
            running[index] = last
            last.activeIndex = index
        }
        easy.activeIndex = -1
        idle.append(easy)
    }

    private func abortEverything(alsoAborting extra: [OutboundRequest]) {
        let now = ContinuousClock.now
        while let easy = running.last {
            let elapsed = Int((now - easy.startedAt).milliseconds)
            batch.append(
                CompletedRequest(tag: easy.tag, outcome: DeliveryClient.abortedOutcome(responseTimeMs: elapsed)))
            retire(easy)
        }
        for case (let request?, _) in waiting[waitingHead...] {
            complete(request, failure: .aborted, excerpt: DeliveryClient.abortedExcerpt)
        }
        waiting.removeAll()
        waitingHead = 0
        for request in extra {
            complete(request, failure: .aborted, excerpt: DeliveryClient.abortedExcerpt)
        }
    }

    private func complete(_ request: OutboundRequest, failure: FailureClass, excerpt: String) {
        complete(
            request, outcome: DeliveryOutcome(statusCode: nil, responseTimeMs: 0, failure: failure, excerpt: excerpt))
    }

    private func complete(_ request: OutboundRequest, outcome: DeliveryOutcome) {
        batch.append(CompletedRequest(tag: request.tag, outcome: outcome))
    }

    private func publish() {
        guard !batch.isEmpty else { return }
        let finished = batch
        batch = []
        batch.reserveCapacity(min(finished.count, maximumRunning))
        client.publish(finished)
    }
}
