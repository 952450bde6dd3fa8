/// One change of the state the registry replicates to every gateway (zguide Clone): the record
/// that was upserted, or the key that was removed. The registry makes these and the replicas
/// apply them; the topic and the body on the PUB are derived here, in one place.
public enum ReplicatedRecord: Sendable, Equatable {
    case agent(AgentRecord)
    case agentDeleted(String)
    case request(RequestRecord)
    case requestDeleted(String)
    case alert(AlertRecord)
    case alertDeleted(String)
    case key(APIKeyRecord)
    case credential(AgentCredential)

    /// `agent.<id>`, `request.<id>`, `alert.<rule>:<agent>`, `key.<id>`, `cred.<agentId>`.
    public var topic: String {
        switch self {
        case .agent(let record): BusTopic.agentPrefix + record.id
        case .agentDeleted(let id): BusTopic.agentPrefix + id
        case .request(let record): BusTopic.requestPrefix + record.id
        case .requestDeleted(let id): BusTopic.requestPrefix + id
        case .alert(let record): BusTopic.alertPrefix + record.id
        case .alertDeleted(let id): BusTopic.alertPrefix + id
        case .key(let record): BusTopic.keyPrefix + record.id
        case .credential(let record): BusTopic.credentialPrefix + record.agentId
        }
    }

    public var isDelete: Bool {
        switch self {
        case .agentDeleted, .requestDeleted, .alertDeleted: true
        default: false
        }
    }

    /// The body on the PUB (and in the store): the record's JSON; empty for a delete.
    public func encodedBody() throws -> [UInt8] {
        switch self {
        case .agent(let record): try FleetJSON.encode(record)
        case .request(let record): try FleetJSON.encode(record)
        case .alert(let record): try FleetJSON.encode(record)
        case .key(let record): try FleetJSON.encode(record)
        case .credential(let record): try FleetJSON.encode(record)
        case .agentDeleted, .requestDeleted, .alertDeleted: []
        }
    }

    /// Reads an update off the PUB; nil for a topic this side does not know, an op that does
    /// not fit it, or a body that does not decode.
    public init?(topic: String, op: UpdateHeader.Operation, body: [UInt8]) {
        func record<T: Decodable>(_ type: T.Type) -> T? { try? FleetJSON.decode(type, from: body) }
        func id(_ prefix: String) -> String { String(topic.dropFirst(prefix.count)) }
        let decoded: ReplicatedRecord?
        switch op {
        case .hugz:
            return nil
        case .delete:
            decoded =
                if topic.hasPrefix(BusTopic.agentPrefix) { .agentDeleted(id(BusTopic.agentPrefix)) }
                else if topic.hasPrefix(BusTopic.requestPrefix) { .requestDeleted(id(BusTopic.requestPrefix)) }
                else if topic.hasPrefix(BusTopic.alertPrefix) { .alertDeleted(id(BusTopic.alertPrefix)) }
                else { nil }
        case .upsert:
            decoded =
                if topic.hasPrefix(BusTopic.agentPrefix) { record(AgentRecord.self).map { .agent($0) } }
                else if topic.hasPrefix(BusTopic.requestPrefix) { record(RequestRecord.self).map { .request($0) } }
                else if topic.hasPrefix(BusTopic.alertPrefix) { record(AlertRecord.self).map { .alert($0) } }
                else if topic.hasPrefix(BusTopic.keyPrefix) { record(APIKeyRecord.self).map { .key($0) } }
                else if topic.hasPrefix(BusTopic.credentialPrefix) { record(AgentCredential.self).map { .credential($0) } }
                else { nil }
        }
        guard let decoded else { return nil }
        self = decoded
    }
}
