import Foundation
import WebhookCore
import WebhookStorage

/// Printing helpers shared by the commands.
enum Output {
    /// A JSON array of objects already written (in their documented key order).
    static func jsonArray(_ objects: [String]) -> String {
        "[" + objects.joined(separator: ",") + "]"
    }

    /// Pretty JSON with `/` unescaped. Foundation's encoder on Linux does not keep declaration order
    /// (keys come out in a different order in each process); absent values are left out. The API
    /// writes its documented shapes in order with the representations' `.json` instead.
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
