import CQR3Curl
import Glibc
import WebhookCore

/// One reusable libcurl easy handle and the buffers of the request it is sending.
///
/// Confined to the transfer-loop thread: created, prepared, read and recycled there, and
/// libcurl calls its callbacks from `curl_multi_socket_action` on that same thread. libcurl holds
/// unretained pointers to it (write, open-socket and private data), so the loop keeps every
/// `CurlEasy` alive until its handle is cleaned up.
final class CurlEasy {
    /// libcurl's receive buffer of each handle, in bytes (`CURLOPT_BUFFERSIZE`, libcurl's least).
    static let receiveBufferBytes = 1024
    /// libcurl's upload buffer of each handle, in bytes (`CURLOPT_UPLOAD_BUFFERSIZE`, libcurl's
    /// least). libcurl 7.x copies an HTTPS request into it before sending; the default is 64 KiB.
    static let uploadBufferBytes = 16 * 1024

    /// The `CURL *`.
    let handle: UnsafeMutableRawPointer
    /// The tag of the request being sent.
    private(set) var tag: UInt64 = 0
    /// When the current request was handed to libcurl.
    private(set) var startedAt = ContinuousClock.now
    /// Position in the loop's list of running transfers, -1 when idle.
    var activeIndex = -1

    private let settings: EasySettings
    /// The loop's epoll set, told about each socket this handle opens.
    private let epoll: UnsafeMutablePointer<cqr3_epoll_set>
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var body: UnsafeMutableRawPointer
    private var bodyCapacity: Int
    private var headers = HeaderList()
    private var excerpt: [UInt8] = []
    private var receivedBytes = 0
    private var stoppedForSize = false
    private var refusedAddresses: [String] = []
    /// The last remote address made into a string, with the address and port it was made from:
    /// a kept-alive connection answers many requests from the same one.
    private var lastRemote: (ip: [CChar], port: Int, text: String)?

