import FleetProtocol

/// Turns an agent's reply into the request's outcome, one rule per callback kind. Pure, so
/// each kind's validation is testable without a bus.
public enum ReplyProcessor {
    /// - Returns: the result event for the registry.
    public static func process(_ header: CallbackJobHeader, body: [UInt8]) -> BusEvent.RequestResult {
        func failed(_ error: String) -> BusEvent.RequestResult {
            BusEvent.RequestResult(requestId: header.requestId, agentId: header.agentId, ok: false, result: nil, error: error)
        }
        let reply: AgentReply
        do {
            reply = try FleetJSON.decode(AgentReply.self, from: body)
        } catch let error as DecodingError {
            return failed("the agent's reply is not valid: \(error.fleetDescription)")
        } catch {
            return failed("the agent's reply is not JSON")
        }
        guard reply.ok else {
            return failed(reply.error ?? "the agent reported a failure without a reason")
        }
        switch header.kind {
        case .status:
            // A status result must be a metrics snapshot; anything else is the agent's bug.
            guard let result = reply.result,
                (try? FleetJSON.decode(MetricsSnapshot.self, from: FleetJSON.encode(result))) != nil
            else {
                return failed("the agent's status result is not a metrics snapshot")
            }
            return BusEvent.RequestResult(requestId: header.requestId, agentId: header.agentId, ok: true, result: result, error: nil)
        case .logs, .config, .exec, .restart:
            return BusEvent.RequestResult(requestId: header.requestId, agentId: header.agentId, ok: true, result: reply.result, error: nil)
        }
    }
}
