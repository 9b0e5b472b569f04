/// How a store is opened, in terms every backend understands.
public struct StoreOptions: Sendable {
    /// Apply pending migrations when opening; `false` refuses an out-of-date schema instead.
    public var migrate: Bool = true
    /// Whether every commit of the daemon's own writes waits until it would survive a power loss
    /// (SQLite `synchronous = FULL`). Off (`NORMAL`), a crash of the process still loses nothing
    /// committed; a power loss may roll back the last commits (see RELIABILITY.md). What a user is
    /// told succeeded (the API's and the command line's changes) is durable either way.
    public var durableCommits: Bool = false
    /// Told how long each write transaction held the database's write lock (or its rows' locks),
    /// for the metrics: producers wait for it.
    public var writeHeld: (@Sendable (Duration) -> Void)?
    /// A file holding the PostgreSQL password (its first line); see `WebhookStores.open`.
    public var passwordFile: String?
    /// Connections a PostgreSQL store keeps in its pool; nil for the store's default.
    public var connections: Int?
    /// How long opening waits for a database server to accept connections (one starting with
    /// the daemon may come up later).
    public var openRetryLimit: Duration = .seconds(30)

    public init() {}
}
