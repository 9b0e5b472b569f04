import WebhookAPI

/// Which parts of the daemon run, for deployments that split delivery from the API.
public enum DaemonMode: String, Sendable, CaseIterable {
    /// Delivery workers and the API (the default).
    case all
    /// Delivery workers without the API (`--no-api`).
    case delivery
    /// The API without delivery workers (`--api-only`); another process delivers.
    case api

    /// Whether the outbox watcher, ingest and delivery run.
    public var delivers: Bool { self != .api }
    /// Whether the HTTP API runs.
    public var servesAPI: Bool { self != .delivery }
}

extension DaemonConfiguration {
    /// The API server's settings, from the daemon's.
    public var apiConfiguration: APIConfiguration {
        var api = APIConfiguration()
        api.listen = listen
        api.addressPolicy = addressPolicy
        api.maximumEventBytes = maximumEventBytes
        api.maximumWebhooksPerWorkspace = maximumWebhooksPerWorkspace
        api.rateLimit = apiRateLimit
        api.idleTimeout = .milliseconds(Int64(apiIdleTimeout * 1000))
        api.maximumConnections = apiMaximumConnections
        return api
    }
}
