import Foundation
import Testing
import WebhookTestSupport

/// A webhook whose host name takes seconds to resolve (the system resolver waiting on a DNS server
/// that does not answer): its attempt ends at the connect timeout, and every other webhook's
/// requests go on meanwhile. The daemon runs with a preloaded `getaddrinfo` that takes five
/// seconds to fail for names under `slow.test`, built from C here with the toolchain's `clang`.
@Suite(.timeLimit(.minutes(2))) struct SlowResolverTests {
    static let resolverSeconds = 5

    static let slowResolver = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <netdb.h>
        #include <string.h>
        #include <unistd.h>

        int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                        struct addrinfo **result) {
            static const char suffix[] = ".slow.test";
            size_t length = node ? strlen(node) : 0;
            if (length >= sizeof suffix - 1 && strcmp(node + length - (sizeof suffix - 1), suffix) == 0) {
                sleep(\(resolverSeconds));
                return EAI_NONAME;
            }
            int (*next)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
                dlsym(RTLD_NEXT, "getaddrinfo");
            return next(node, service, hints, result);
        }
        """

    @Test func aHostThatResolvesSlowlyHoldsUpNoOtherDelivery() async throws {
        // Every failed attempt is retried at once, so the slow webhook always has one in flight.
        let harness = try Harness(retrySchedule: "0,0,0,0,0,0,0,0,0")
        defer { harness.remove() }
        let source = harness.directory.file("slow-resolver.c")
        let library = harness.directory.file("slow-resolver.so")
        try Self.slowResolver.write(toFile: source, atomically: true, encoding: .utf8)
        let compiled = try await runToolInBackground(
            "/usr/bin/env", ["clang", "-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"])
        try #require(compiled.status == 0, "clang: \(compiled.stderr)")

        let receiver = try await TestReceiver.start()
        defer { Task { try? await receiver.shutdown() } }
        let slow = try harness.createWebhook(url: "http://hooks.slow.test/in", workspace: "ws_slow")
        _ = try harness.createWebhook(url: receiver.url)
        let daemon = try DaemonProcess(
            arguments: harness.baseArguments + ["--connect-timeout", "0.5", "--request-timeout", "1"],
            environment: ["LD_PRELOAD": library])
        defer { daemon.stop() }
        try await daemon.waitForLog("qr3-webhookd started")

        try harness.insert([("ws_slow", "qr.scanned", "{}")])
        func slowAttempts() throws -> Int {
            try harness.count("SELECT COUNT(*) FROM attempts WHERE webhook_id = ?", [slow])
        }
        try await harness.eventually("the slow webhook's first attempt recorded") { try slowAttempts() >= 1 }
        // While the slow webhook's retries resolve, good events go out one after the other, each
        // inserted once the one before arrived, for as long as three more slow attempts take.
        var latencies: [Duration] = []
        let deadline = ContinuousClock.now + .seconds(40)
        while try slowAttempts() < 4, latencies.count < 2000, ContinuousClock.now < deadline {
            let inserted = ContinuousClock.now
            try harness.insert([("ws_test", "qr.scanned", "{}")])
            let arrived = try await receiver.waitForRequests(count: latencies.count + 1, timeout: .seconds(20))
            latencies.append(arrived[latencies.count].receivedAt - inserted)
        }
        #expect(try slowAttempts() >= 4, "the slow webhook's retries went on")
        // Without QUICK_EXIT libcurl waits for the resolver when the transfer times out, holding up
        // every transfer for the resolver's five seconds.
        #expect(
            latencies.allSatisfy { $0 < .milliseconds(2500) },
            "good events waited \(latencies.max().map { "\($0)" } ?? "-") at most, behind a resolving name")
        let (times, failures) = try await harness.producer().read { db in
            (
                try Int.fetchAll(
                    db, sql: "SELECT response_time_ms FROM attempts WHERE webhook_id = ?", arguments: [slow]),
                try String.fetchAll(
                    db, sql: "SELECT DISTINCT failure_class FROM attempts WHERE webhook_id = ?", arguments: [slow])
            )
        }
        #expect(times.allSatisfy { $0 < 2500 }, "the slow attempts ended at the connect timeout: \(times) ms")
        #expect(Set(failures).isSubset(of: ["dns", "timeout"]), "failure classes: \(failures)")
    }
}
