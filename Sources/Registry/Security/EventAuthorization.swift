import Bus
import FleetProtocol

/// The registry's check of each event against its sender's role, before anything is
/// decoded or applied: with CURVE on, the ZAP handler tagged the connection with the role
/// of the key it admitted (`User-Id`), and `BusPolicy` says which kinds that role may send.
/// A worker's key cannot open sessions or create requests; a gateway's cannot post results.
/// Without keys there are no roles and every kind is allowed (`master serve`, loopback).
struct EventAuthorization: Sendable {
    /// Whether the bus authenticates peers (CURVE); off, everything passes.
    let enforced: Bool

    /// A refused event: its kind (only kinds the policy knows, else `unknown`, so a label
    /// never takes a sender's arbitrary text) and the sender's role (`none` if untagged).
    struct Refusal: Sendable, Equatable {
        var kind: String
        var role: String
        var userId: String?
    }

    /// nil when `message` may be applied.
    func refusal(for message: BusMessage) -> Refusal? {
        guard enforced else { return nil }
        let kind = message.string(at: 0) ?? ""
        let known = BusPolicy.eventSenders[kind] != nil ? kind : "unknown"
        guard let userId = message.userId, let role = BusRole(userId: userId) else {
            return Refusal(kind: known, role: "none", userId: message.userId)
        }
        return BusPolicy.allows(kind: kind, role: role) ? nil : Refusal(kind: known, role: role.rawValue, userId: userId)
    }
}
