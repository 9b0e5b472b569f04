import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A plain `GET`, for scraping the daemon's metrics listener.
enum HTTPGet {
    /// The status, `Content-Type` and body of `GET url`.
    static func fetch(_ url: String) async throws -> (status: Int, contentType: String?, body: String) {
        let (body, response) = try await URLSession.shared.data(from: URL(string: url)!)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, http?.value(forHTTPHeaderField: "Content-Type"), String(decoding: body, as: UTF8.self))
    }
}
