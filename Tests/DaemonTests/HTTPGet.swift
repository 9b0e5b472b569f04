import Foundation
import WebhookTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A plain `GET`, for scraping the daemon's metrics listener.
enum HTTPGet {
    /// The status, `Content-Type` and body of `GET url`.
    static func fetch(_ url: String) async throws -> (status: Int, contentType: String?, body: String) {
        let (body, response) = try await URLSession.shared.data(from: URL(string: url)!)
        let http = response as? HTTPURLResponse
        return (
            http?.statusCode ?? 0, http?.value(forHTTPHeaderField: "Content-Type"),
            String(decoding: body, as: UTF8.self)
        )
    }
}

extension DaemonProcess {
    /// The `address=` of the daemon's log line `message` ("API listening", "Metrics listening"), once logged.
    func loggedAddress(_ message: String) async throws -> String {
        try await waitForLog(message)
        guard let line = log.split(separator: "\n").first(where: { $0.contains(message) }),
            let field = line.split(separator: " ").first(where: { $0.hasPrefix("address=") })
        else { throw TestFailure("no address in the log line \"\(message)\":\n\(log)") }
        return String(field.dropFirst("address=".count))
    }
}
