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

    @Test func idsFromThePooledRandomnessStayDistinctAcrossRefills() async {
        // 4 threads x 5,000 ids x 2 words each: the 512-word pool is refilled about 40 times,
        // and taken from concurrently.
        let perTask = 5_000
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    (0..<perTask).map { _ in
                        Identifier.makeOrdered(Identifier.delivery, at: Timestamp(milliseconds: 1_773_568_800_000))
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(ids.count == 4 * perTask)
        #expect(Set(ids).count == ids.count)
        let base62 = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        #expect(ids.allSatisfy { $0.count == 24 && $0.dropFirst(4).allSatisfy(base62.contains) })
        // The random part is not stuck: every alphabet character shows up in the last position.
        #expect(Set(ids.map { $0.last! }).count == 62)
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
