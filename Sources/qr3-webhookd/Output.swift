import Foundation
import WebhookCore
import WebhookStorage

/// Printing helpers shared by the commands.
enum Output {
    /// Pretty JSON with keys in declaration order and `/` unescaped.
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Left-aligned columns separated by two spaces.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// A delivery attempt as `deliveries --json` prints it (the public API's fields).
struct DeliveryRepresentation: Codable {
    var id: String
    var event_id: String
    var event_type: String
    var status: String
    var status_code: Int?
    var response_time_ms: Int
    var attempt: Int
    var failure_class: String?
    var response_excerpt: String
    var next_retry_at: String?
    var created_at: String

    init(_ attempt: DeliveryAttempt) {
        id = attempt.id
        event_id = attempt.eventID
        event_type = attempt.eventType
        status = attempt.succeeded ? "success" : "failed"
        status_code = attempt.statusCode
        response_time_ms = attempt.responseTimeMs
        self.attempt = attempt.attempt
        failure_class = attempt.failure?.rawValue
        response_excerpt = attempt.responseExcerpt
        next_retry_at = attempt.nextRetryAt?.iso8601
        created_at = attempt.createdAt.iso8601
    }
}
