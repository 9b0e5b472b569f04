/// A webhook as the public API and `--json` CLI output show it, fields in the documented order.
///
/// The secret itself is present only in the answer to its creation or to a secret rotation;
/// otherwise only the hint. Header values and the previous secret are never present.
public struct WebhookRepresentation: Sendable, Hashable {
    public var id: String
    public var url: String
    public var events: [String]
    public var is_active: Bool
    public var secret: String?
    public var secret_hint: String
    public var created_at: String
    public var updated_at: String
    public var consecutive_failures: Int
    public var disabled_reason: String?
    public var disabled_at: String?
    /// Deliveries held while the webhook is disabled; enabling it sends them, oldest first.
    public var held_deliveries: Int
    /// Since when the webhook's attempts fail (its queue waits for one probe at a time), if they do.
    public var failing_since: String?
    /// No delivery goes to the webhook before this time (the next probe, or its Retry-After).
    public var paused_until: String?
    /// The names of the webhook's own request headers; their values are never shown.
    public var header_names: [String]
    /// The hint of the previous secret while it still signs deliveries (a rotation's overlap).
    public var previous_secret_hint: String?
    /// When the previous secret stops signing deliveries, during a rotation's overlap.
    public var previous_secret_expires_at: String?
    /// Requests the answering daemon lets the webhook have in flight now (its adaptive
    /// ``ConcurrencyLimit``); nil where no delivery runs.
    public var concurrency_limit: Int?

    /// The representation of `webhook` at `now`; `revealingSecret` only when answering its creation
    /// or a rotation.
    public init(_ webhook: Webhook, revealingSecret: Bool = false, now: Timestamp = .now()) {
        id = webhook.id
        url = webhook.url
        events = webhook.events.names
        is_active = webhook.isActive
        secret = revealingSecret ? webhook.secret : nil
        secret_hint = webhook.secretHint
        created_at = webhook.createdAt.iso8601
        updated_at = webhook.updatedAt.iso8601
        consecutive_failures = webhook.consecutiveFailures
        disabled_reason = webhook.disabledReason
        disabled_at = webhook.disabledAt?.iso8601
        held_deliveries = webhook.heldDeliveries
        failing_since = webhook.circuit.isOpen ? webhook.circuit.failingSince?.iso8601 : nil
        paused_until = webhook.circuit.isOpen ? webhook.circuit.pausedUntil?.iso8601 : nil
        header_names = webhook.headers.names
        // An overlap that has ended is shown as none, though the row keeps it until the next rotation.
        let overlapping = webhook.rotation.inOverlap(at: now)
        previous_secret_hint = overlapping ? webhook.previousSecret.map(Webhook.hint(for:)) : nil
        previous_secret_expires_at = overlapping ? webhook.previousSecretExpiresAt?.iso8601 : nil
    }
}

extension WebhookRepresentation {
    /// Compact JSON in the documented key order; `secret` appears only when revealed.
    public var json: String {
        var object = JSONObjectWriter()
        object.add("id", id)
        object.add("url", url)
        object.add("events", strings: events)
        object.add("is_active", is_active)
        if let secret { object.add("secret", secret) }
        object.add("secret_hint", secret_hint)
        object.add("created_at", created_at)
        object.add("updated_at", updated_at)
        object.add("consecutive_failures", consecutive_failures)
        object.add("disabled_reason", disabled_reason)
        object.add("disabled_at", disabled_at)
        object.add("held_deliveries", held_deliveries)
        object.add("failing_since", failing_since)
        object.add("paused_until", paused_until)
        object.add("headers", raw: CustomHeaders.redactedJSON(names: header_names))
        object.add("previous_secret_hint", previous_secret_hint)
        object.add("previous_secret_expires_at", previous_secret_expires_at)
        object.add("concurrency_limit", concurrency_limit)
        return object.json
    }
}

