import CQR3Curl
import Glibc

/// Owns one libcurl multi handle, its connection cache, and the epoll set its sockets wait in.
///
/// libcurl reports the sockets it wants watched to an epoll set and when it wants a timeout
/// (`cqr3_multi_use_epoll`); the transfer loop waits on the set and hands each ready socket to
/// `curl_multi_socket_action`. An eventfd in the same set wakes the loop for new submissions.
///
/// `@unchecked Sendable`: `wakeup()` may be called from any thread (a write to an eventfd);
/// every other use of `handle`, the epoll set and `deadline` happens on the single
/// transfer-loop thread, and `deinit` runs only once no thread holds the client any more.
final class CurlMulti: @unchecked Sendable {
    /// The `CURLM *`.
    let handle: UnsafeMutableRawPointer
    /// The epoll set of libcurl's sockets and the wake-up eventfd, with what each socket is
    /// registered for (heap: libcurl and the easy handles' close-socket callback keep the pointer).
    let epoll: UnsafeMutablePointer<cqr3_epoll_set>
    /// The eventfd `wakeup()` writes to.
    let wakeupDescriptor: Int32
    /// When libcurl wants `CURL_SOCKET_TIMEOUT`, in monotonic milliseconds; -1 for never.
    let deadline: UnsafeMutablePointer<Int64>

    /// Initialises libcurl once per process, ignores SIGPIPE, and creates a multi handle.
    init(configuration: DeliveryClient.Configuration) throws(DeliveryClientError) {
        guard CurlMulti.processSetup else {
            throw .curl("curl_global_init failed")
        }
        guard let handle = curl_multi_init() else {
            throw .curl("curl_multi_init returned no handle")
        }
        self.handle = handle
        guard let epoll = cqr3_epoll_set_create() else {
            curl_multi_cleanup(handle)
            throw .curl("could not allocate the transfer loop's epoll set")
        }
        self.epoll = epoll
        wakeupDescriptor = cqr3_wakeup_descriptor()
        deadline = .allocate(capacity: 1)
        deadline.initialize(to: -1)
        guard epoll.pointee.fd >= 0, wakeupDescriptor >= 0,
            cqr3_epoll_add_reader(epoll, wakeupDescriptor) == 0
        else {
            throw .curl("could not create the transfer loop's epoll set: \(String(cString: strerror(errno)))")
        }
        let connectionCache = max(configuration.maximumConcurrentTransfers, 16)
        try set(CURLMOPT_MAXCONNECTS, connectionCache)
        try set(CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maximumConnectionsPerHost)
        let code = cqr3_multi_use_epoll(handle, epoll, deadline)
        guard code == CURLM_OK else {
            throw .curl("could not set the socket callbacks: \(String(cString: curl_multi_strerror(code)))")
        }
    }

    deinit {
        // The cache's connections are closed here, through the set's close-socket callback: free it after.
        curl_multi_cleanup(handle)
        if wakeupDescriptor >= 0 { close(wakeupDescriptor) }
        cqr3_epoll_set_free(epoll)
        deadline.deallocate()
    }

    /// Interrupts the loop's wait for events (or makes the next one return at once).
    func wakeup() {
        var one: UInt64 = 1
        _ = write(wakeupDescriptor, &one, 8)
    }

    /// Takes the wake-ups written since the last time (the loop calls this when the eventfd is ready).
    func drainWakeups() {
        var count: UInt64 = 0
        _ = read(wakeupDescriptor, &count, 8)
    }

    /// How many descriptors the epoll set holds (the wake-up eventfd included); any thread. A
    /// kept-alive connection stays in the set while it waits in libcurl's cache.
    var registeredDescriptors: Int { Int(cqr3_epoll_registered(epoll)) }

    private func set(_ option: CURLMoption, _ value: Int) throws(DeliveryClientError) {
        let code = cqr3_multi_setopt_long(handle, option, value)
        guard code == CURLM_OK else {
            throw .curl("curl_multi_setopt(\(option.rawValue)) failed: \(String(cString: curl_multi_strerror(code)))")
        }
    }

    /// Runs once per process: libcurl's global initialisation (not thread-safe on older
    /// releases, so done before the first handle) and SIGPIPE ignored, since a peer closing
    /// a socket must never kill the daemon.
    private static let processSetup: Bool = {
        signal(SIGPIPE, SIG_IGN)
        return curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    }()
}
