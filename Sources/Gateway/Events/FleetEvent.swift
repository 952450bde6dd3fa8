/// One event on `GET /api/v1/events` (SSE): a fact about the fleet, in the registry's order.
struct FleetEvent: Sendable, Equatable {
    /// `<epoch>-<seq>`: the registry run and its update sequence; what a client sends back as
    /// `Last-Event-ID` to resume.
    var id: String
    /// `agent.online`, `agent.disconnected`, `agent.offline`, `agent.metrics`,
    /// `request.pending`, `request.dispatched`, `request.completed`, `request.failed`, `reset`.
    var type: String
    /// The JSON payload (the record as the API returns it).
    var data: String
    var seq: UInt64
    var epoch: String

    /// The SSE wire form.
    var frame: String {
        "id: \(id)\nevent: \(type)\ndata: \(data)\n\n"
    }
}
