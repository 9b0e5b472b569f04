import Foundation
import Testing
import WebhookTestSupport

/// The public API fuzzed with schemathesis against the real daemon (`scripts/fuzz-api`): no
/// answer is a 5xx or off the OpenAPI document, malformed, huge and wrongly typed bodies get a
/// 4xx, and good outbox rows are delivered all the while.
@Suite(.timeLimit(.minutes(6))) struct APIFuzzTests {
    /// The repository's root, where `scripts/fuzz-api` and `openapi/openapi.json` are.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func schemathesisFindsNothingAndGoodEventsKeepFlowing() async throws {
        let directory = try TemporaryDirectory(prefix: "qr3-fuzz-test")
        defer { directory.remove() }
        let environment = ProcessInfo.processInfo.environment
        // Scaled for `make test`; QR3_FUZZ_MAX_EXAMPLES and QR3_FUZZ_MAX_TIME run it longer.
        let maxExamples = environment["QR3_FUZZ_MAX_EXAMPLES"] ?? "50"
        let maxTime = environment["QR3_FUZZ_MAX_TIME"] ?? "90"
        let reportPath = directory.file("fuzz-report.json")
        var arguments = [
            "python3", Self.root.appendingPathComponent("scripts/fuzz-api").path,
            "--binary", DaemonProcess.executablePath,
            "--max-examples", maxExamples, "--max-time", maxTime, "--report", reportPath,
        ]
        if let seed = environment["QR3_FUZZ_SEED"] { arguments += ["--seed", seed] }
        let result = try await runToolInBackground("/usr/bin/env", arguments)
        let output = result.stdout + result.stderr
        #expect(
            !output.contains("schemathesis is not installed"),
            "schemathesis is missing: scripts/bootstrap installs it (python3 -m pip install schemathesis)"
        )
        #expect(result.status == 0, "scripts/fuzz-api failed (\(result.status)):\n\(output.suffix(6000))")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportPath)))
        let figures = try #require(report as? [String: Any], "no figures in \(reportPath)")
        print("APIFuzzTests figures: \(figures)")
        #expect((figures["operations"] as? Int ?? 0) >= 12, "fewer operations fuzzed than the API has")
        #expect((figures["good_events"] as? Int ?? 0) > 0, "no good events were produced while fuzzing")
        #expect(figures["good_events"] as? Int == figures["good_delivered"] as? Int)
    }
}
