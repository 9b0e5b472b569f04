import Testing

@testable import WebhookDelivery

@Suite struct ResponseExcerptTests {
    @Test func keepsShortTextWhole() {
        #expect(ResponseExcerpt.make(Array("ok".utf8), limit: 512) == "ok")
    }

    @Test func dropsACharacterCutInHalf() {
        let bytes = Array("aé€😀".utf8)  // 1 + 2 + 3 + 4 bytes
        #expect(ResponseExcerpt.make(bytes, limit: 2) == "a")
        #expect(ResponseExcerpt.make(bytes, limit: 3) == "aé")
        #expect(ResponseExcerpt.make(bytes, limit: 5) == "aé")
        #expect(ResponseExcerpt.make(bytes, limit: 6) == "aé€")
        #expect(ResponseExcerpt.make(bytes, limit: 9) == "aé€")
        #expect(ResponseExcerpt.make(bytes, limit: 10) == "aé€😀")
    }

    @Test func binaryStaysWithinTheLimit() {
        let text = ResponseExcerpt.make([UInt8](repeating: 0xFF, count: 100), limit: 10)
        #expect(text.utf8.count <= 10)
        #expect(text.unicodeScalars.allSatisfy { $0 == "\u{FFFD}" })
    }

    @Test func zeroLimitIsEmpty() {
        #expect(ResponseExcerpt.make(Array("abc".utf8), limit: 0) == "")
    }
}
