import CQR3Curl
import Glibc

/// Owns one libcurl multi handle and its connection cache.
///
/// `@unchecked Sendable`: `wakeup()` may be called from any thread (libcurl documents
/// `curl_multi_wakeup` as thread-safe); every other use of `handle` happens on the single
/// transfer-loop thread, and `deinit` runs only once no thread holds the client any more.
final class CurlMulti: @unchecked Sendable {
    /// The `CURLM *`.
    let handle: UnsafeMutableRawPointer

    /// Initialises libcurl once per process, ignores SIGPIPE, and creates a multi handle.
    init(configuration: DeliveryClient.Configuration) throws(DeliveryClientError) {
        guard CurlMulti.processSetup else {
            throw .curl("curl_global_init failed")
        }
        guard let handle = curl_multi_init() else {
            throw .curl("curl_multi_init returned no handle")
        }
        self.handle = handle
        let connectionCache = max(configuration.maximumConcurrentTransfers, 16)
        try set(CURLMOPT_MAXCONNECTS, connectionCache)
        try set(CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maximumConnectionsPerHost)
    }

    deinit {
        curl_multi_cleanup(handle)
    }

    /// Interrupts a `curl_multi_poll` in progress (or makes the next one return at once).
    func wakeup() {
        curl_multi_wakeup(handle)
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
