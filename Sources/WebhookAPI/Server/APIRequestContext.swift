import Hummingbird

/// The request context of the API: Hummingbird's core storage and the caller's workspace.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The workspace of the API key that authenticated the request; nil before authentication and
    /// for routes outside /v1.
    public var workspaceID: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// The authenticated workspace; every /v1 handler runs behind ``APIKeyMiddleware``, so a missing
    /// one is refused rather than trusted.
    func workspace() throws(APIError) -> String {
        guard let workspaceID else { throw APIError.unauthorized("this call needs an API key") }
        return workspaceID
    }
}
