import CQR3Curl
import Glibc

/// The sockets libcurl asked the loop to watch, plus the client's wakeup descriptor, as one
/// `pollfd` array: a single `poll` waits for all of them.
///
/// libcurl reports its interest through the multi socket callback (`watch`); the loop then
/// hands each ready socket to `curl_multi_socket_action`, so libcurl only touches transfers
/// whose sockets are ready instead of checking every running transfer on each turn.
struct PollSet {
    /// A socket `poll` found ready, with the `CURL_CSELECT_*` bits to tell libcurl.
    struct Ready {
        var socket: curl_socket_t
        var events: Int32
    }

    /// Slot 0 is the wakeup descriptor; the rest are libcurl's sockets.
    private var descriptors: [pollfd]
    /// The slot of each watched socket, by descriptor number; -1 when not watched.
    private var slots: [Int] = []

    /// A set watching only `wakeup`, which the client's `wakeup()` makes readable.
    init(wakeup: Int32) {
        descriptors = [pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)]
    }

    /// Applies libcurl's wish for `socket`: `CURL_POLL_IN`, `_OUT`, `_INOUT` or `_REMOVE`.
    mutating func watch(_ socket: curl_socket_t, what: Int32) {
        let descriptor = Int(socket)
        guard descriptor >= 0 else { return }
        if descriptor >= slots.count {
            guard what != CURL_POLL_REMOVE else { return }
            slots.append(contentsOf: repeatElement(-1, count: descriptor + 1 - slots.count))
        }
        let slot = slots[descriptor]
        guard what != CURL_POLL_REMOVE else {
            guard slot >= 0 else { return }
            let last = descriptors.removeLast()
            if slot < descriptors.count {
                descriptors[slot] = last
                slots[Int(last.fd)] = slot
            }
            slots[descriptor] = -1
            return
        }
        var events: Int16 = 0
        if what & CURL_POLL_IN != 0 { events |= Int16(POLLIN) }
        if what & CURL_POLL_OUT != 0 { events |= Int16(POLLOUT) }
        if slot >= 0 {
            descriptors[slot].events = events
        } else {
            slots[descriptor] = descriptors.count
            descriptors.append(pollfd(fd: socket, events: events, revents: 0))
        }
    }

    /// Waits up to `timeoutMs` and appends the ready sockets to `ready`; a pending wakeup is cleared.
    mutating func wait(timeoutMs: Int32, ready: inout [Ready]) {
        let count = descriptors.withUnsafeMutableBufferPointer { buffer in
            poll(buffer.baseAddress, nfds_t(buffer.count), timeoutMs)
        }
        guard count > 0 else { return }
        for index in descriptors.indices {
            let revents = Int32(descriptors[index].revents)
            guard revents != 0 else { continue }
            descriptors[index].revents = 0
            if index == 0 {
                var value: UInt64 = 0
                _ = read(descriptors[0].fd, &value, MemoryLayout<UInt64>.size)
                continue
            }
            var events: Int32 = 0
            if revents & Int32(POLLIN | POLLHUP) != 0 { events |= CURL_CSELECT_IN }
            if revents & Int32(POLLOUT) != 0 { events |= CURL_CSELECT_OUT }
            if revents & Int32(POLLERR | POLLHUP | POLLNVAL) != 0 { events |= CURL_CSELECT_ERR }
            ready.append(Ready(socket: descriptors[index].fd, events: events))
        }
    }
}
