/// A webhook's secrets while it rotates: the current one, and the previous one until it expires.
///
/// Which secrets sign a request is decided here, from the clock given as a value:
///
/// | time                         | `webhook-signature`     | `X-QR3-Signature` |
/// |------------------------------|-------------------------|-------------------|
/// | before the rotation          | old                     | old               |
/// | during the overlap           | new and old (2 entries) | old               |
/// | at and after `expiresAt`     | new                     | new               |
///
/// `X-QR3-Signature` holds one signature only, so it keeps the previous secret for the whole
/// overlap: a receiver that checks it switches (or accepts both) before the overlap ends, and one
/// that has not yet learned the new secret keeps working until then.
public struct SecretRotation: Sendable, Hashable {
    /// The secret in force; the one new receivers are given.
    public var current: String
    /// The secret it replaced, still valid until ``expiresAt``.
    public var previous: String?
    /// When ``previous`` stops being valid.
    public var expiresAt: Timestamp?

    public init(current: String, previous: String? = nil, expiresAt: Timestamp? = nil) {
        self.current = current
        self.previous = previous
        self.expiresAt = previous == nil ? nil : expiresAt
    }

    /// The default overlap of a rotation: one day.
    public static let defaultOverlapSeconds = 86_400
    /// The longest overlap accepted: 30 days.
    public static let maximumOverlapSeconds = 30 * 86_400

    /// Whether the previous secret is still valid at `now`.
    public func inOverlap(at now: Timestamp) -> Bool {
        guard previous != nil, let expiresAt else { return false }
        return now < expiresAt
    }

    /// The secrets `webhook-signature` carries at `now`: the current one first, then the previous one
    /// during the overlap.
    public func signingSecrets(at now: Timestamp) -> [String] {
        if inOverlap(at: now), let previous { return [current, previous] }
        return [current]
    }

    /// The secret `X-QR3-Signature` is made with at `now`: the previous one during the overlap.
    public func legacySecret(at now: Timestamp) -> String {
        if inOverlap(at: now), let previous { return previous }
        return current
    }

    /// The rotation to `newSecret` at `now`, the secret in force now staying valid for
    /// `overlapSeconds` (0: not at all).
    ///
    /// Rotating again during an overlap ends the older overlap: only the two newest secrets sign.
    public func rotated(to newSecret: String, overlapSeconds: Int, now: Timestamp) -> SecretRotation {
        guard overlapSeconds > 0 else { return SecretRotation(current: newSecret) }
        return SecretRotation(
            current: newSecret,
            previous: current,
            expiresAt: now.adding(milliseconds: Int64(overlapSeconds) * 1000)
        )
    }
}
