import CQR3Curl

/// A `curl_slist` of request headers built in reusable buffers: no allocation per request
/// once the buffers have grown to fit.
///
/// libcurl only reads the list, so the nodes and texts live here and must stay untouched
/// until the transfer that uses them has been removed from the multi handle.
struct HeaderList: ~Copyable {
    private var nodes: UnsafeMutablePointer<curl_slist>
    private var nodeCapacity: Int
    private var text: UnsafeMutablePointer<CChar>
    private var textCapacity: Int

    init() {
        nodeCapacity = 8
        nodes = .allocate(capacity: nodeCapacity)
        textCapacity = 512
        text = .allocate(capacity: textCapacity)
    }

    deinit {
        nodes.deallocate()
        text.deallocate()
    }

    /// Fills the list with `fixed` followed by `extra` and returns its head, or `nil` when a
    /// header in `extra` contains a line break or NUL (it would let one header smuggle others in).
    mutating func build(fixed: [String], extra: [String]) -> UnsafeMutablePointer<curl_slist>? {
        let count = fixed.count + extra.count
        var textLength = 0
        for header in fixed { textLength += header.utf8.count + 1 }
        for header in extra { textLength += header.utf8.count + 1 }
        if count > nodeCapacity {
            nodes.deallocate()
            nodeCapacity = max(count, nodeCapacity * 2)
            nodes = .allocate(capacity: nodeCapacity)
        }
        if textLength > textCapacity {
            text.deallocate()
            textCapacity = max(textLength, textCapacity * 2)
            text = .allocate(capacity: textCapacity)
        }
        var offset = 0
        for (index, header) in fixed.enumerated() {
            _ = place(header, node: index, count: count, offset: &offset)
        }
        for (index, header) in extra.enumerated() {
            guard place(header, node: fixed.count + index, count: count, offset: &offset) else { return nil }
        }
        return count == 0 ? nil : nodes
    }

    /// Copies `header` and links its node; false when it contains a line break or NUL.
    private func place(_ header: String, node index: Int, count: Int, offset: inout Int) -> Bool {
        var header = header
        let start = text + offset
        let safe = header.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return true }
            UnsafeMutableRawPointer(start).copyMemory(from: base, byteCount: bytes.count)
            return !bytes.contains { $0 == 0x0A || $0 == 0x0D || $0 == 0 }
        }
        let length = header.utf8.count
        start[length] = 0
        offset += length + 1
        let next = index + 1 < count ? nodes + index + 1 : nil
        (nodes + index).initialize(to: curl_slist(data: start, next: next))
        return safe
    }
}
