/// Header of every message the registry PUBlishes on the `updates` socket, and of each
/// snapshot chunk it sends over `snapshot` (zguide "Clone" pattern, see Bus/Clone).
///
/// Wire: `[topic][header (binary, ``binary``)][body JSON]`, topic `agent.<id>` for agent updates
/// and `hugz` for the registry's periodic "I am alive, my sequence is N" beat.
public struct UpdateHeader: Codable, Sendable, Equatable {
    public enum Operation: String, Codable, Sendable {
        /// Body is the agent's full `AgentRecord`.
        case upsert
        /// The agent was removed; body is empty.
        case delete
        /// Heartbeat of the publisher; body is empty.
        case hugz
    }

    /// Position in the registry's update stream; consecutive updates differ by one.
    public var seq: UInt64
    /// Identifies one run of the registry. A new epoch means a restart: replicas resync.
    public var epoch: String
    public var op: Operation

    public init(seq: UInt64, epoch: String, op: Operation) {
        self.seq = seq
        self.epoch = epoch
        self.op = op
    }

    /// The header as it travels (binary since issue 13, zguide kvmsg: the sequence in a binary
    /// frame, the body opaque): op (u8: 0 upsert, 1 delete, 2 hugz), seq (u64 LE), epoch (u16 + UTF-8).
    public var binary: [UInt8] {
        var writer = BinaryWriter(capacity: 24)
        let code: UInt8 = switch op {
        case .upsert: 0
        case .delete: 1
        case .hugz: 2
        }
        writer.u8(code)
        writer.u64(seq)
        writer.shortString(epoch)
        return writer.bytes
    }

    public init(binary bytes: [UInt8]) throws(ProtocolError) {
        var reader = BinaryReader(bytes)
        let op: Operation = switch try reader.u8() {
        case 0: .upsert
        case 1: .delete
        case 2: .hugz
        case let other: throw .malformed("update header with op \(other)")
        }
        let seq = try reader.u64()
        let epoch = try reader.shortString()
        guard reader.atEnd else { throw .malformed("update header of \(bytes.count) bytes has bytes left over") }
        self.init(seq: seq, epoch: epoch, op: op)
    }
}

/// Header of one chunk of a state snapshot (ROUTER -> DEALER). The chunks' bodies are
/// `SnapshotChunk` objects; the chunk with `last == true` ends the snapshot, and `seq` (the
/// same in every chunk) is the sequence the snapshot reflects.
public struct SnapshotHeader: Codable, Sendable, Equatable {
    public var seq: UInt64
    public var epoch: String
    /// Echoes the request's nonce so a replica can ignore answers to requests it gave up on.
    public var nonce: String
    public var last: Bool

    public init(seq: UInt64, epoch: String, nonce: String, last: Bool) {
        self.seq = seq
        self.epoch = epoch
        self.nonce = nonce
        self.last = last
    }
}

/// Bus topics, in one place so publishers and subscribers agree.
public enum BusTopic {
    /// Prefix of agent state updates: `agent.<agentId>`.
    public static let agentPrefix = "agent."
    /// Prefix of request state updates: `request.<requestId>`.
    public static let requestPrefix = "request."
    /// Prefix of alert updates: `alert.<rule>:<agentId>`.
    public static let alertPrefix = "alert."
    /// Prefix of API key and enrollment token records (digests, never secrets): `key.<keyId>`.
    public static let keyPrefix = "key."
    /// Prefix of agents' credential records (digests): `cred.<agentId>`.
    public static let credentialPrefix = "cred."
    /// The registry's periodic liveness beat.
    public static let hugz = "hugz"
    /// Commands for the gateway holding an agent's session: `gw.<gatewayId>.` — the trailing
    /// dot matters: ZeroMQ filters by prefix, and without it `gw-1` would get `gw-10`'s commands.
    public static func gateway(_ id: String) -> String { "gw.\(id)." }
    /// First frame of a snapshot request and of its reply chunks.
    public static let snapshot = "snapshot"
}

/// The body of one snapshot chunk: some agents, requests, alerts, keys and credentials.
public struct SnapshotChunk: Codable, Sendable, Equatable {
    public var agents: [AgentRecord]
    public var requests: [RequestRecord]
    public var alerts: [AlertRecord]
    public var keys: [APIKeyRecord]
    public var credentials: [AgentCredential]
    public init(
        agents: [AgentRecord], requests: [RequestRecord], alerts: [AlertRecord] = [], keys: [APIKeyRecord] = [],
        credentials: [AgentCredential] = []
    ) {
        self.agents = agents
        self.requests = requests
        self.alerts = alerts
        self.keys = keys
        self.credentials = credentials
    }
}
