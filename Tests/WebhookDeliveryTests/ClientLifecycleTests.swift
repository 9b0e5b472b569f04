import Logging
import Testing
import WebhookCore
@testable import WebhookDelivery
import WebhookTestSupport

@Suite struct ClientLifecycleTests {
    @Test func thousandConcurrentRequestsReuseConnections() async throws {
        let receiver = try await TestReceiver.start()
        let harness = try Harness.start { $0.maximumConcurrentTransfers = 64 }
        let requests = (1...1000).map { tag in
            OutboundRequest(tag: UInt64(tag), url: receiver.url, body: Array(#"{"n":\#(tag)}"#.utf8), headers: [])
        }

        harness.client.submit(requests)
        let outcomes = try await harness.collect(1000)

        #expect(outcomes.count == 1000)
        #expect(outcomes.values.allSatisfy { $0.isSuccess })
        #expect(harness.client.inFlight == 0)
        #expect(receiver.requests.count == 1000)
        #expect(receiver.connectionCount <= 128, "\(receiver.connectionCount) connections for 1000 requests")
        await harness.stop()
        try await receiver.shutdown()
    }

    /// A kept-alive connection stays in the loop's epoll set while it waits for the next request
    /// (no epoll_ctl a request); once the receiver closes it, the loop takes it out instead of
    /// being woken by it again and again, and the next request goes out on a new connection.
    @Test func anIdleConnectionTheReceiverClosesLeavesTheEpollSetAndIsNotReused() async throws {
        let receiver = try await TestReceiver.startOnAFixedPort()
        let port = receiver.port
        let harness = try Harness.start()

        #expect(try await harness.deliver(receiver.url).statusCode == 200)
        // The wake-up eventfd and the idle connection.
        #expect(harness.client.registeredDescriptors == 2)

        try await receiver.shutdown()
        let left = try await withDeadline(.seconds(20)) {
            while harness.client.registeredDescriptors != 1 { try await Task.sleep(for: .milliseconds(5)) }
            return harness.client.registeredDescriptors
        }
        #expect(left == 1)

        let back = try await TestReceiver.start(port: port)
        #expect(try await harness.deliver(back.url).statusCode == 200)
        #expect(back.connectionCount == 1)
        #expect(harness.client.registeredDescriptors == 2)
        await harness.stop()
        try await back.shutdown()
    }

    /// Receivers close kept-alive connections when they like: here every other answer is followed
    /// by a close (without `Connection: close`) while 2,000 requests go out 64 at a time, so
    /// connections die idle in libcurl's cache, and some just as a request is written to them.
    /// Every request ends, none by a timeout: the epoll set lets go of the closed idle sockets
    /// without ever losing the registration of one a request waits on.
    @Test func receiversClosingKeptAliveConnectionsNeverStrandARequest() async throws {
        let receiver = try await TestReceiver.start { request in
            let odd = request.bodyText.dropLast().last.map { "13579".contains($0) } ?? false
            return odd ? .status(200, body: "ok").ending(.close(afterBodyBytes: 2)) : .status(200, body: "ok")
        }
        let harness = try Harness.start {
            $0.maximumConcurrentTransfers = 64
            $0.totalTimeout = .seconds(10)
        }
        let requests = (1...2000).map { tag in
            OutboundRequest(tag: UInt64(tag), url: receiver.url, body: Array(#"{"n":\#(tag)}"#.utf8), headers: [])
        }

        harness.client.submit(requests)
        let outcomes = try await harness.collect(2000, timeout: .seconds(60))

        #expect(outcomes.count == 2000)
        let timedOut = outcomes.filter { $0.value.failure == .timeout }
        let received = Set(receiver.requests.map(\.bodyText))
        let answered = timedOut.keys.filter { received.contains(#"{"n":\#($0)}"#) }
        #expect(
            timedOut.isEmpty,
            "\(timedOut.count) requests waited for their timeout, \(answered.count) of them answered by the receiver; timings: \(timedOut.values.prefix(3).map { "\($0.timings) \($0.remoteAddress ?? "-")" })"
        )
        let failed = outcomes.values.filter { !$0.isSuccess }
        print("keep-alive stress: 2000 requests, \(failed.count) failed, \(receiver.connectionCount) connections")
        // A request written to a connection the receiver is closing at that moment can fail (libcurl
        // retries one that got no answer at all once); it must be rare, and a network failure.
        #expect(failed.allSatisfy { $0.failure == .network }, "\(failed.map { $0.failure })")
        #expect(failed.count <= 20, "\(failed.count) of 2,000 failed")
        #expect(receiver.connectionCount >= 900, "\(receiver.connectionCount) connections: the receiver did not close them")
        #expect(harness.client.inFlight == 0)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func connectionsPerHostAreLimited() async throws {
        let receiver = try await TestReceiver.start()
        let harness = try Harness.start { $0.maximumConnectionsPerHost = 2 }

        let outcomes = try await harness.deliver(Array(repeating: receiver.url, count: 50))

        #expect(outcomes.values.allSatisfy { $0.isSuccess })
        #expect(receiver.connectionCount <= 2)
        await harness.stop()
        try await receiver.shutdown()
    }

    @Test func aRequestThatWaitedTooLongInTheQueueIsCompletedUnsent() async throws {
        // One slot, held for a second by each request: the second and third wait that long.
        let receiver = try await TestReceiver.start { _ in Response.status(200).delayed(by: .seconds(1)) }
        let harness = try Harness.start {
            $0.maximumConcurrentTransfers = 1
            $0.maximumQueueWait = .milliseconds(300)
        }

        let outcomes = try await harness.deliver(Array(repeating: receiver.url, count: 3))

        #expect(outcomes[1]?.isSuccess == true, "the first request started at once")
        for tag: UInt64 in [2, 3] {
            #expect(
                outcomes[tag]?.failure == .aborted,
                "request \(tag) waited past the limit: \(String(describing: outcomes[tag]))")
        }
        #expect(receiver.requests.count == 1, "requests that waited too long are never sent")

        // A request that finds the slot free starts at once and is sent as usual.
        let quick = try await TestReceiver.start()
        for _ in 1...5 {
            let outcome = try await harness.deliver(quick.url)
            #expect(outcome.isSuccess, "\(outcome)")
        }
        #expect(quick.requests.count == 5)
        await harness.stop()
        try await receiver.shutdown()
        try await quick.shutdown()
    }

    @Test func abortAllEndsRunningAndQueuedRequests() async throws {
        let silent = try await TestReceiver.start { _ in .noAnswer }
        // A timeout far beyond the test, so only the abort can end these requests, however slow the machine.
        let harness = try Harness.start {
            $0.maximumConcurrentTransfers = 2
            $0.totalTimeout = .seconds(600)
        }

        harness.client.submit((1...5).map { OutboundRequest(tag: $0, url: silent.url, body: [], headers: []) })
        _ = try await silent.waitForRequests(count: 2)
        #expect(harness.client.inFlight == 5)
        harness.client.abortAll()
        let outcomes = try await harness.collect(5)

        #expect(outcomes.keys.sorted() == [1, 2, 3, 4, 5])
        #expect(outcomes.values.allSatisfy { $0.failure == .aborted })
        #expect(harness.client.inFlight == 0)

        let receiver = try await TestReceiver.start()
        #expect(try await harness.deliver(receiver.url).isSuccess)
        await harness.stop()
        try await silent.shutdown()
        try await receiver.shutdown()
    }

    @Test func shutdownAbortsInFlightAndFinishesTheStream() async throws {
        let silent = try await TestReceiver.start { _ in .noAnswer }
        let harness = try Harness.start { $0.totalTimeout = .seconds(600) }

        harness.client.submit((1...3).map { OutboundRequest(tag: $0, url: silent.url, body: [], headers: []) })
        _ = try await silent.waitForRequests(count: 3)
        harness.client.shutdown()
        let client = harness.client
        let completed = try await withDeadline(.seconds(10)) {
            var completed: [CompletedRequest] = []
            for await batch in client.completions { completed += batch }
            return completed
        }
        await harness.loop.value

        #expect(completed.map(\.tag).sorted() == [1, 2, 3])
        #expect(completed.allSatisfy { $0.outcome.failure == .aborted })
        harness.client.submit([OutboundRequest(tag: 9, url: silent.url, body: [], headers: [])])
        #expect(harness.client.inFlight == 0)
        try await silent.shutdown()
    }

    @Test func shutdownBeforeRunAbortsQueuedRequests() async throws {
        let client = try DeliveryClient(
            configuration: .init(userAgent: "qr3-webhookd/test"), logger: Logger(label: "delivery-test"))
        client.submit([OutboundRequest(tag: 1, url: "http://example.com/", body: [], headers: [])])

        client.shutdown()
        await client.run()

        var completed: [CompletedRequest] = []
        for await batch in client.completions { completed += batch }
        #expect(completed.map(\.tag) == [1])
        #expect(completed.first?.outcome.failure == .aborted)
    }

    @Test func cancellingRunShutsDown() async throws {
        let harness = try Harness.start()
        harness.loop.cancel()
        await harness.loop.value
        var batches = 0
        for await _ in harness.client.completions { batches += 1 }
        #expect(batches == 0)
    }

    @Test func invalidConfigurationIsRefused() {
        var configuration = DeliveryClient.Configuration(userAgent: "qr3-webhookd/test")
        configuration.maximumConcurrentTransfers = 0
        #expect(throws: DeliveryClientError.self) {
            try DeliveryClient(configuration: configuration, logger: Logger(label: "delivery-test"))
        }
    }
}
