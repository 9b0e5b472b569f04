import CQR3Curl
import WebhookCore

extension FailureClass {
    /// The failure class for a transfer libcurl ended with `code` (not `CURLE_OK`).
    ///
    /// `CURLE_WRITE_ERROR` is `.bodyTooLarge` only when our own size cap stopped the body;
    /// `CURLE_COULDNT_CONNECT` is `.blockedAddress` only when the address policy refused the socket.
    /// Both are decided by the caller, which knows; here they map to `.other` and `.connect`.
    /// A timeout before the host name resolved is a `.dns` failure: the receiver was never reached.
    init(transportFailure code: CURLcode, nameResolved: Bool = true) {
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            self = nameResolved ? .timeout : .dns
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            self = .dns
        case CURLE_COULDNT_CONNECT:
            self = .connect
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
            CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_PEER_FAILED_VERIFICATION,
            CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_SHUTDOWN_FAILED,
            CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, CURLE_USE_SSL_FAILED:
            self = .tls
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
            CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_HTTP3,
            CURLE_QUIC_CONNECT_ERROR, CURLE_SEND_FAIL_REWIND, CURLE_BAD_CONTENT_ENCODING:
            self = .network
        case CURLE_FILESIZE_EXCEEDED:
            self = .bodyTooLarge
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            self = .invalidURL
        default:
            self = .other
        }
    }
}
