import CQR3Curl
import Glibc

/// Owns one libcurl multi handle and its connection cache, and the eventfd that wakes the
/// transfer loop's `poll`.
///
/// `@unchecked Sendable`: `wakeup()` may be called from any thread (it only writes to the
/// eventfd); every use of `handle` happens on the single transfer-loop thread, and `deinit`
/// runs only once no thread holds the client any more.
final class CurlMulti: @unchecked Sendable {
    /// The `CURLM *`.
    let handle: UnsafeMutableRawPointer
    /// Readable while a `wakeup()` has not been read by the loop.
    let wakeupDescriptor: Int32

    /// Initialises libcurl once per process, ignores SIGPIPE, and creates a multi handle.
    init(configuration: DeliveryClient.Configuration) throws(DeliveryClientError) {
        guard CurlMulti.processSetup else {
            throw .curl("curl_global_init failed")
        }
        let wakeupDescriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeupDescriptor >= 0 else {
            throw .curl("eventfd failed: \(String(cString: strerror(errno)))")
        }
        guard let handle = curl_multi_init() else {
            close(wakeupDescriptor)
            throw .curl("curl_multi_init returned no handle")
        }
        self.handle = handle
        self.wakeupDescriptor = wakeupDescriptor
        let connectionCache = max(configuration.maximumConcurrentTransfers, 16)
        try set(CURLMOPT_MAXCONNECTS, connectionCache)
        try set(CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maximumConnectionsPerHost)
    }

    deinit {
        curl_multi_cleanup(handle)
        close(wakeupDescriptor)
    }

    /// Interrupts the loop's `poll` in progress (or makes the next one return at once).
    func wakeup() {
        var one: UInt64 = 1
        _ = write(wakeupDescriptor, &one, MemoryLayout<UInt64>.size)
    }

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
