/// The JSON an agent POSTs to `/api/v1/callbacks/{requestId}` for every kind except `logs`
/// (whose body is the file's bytes): `{"ok":true,"result":{...}}` or `{"ok":false,"error":"..."}`.
/// For `status`, `result` is a MetricsSnapshot.
public struct AgentReply: Codable, Sendable, Equatable {
    public var ok: Bool
    public var result: JSONValue?
    public var error: String?

    public init(ok: Bool, result: JSONValue? = nil, error: String? = nil) {
        self.ok = ok
        self.result = result
        self.error = error
    }
}
