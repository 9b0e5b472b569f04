import Logging
import Testing
import WebhookCore
import WebhookDelivery
import WebhookTestSupport

/// A delivery client whose loop runs in a task, with helpers to submit and collect in tests.
struct Harness {
    let client: DeliveryClient
    let loop: Task<Void, Never>

    /// Starts a client allowing loopback (unless `policy` says otherwise).
    ///
    /// The timeouts are generous: on a loaded machine a receiver that closes or resets at once
    /// can take seconds to be heard, and must not read as a timeout. The tests about timeouts
    /// set their own, short ones. Under `collect`'s 30 s, so a timeout is still reported.
    static func start(
        policy: AddressPolicy = AddressPolicy(allowing: [try! CIDR("127.0.0.0/8"), try! CIDR("::1/128")]),
        _ configure: (inout DeliveryClient.Configuration) -> Void = { _ in }
    ) throws -> Harness {
        var configuration = DeliveryClient.Configuration(userAgent: "qr3-webhookd/test")
        configuration.addressPolicy = policy
        configuration.connectTimeout = .seconds(10)
        configuration.totalTimeout = .seconds(20)
        configure(&configuration)
        let client = try DeliveryClient(configuration: configuration, logger: Logger(label: "delivery-test"))
        return Harness(client: client, loop: Task { await client.run() })
    }

    /// Submits one POST per URL (tags 1, 2, ...) and returns the outcomes by tag.
    func deliver(
        _ urls: [String], body: String = #"{"id":"evt_1"}"#, headers: [String] = []
    ) async throws -> [UInt64: DeliveryOutcome] {
        let requests = urls.enumerated().map { index, url in
            OutboundRequest(tag: UInt64(index + 1), url: url, body: Array(body.utf8), headers: headers)
        }
        client.submit(requests)
        return try await collect(requests.count)
    }

    /// Sends one POST to `url` and returns its outcome.
    func deliver(_ url: String, body: String = #"{"id":"evt_1"}"#, headers: [String] = []) async throws
        -> DeliveryOutcome
    {
        try #require(try await deliver([url], body: body, headers: headers)[1])
    }

    /// Waits for `count` completions (bounded by `timeout`) and returns them by tag.
    func collect(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [UInt64: DeliveryOutcome] {
        let client = self.client
        let completed = try await withDeadline(timeout) {
            var completed: [CompletedRequest] = []
            for await batch in client.completions {
                completed += batch
                if completed.count >= count { break }
            }
            return completed
        }
        #expect(completed.count == count)
        return Dictionary(completed.map { ($0.tag, $0.outcome) }, uniquingKeysWith: { first, _ in first })
    }

    /// Shuts the client down and waits for its loop to end.
    func stop() async {
        client.shutdown()
        await loop.value
    }
}

/// Why a bounded wait in a test gave up.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "gave up after \(limit)" }
}

/// Runs `operation`, throwing `DeadlineExceeded` if it takes longer than `limit`.
func withDeadline<T: Sendable>(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DeadlineExceeded(limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
