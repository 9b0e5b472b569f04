import Testing
import WebhookCore

@Suite struct TimestampTests {
    @Test func formatsWithMillisecondsAndZ() {
        #expect(Timestamp(milliseconds: 0).iso8601 == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(milliseconds: 1_773_568_800_007).iso8601 == "2026-03-15T10:00:00.007Z")
    }

    @Test func parsesWhatItFormats() {
        for value: Int64 in [0, 1, 999, 1_773_568_800_007, 4_102_444_799_999] {
            let time = Timestamp(milliseconds: value)
            #expect(Timestamp(iso8601: time.iso8601) == time)
        }
        #expect(Timestamp(iso8601: "2026-03-15T10:00:00Z")?.milliseconds == 1_773_568_800_000)
        #expect(Timestamp(iso8601: "2026-03-15 10:00:00") == nil)
        #expect(Timestamp(iso8601: "2026-13-15T10:00:00.000Z") == nil)
    }

    @Test func identifiersHavePrefixAndLength() {
        let id = Identifier.make(Identifier.webhook)
        #expect(id.hasPrefix("wh_"))
        #expect(id.count == 23)
        #expect(Identifier.make(Identifier.webhook) != id)
    }
}
