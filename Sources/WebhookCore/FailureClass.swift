/// Why a delivery attempt failed, as recorded in the attempt log and shown to customers.
///
/// Expected failures of a receiver are values, never thrown errors.
public enum FailureClass: String, Sendable, Hashable, CaseIterable, Codable {
    /// The receiver answered with a status of 300 or more (a redirect is not followed).
    case httpStatus = "http_status"
    /// No complete answer within the total timeout, or no connection within the connect timeout.
    case timeout
    /// The TCP connection was refused or could not be made.
    case connect
    /// The host name does not resolve.
    case dns
    /// The TLS handshake failed or the certificate was not trusted.
    case tls
    /// The connection broke while sending or receiving (reset, closed early, empty reply).
    case network
    /// The response body was larger than the configured cap.
    case bodyTooLarge = "body_too_large"
    /// The address the host resolved to is not allowed (loopback, private, link-local, ...).
    case blockedAddress = "blocked_address"
    /// The URL cannot be sent to (unsupported scheme, malformed).
    case invalidURL = "invalid_url"
    /// The attempt was abandoned because the daemon shut down before it finished.
    case aborted
    /// Anything libcurl reported that fits none of the above.
    case other
}
