extension CanonicalJSON.Parser {
    /// Closes the object on top of the stack, putting its members in JavaScript's property order if needed.
    ///
    /// JavaScript lists array-index keys first in ascending numeric order, then the other keys in the order they
    /// were created; a repeated key keeps the position of its first occurrence and takes its last value.
    mutating func closeObject() {
        let object = containers.removeLast()
        let memberRange = object.firstMember..<members.count
        if memberRange.count > 1, object.hasArrayIndexKey || hasDuplicateKeys(memberRange) {
            reorderMembers(memberRange, bodyStart: object.start + 1)
        }
        members.removeSubrange(memberRange)
        output.append(UInt8(ascii: "}"))
    }

    /// Whether two members in `range` have the same key: pairwise for small objects, hashed for large ones.
    private mutating func hasDuplicateKeys(_ range: Range<Int>) -> Bool {
        var slots: [Int] = []
        swap(&slots, &hashSlots)
        defer { swap(&slots, &hashSlots) }
        return output.withUnsafeBufferPointer { bytes in
            func key(_ index: Int) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(rebasing: bytes[members[index].start..<members[index].keyEnd])
            }
            if range.count <= 16 {
                for index in range.dropFirst() {
                    let candidate = key(index)
                    for earlier in range.lowerBound..<index where key(earlier).elementsEqual(candidate) {
                        return true
                    }
                }
                return false
            }
            var size = 32
            while size < range.count * 2 { size *= 2 }
            if slots.count < size {
                slots = Array(repeating: 0, count: size)
            } else {
                slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            }
            let mask = size - 1
            for index in range {
                let candidate = key(index)
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in candidate { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                var slot = Int(truncatingIfNeeded: hash) & mask
                while slots[slot] != 0 {
                    if key(slots[slot] - 1).elementsEqual(candidate) { return true }
                    slot = (slot + 1) & mask
                }
                slots[slot] = index + 1
            }
            return false
        }
    }

    /// Rewrites the members in `range` in JavaScript's property order, one member per distinct key.
    private mutating func reorderMembers(_ range: Range<Int>, bodyStart: Int) {
        var slotOfKey: [ArraySlice<UInt8>: Int] = [:]
        var latest: [Int] = []
        for index in range {
            let key = output[members[index].start..<members[index].keyEnd]
            if let slot = slotOfKey[key] {
                latest[slot] = index
            } else {
                slotOfKey[key] = latest.count
                latest.append(index)
            }
        }
        slotOfKey = [:]
        let notAnIndex = Member.notAnIndex
        let indexed = latest.filter { members[$0].arrayIndex != notAnIndex }
            .sorted { members[$0].arrayIndex < members[$1].arrayIndex }
        let named = latest.filter { members[$0].arrayIndex == notAnIndex }
        let body = Array(output[bodyStart...])
        output.removeSubrange(bodyStart...)
        for (position, index) in (indexed + named).enumerated() {
            if position > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: body[(members[index].start - bodyStart)..<(members[index].end - bodyStart)])
        }
    }
}
