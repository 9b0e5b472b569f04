import WebhookCore

/// What the delivery loop needs from storage: rounds of record, take in and claim, and the
/// few reads that decide when to run the next one.
///
/// The narrow part of ``WebhookStore``, so the loop is written against exactly what it uses.
public protocol DeliveryStore: Sendable {
    /// One round of the delivery loop in one transaction: records finished attempts, takes in
    /// outbox rows, and claims due jobs (new ones included), so a busy daemon pays one commit per
    /// round and a new event can be claimed in the transaction that takes it in.
    func advance(_ round: DeliveryRound) async throws -> DeliveryRound.Report
    /// Hands claims back unattempted, due at once, so another worker need not wait for the lease.
    func release(_ jobs: [ClaimedJob], now: Timestamp) async throws
    /// The earliest time a pending job becomes due (or its lease expires), if any.
    func nextDueTime() async throws -> Timestamp?
    /// Whether the outbox holds rows not yet taken in, or a fan-out is unfinished: a cheap read, so
    /// idle checks take no write lock.
    func hasOutboxRows() async throws -> Bool
    /// What an error this store threw means for an operator: a full disk, an I/O error, a lost
    /// connection... Every backend classifies its own errors, so the daemon backs off and reports
    /// a failing store the same way whatever the backend.
    func fault(of error: any Error) -> StoreFault
}