/// One delivery attempt as the public API and `deliveries --json` show it.
///
/// The documented fields come first (`id`, `event_type`, `status`, `status_code`,
/// `response_time_ms`, `attempt`, `created_at`), then the event id a receiver deduplicates by, why
/// the attempt failed, when the next attempt is scheduled, and the start of the receiver's answer.
public struct DeliveryRepresentation: Sendable, Hashable {
    public var id: String
    public var event_type: String
    /// `success` or `failed`.
    public var status: String
    /// The receiver's HTTP status; nil when no answer came (timeout, refused connection, ...).
    public var status_code: Int?
    public var response_time_ms: Int
    public var attempt: Int
    public var created_at: String
    public var event_id: String
    /// A ``FailureClass`` raw value for a failed attempt.
    public var failure_class: String?
    /// When the next attempt of this event is scheduled, if one is.
    public var next_retry_at: String?
    /// The start of the receiver's response body.
    public var response_excerpt: String
    /// The IP address the attempt connected to, when it got that far.
    public var remote_address: String?
    /// libcurl's timings of the attempt's steps.
    public var timings: TransferTimings
    /// The request headers sent, signatures and the webhook's own header values redacted; nil for
    /// attempts recorded before they were kept. Shown only for a single delivery.
    public var request_headers: [(name: String, value: String)]?

    public static func == (lhs: DeliveryRepresentation, rhs: DeliveryRepresentation) -> Bool {
        lhs.json(detailed: true) == rhs.json(detailed: true)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(json(detailed: true))
    }

    public init(
        id: String,
        eventType: String,
        succeeded: Bool,
        statusCode: Int?,
        responseTimeMs: Int,
        attempt: Int,
        createdAt: Timestamp,
        eventID: String,
        failure: FailureClass?,
        nextRetryAt: Timestamp?,
        responseExcerpt: String,
        remoteAddress: String? = nil,
        timings: TransferTimings = .none,
        requestHeaders: [(name: String, value: String)]? = nil
    ) {
        self.id = id
        self.event_type = eventType
        self.status = succeeded ? "success" : "failed"
        self.status_code = statusCode
        self.response_time_ms = responseTimeMs
        self.attempt = attempt
        self.created_at = createdAt.iso8601
        self.event_id = eventID
        self.failure_class = failure?.rawValue
        self.next_retry_at = nextRetryAt?.iso8601
        self.response_excerpt = responseExcerpt
        self.remote_address = remoteAddress
        self.timings = timings
        self.request_headers = requestHeaders
    }

    /// Compact JSON in the documented key order, absent values as `null`.
    public var json: String { json(detailed: false) }

    /// The JSON of a single delivery: ``json`` and the redacted `request_headers`.
    public func json(detailed: Bool) -> String {
        var object = JSONObjectWriter()
        object.add("id", id)
        object.add("event_type", event_type)
        object.add("status", status)
        object.add("status_code", status_code)
        object.add("response_time_ms", response_time_ms)
        object.add("attempt", attempt)
        object.add("created_at", created_at)
        object.add("event_id", event_id)
        object.add("failure_class", failure_class)
        object.add("next_retry_at", next_retry_at)
        object.add("response_excerpt", response_excerpt)
        object.add("remote_address", remote_address)
        object.add("timings", raw: timings.json)
        if detailed {
            if let request_headers {
                var headers = JSONObjectWriter()
                for header in request_headers { headers.add(header.name, header.value) }
                object.add("request_headers", raw: headers.json)
            } else {
                object.add("request_headers", nil as String?)
            }
        }
        return object.json
    }
}

/// What a recovery queued, as the API and `webhooks recover --json` show it.
public struct RecoveryRepresentation: Sendable, Hashable {
    /// Deliveries that had failed for good, queued for a fresh run of attempts.
    public var failed: Int
    /// Events the webhook subscribes to that never got a delivery to it.
    public var neverMade: Int
    /// True when the webhook is disabled: the deliveries are held until it is enabled.
    public var held: Bool
    /// Only counted, nothing queued.
    public var dryRun: Bool

    public init(failed: Int, neverMade: Int, held: Bool, dryRun: Bool) {
        self.failed = failed
        self.neverMade = neverMade
        self.held = held
        self.dryRun = dryRun
    }

    /// `{"status":"queued"|"dry_run","queued":N,"failed":N,"never_made":N,"held":bool}`.
    public var json: String {
        var object = JSONObjectWriter()
        object.add("status", dryRun ? "dry_run" : "queued")
        object.add("queued", failed + neverMade)
        object.add("failed", failed)
        object.add("never_made", neverMade)
        object.add("held", held)
        return object.json
    }
}