    /// Creates an easy handle with every option that does not change between requests; the
    /// sockets it opens are registered with `epoll`, which must outlive the handle.
    init(settings: EasySettings, epoll: UnsafeMutablePointer<cqr3_epoll_set>) throws(DeliveryClientError) {
        guard let handle = curl_easy_init() else { throw .curl("curl_easy_init returned no handle") }
        self.handle = handle
        self.settings = settings
        self.epoll = epoll
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        // Grown to fit the first request; the excerpt grows as an answer arrives (most have no body).
        bodyCapacity = 256
        body = .allocate(byteCount: bodyCapacity, alignment: 1)

        let context = Unmanaged.passUnretained(self).toOpaque()
        try check(cqr3_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try check(cqr3_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
        try check(cqr3_easy_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS_STR")
        try check(cqr3_easy_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"), "REDIR_PROTOCOLS_STR")
        // An empty proxy turns off http_proxy and friends: the address policy must see the real peer.
        try check(cqr3_easy_setopt_string(handle, CURLOPT_PROXY, ""), "PROXY")
        try check(
            cqr3_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, settings.connectTimeoutMs), "CONNECTTIMEOUT_MS")
        try check(cqr3_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, settings.totalTimeoutMs), "TIMEOUT_MS")
        // A transfer that times out while its name is still being resolved leaves the resolver
        // thread to finish on its own. Without this, libcurl joins that thread when the transfer
        // ends, and the whole delivery thread waits for the system resolver (seconds, for a name
        // whose DNS server does not answer) with every other transfer stalled behind it.
        try check(cqr3_easy_setopt_long(handle, CURLOPT_QUICK_EXIT, 1), "QUICK_EXIT")
        // The receive buffer every handle keeps (libcurl's default is 16 KiB): answers to webhooks
        // are short, and with thousands of transfers in flight and as many handles pooled, the
        // default alone would be 16 KiB a request (64 MiB at 4096). A longer answer is read in
        // more pieces, up to `maximumResponseBytes` as before.
        try check(cqr3_easy_setopt_long(handle, CURLOPT_BUFFERSIZE, CurlEasy.receiveBufferBytes), "BUFFERSIZE")
        try check(
            cqr3_easy_setopt_long(handle, CURLOPT_UPLOAD_BUFFERSIZE, CurlEasy.uploadBufferBytes), "UPLOAD_BUFFERSIZE")
        try check(cqr3_easy_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1), "TCP_KEEPALIVE")
        try check(cqr3_easy_setopt_long(handle, CURLOPT_TCP_KEEPIDLE, 60), "TCP_KEEPIDLE")
        try check(cqr3_easy_setopt_long(handle, CURLOPT_TCP_KEEPINTVL, 30), "TCP_KEEPINTVL")
        try check(cqr3_easy_setopt_string(handle, CURLOPT_USERAGENT, settings.userAgent), "USERAGENT")
        try check(cqr3_easy_setopt_long(handle, CURLOPT_POST, 1), "POST")
        try check(cqr3_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), "ERRORBUFFER")
        try check(cqr3_easy_setopt_pointer(handle, CURLOPT_PRIVATE, context), "PRIVATE")
        try check(cqr3_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context), "WRITEDATA")
        try check(
            cqr3_easy_setopt_write_function(handle) { data, size, count, context in
                let easy = Unmanaged<CurlEasy>.fromOpaque(context!).takeUnretainedValue()
                let length = size * count
                return easy.receive(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
            }, "WRITEFUNCTION")
        try check(cqr3_easy_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, context), "OPENSOCKETDATA")
        try check(
            cqr3_easy_setopt_opensocket_function(handle) { context, _, address in
                let easy = Unmanaged<CurlEasy>.fromOpaque(context!).takeUnretainedValue()
                return easy.openSocket(address!)
            }, "OPENSOCKETFUNCTION")
        try check(cqr3_easy_use_epoll_close(handle, epoll), "CLOSESOCKETFUNCTION")
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
        body.deallocate()
    }

    /// The easy handle's `CurlEasy`, from `CURLOPT_PRIVATE`.
    static func owning(_ handle: UnsafeMutableRawPointer) -> CurlEasy {
        var context: UnsafeMutableRawPointer?
        cqr3_easy_getinfo_pointer(handle, CURLINFO_PRIVATE, &context)
        return Unmanaged<CurlEasy>.fromOpaque(context!).takeUnretainedValue()
    }

    /// Points the handle at `request`; returns a reason when the request cannot be sent as given.
    func prepare(_ request: OutboundRequest) -> String? {
        tag = request.tag
        excerpt.removeAll(keepingCapacity: true)
        receivedBytes = 0
        stoppedForSize = false
        refusedAddresses.removeAll(keepingCapacity: true)
        errorBuffer[0] = 0
        startedAt = .now

        guard !request.url.utf8.contains(0) else { return "The URL contains a NUL byte." }
        guard let headerList = headers.build(fixed: settings.fixedHeaders, extra: request.headers) else {
            return "A request header contains a line break or NUL byte; the request was not sent."
        }
        if request.body.count > bodyCapacity {
            body.deallocate()
            bodyCapacity = max(request.body.count, bodyCapacity * 2)
            body = .allocate(byteCount: bodyCapacity, alignment: 1)
        }
        request.body.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { body.copyMemory(from: base, byteCount: bytes.count) }
        }
        cqr3_easy_setopt_string(handle, CURLOPT_URL, request.url)
        cqr3_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)
        cqr3_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
        cqr3_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, body)
        return nil
    }

    /// Whether the host name had been resolved (or was a literal address) when the transfer ended.
    private var nameResolved: Bool {
        var lookup: curl_off_t = 0
        cqr3_easy_getinfo_off_t(handle, CURLINFO_NAMELOOKUP_TIME_T, &lookup)
        var primaryIP: UnsafeMutablePointer<CChar>?
        cqr3_easy_getinfo_string(handle, CURLINFO_PRIMARY_IP, &primaryIP)
        return lookup > 0 || (primaryIP.map { $0[0] != 0 } ?? false)
    }

    /// libcurl's timings of the finished transfer. A step libcurl reports as 0 was not reached,
    /// unless a later one was (a reused connection looks up and connects in no time).
    private var timings: TransferTimings {
        func info(_ item: CURLINFO) -> Int64 {
            var value: curl_off_t = 0
            cqr3_easy_getinfo_off_t(handle, item, &value)
            return Int64(value)
        }
        let firstByte = info(CURLINFO_STARTTRANSFER_TIME_T)
        let tls = info(CURLINFO_APPCONNECT_TIME_T)
        let connect = info(CURLINFO_CONNECT_TIME_T)
        let lookup = info(CURLINFO_NAMELOOKUP_TIME_T)
        let connected = connect > 0 || tls > 0 || firstByte > 0
        return TransferTimings(
            nameLookup: lookup > 0 || connected ? lookup : nil,
            connect: connected ? connect : nil,
            tls: tls > 0 ? tls : nil,
            firstByte: firstByte > 0 ? firstByte : nil,
            total: info(CURLINFO_TOTAL_TIME_T)
        )
    }

    /// The address and port the transfer connected to, `[v6]:port` for IPv6; nil when it did not.
    private var remoteAddress: String? {
        var ip: UnsafeMutablePointer<CChar>?
        cqr3_easy_getinfo_string(handle, CURLINFO_PRIMARY_IP, &ip)
        guard let ip, ip[0] != 0 else { return nil }
        var port = 0
        cqr3_easy_getinfo_long(handle, CURLINFO_PRIMARY_PORT, &port)
        if let lastRemote, lastRemote.port == port,
            lastRemote.ip.withUnsafeBufferPointer({ strcmp($0.baseAddress!, ip) == 0 })
        {
            return lastRemote.text
        }
        let address = String(cString: ip)
        let host = address.contains(":") ? "[" + address + "]" : address
        let text = port > 0 ? host + ":" + String(port) : host
        lastRemote = (Array(UnsafeBufferPointer(start: ip, count: strlen(ip) + 1)), port, text)
        return text
    }

    /// What the finished transfer came to, from libcurl's result and what the callbacks saw.
    func outcome(_ code: CURLcode) -> DeliveryOutcome {
        var outcome = result(code)
        outcome.timings = timings
        outcome.remoteAddress = remoteAddress
        return outcome
    }

    private func result(_ code: CURLcode) -> DeliveryOutcome {
        var status = 0
        cqr3_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var totalMicroseconds: curl_off_t = 0
        cqr3_easy_getinfo_off_t(handle, CURLINFO_TOTAL_TIME_T, &totalMicroseconds)
        var retryAfter: curl_off_t = 0
        cqr3_easy_getinfo_off_t(handle, CURLINFO_RETRY_AFTER, &retryAfter)
        let milliseconds = Int(totalMicroseconds / 1000)
        let retryAfterSeconds = retryAfter > 0 ? Int(retryAfter) : nil

        // A 2xx whose body ran past the cap is a success all the same: the receiver accepted the
        // event before it wrote its answer; reading stopped only to bound memory.
        if (code == CURLE_OK || stoppedForSize), status > 0, !stoppedForSize || (200..<300).contains(status) {
            return .answered(
                status: status,
                responseTimeMs: milliseconds,
                excerpt: ResponseExcerpt.make(excerpt, limit: settings.excerptBytes),
                retryAfterSeconds: retryAfterSeconds)
        }
        let failure: FailureClass
        let message: String
        if stoppedForSize {
            failure = .bodyTooLarge
            message = "The response body was larger than \(settings.maximumResponseBytes) bytes; reading stopped there."
        } else if code == CURLE_COULDNT_CONNECT, !refusedAddresses.isEmpty {
            failure = .blockedAddress
            let addresses = refusedAddresses.joined(separator: ", ")
            message =
                "Refused to connect to \(addresses): the address policy does not allow private, loopback or reserved addresses."
        } else if code == CURLE_OK {
            failure = .network
            message = "The receiver's answer had no HTTP status."
        } else {
            failure = FailureClass(transportFailure: code, nameResolved: nameResolved)
            message = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        }
        return DeliveryOutcome(
            statusCode: status > 0 ? status : nil,
            responseTimeMs: milliseconds,
            failure: failure,
            excerpt: ResponseExcerpt.make(message.utf8, limit: settings.excerptBytes),
            retryAfterSeconds: retryAfterSeconds)
    }

    /// Write callback: keeps the excerpt and counts bytes; false stops the transfer (body too large).
    private func receive(_ data: UnsafeRawBufferPointer) -> Bool {
        receivedBytes += data.count
        let room = settings.excerptBytes - excerpt.count
        if room > 0 { excerpt.append(contentsOf: data.prefix(room)) }
        if receivedBytes > settings.maximumResponseBytes {
            stoppedForSize = true
            return false
        }
        return true
    }

    /// Open-socket callback: the address policy judges the exact address libcurl is about to
    /// connect to (after any DNS answer), so rebinding and odd literal forms cannot slip past.
    private func openSocket(_ address: UnsafeMutablePointer<curl_sockaddr>) -> curl_socket_t {
        let family = address.pointee.family
        let peer = CurlEasy.ipAddress(of: address)
        guard let peer, settings.addressPolicy.allows(peer) else {
            let refused = peer.map(String.init(describing:)) ?? "an address of family \(family)"
            if !refusedAddresses.contains(refused) { refusedAddresses.append(refused) }
            return cqr3_bad_socket()
        }
        let opened = socket(family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.protocol)
        if opened >= 0 { cqr3_epoll_opened(epoll, opened) }
        return opened
    }

    private static func ipAddress(of address: UnsafeMutablePointer<curl_sockaddr>) -> IPAddress? {
        let socketAddress = UnsafeRawPointer(address) + MemoryLayout<curl_sockaddr>.offset(of: \.addr)!
        switch address.pointee.family {
        case AF_INET:
            let octets = socketAddress + MemoryLayout<sockaddr_in>.offset(of: \.sin_addr)!
            return IPAddress(
                octets.load(as: UInt8.self), octets.load(fromByteOffset: 1, as: UInt8.self),
                octets.load(fromByteOffset: 2, as: UInt8.self), octets.load(fromByteOffset: 3, as: UInt8.self))
        case AF_INET6:
            let octets = socketAddress + MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!
            return IPAddress(ipv6Octets: UnsafeRawBufferPointer(start: octets, count: 16))
        default:
            return nil
        }
    }

    private func check(_ code: CURLcode, _ option: String) throws(DeliveryClientError) {
        guard code == CURLE_OK else {
            throw .curl("curl_easy_setopt(CURLOPT_\(option)) failed: \(String(cString: curl_easy_strerror(code)))")
        }
    }
}

/// The per-request settings every easy handle shares, derived once from the configuration.
struct EasySettings: Sendable {
    var userAgent: String
    var connectTimeoutMs: Int
    var totalTimeoutMs: Int
    var maximumResponseBytes: Int
    var excerptBytes: Int
    var addressPolicy: AddressPolicy
    /// Sent before the request's own headers: JSON content type and no `Expect: 100-continue`.
    var fixedHeaders = ["Content-Type: application/json", "Expect:"]

    /// The settings for `configuration`.
    init(_ configuration: DeliveryClient.Configuration) {
        userAgent = configuration.userAgent
        connectTimeoutMs = Int(configuration.connectTimeout.milliseconds)
        totalTimeoutMs = Int(configuration.totalTimeout.milliseconds)
        maximumResponseBytes = configuration.maximumResponseBytes
        excerptBytes = configuration.excerptBytes
        addressPolicy = configuration.addressPolicy
    }
}
