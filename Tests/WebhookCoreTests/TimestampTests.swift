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

@Suite struct DerivedEventIDTests {
    let row = OutboxRow(
        sequence: 42, eventID: nil, workspaceID: "ws_1", type: "qr.scanned", data: Array(#"{"a":1}"#.utf8),
        createdAt: Timestamp(milliseconds: 1_773_568_800_000)
    )

    @Test func theSameRowGetsTheSameIDEveryTime() throws {
        let validator = OutboxValidator(eventIDKey: "00112233445566778899aabbccddeeff")
        let first = try validator.validate(row).get().id
        #expect(first == (try validator.validate(row).get().id))
        #expect(first.hasPrefix("evt_"))
        #expect(first.count == 24)
    }

    @Test func anyDifferenceGivesAnotherID() throws {
        let validator = OutboxValidator(eventIDKey: "00112233445566778899aabbccddeeff")
        let id = try validator.validate(row).get().id
        var other = row
        other.sequence = 43
        #expect(try validator.validate(other).get().id != id)
        other = row
        other.data = Array(#"{"a":2}"#.utf8)
        #expect(try validator.validate(other).get().id != id)
        other = row
        other.createdAt = row.createdAt.adding(milliseconds: 1)
        #expect(try validator.validate(other).get().id != id)
        let otherDatabase = OutboxValidator(eventIDKey: "ffeeddccbbaa99887766554433221100")
        #expect(try otherDatabase.validate(row).get().id != id)
    }

    @Test func aProducersOwnIDIsKept() throws {
        var given = row
        given.eventID = "evt_mine"
        #expect(try OutboxValidator().validate(given).get().id == "evt_mine")
    }

    @Test func idsSortByTime() throws {
        let validator = OutboxValidator(eventIDKey: "ab")
        var later = row
        later.createdAt = row.createdAt.adding(seconds: 1)
        #expect(try validator.validate(row).get().id < (try validator.validate(later).get().id))
    }
}
