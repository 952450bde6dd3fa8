import Bus
import FleetProtocol
import FleetSupport
import Logging

/// What every agent session on this gateway shares: one object per gateway, so a connection
/// holds a single reference to it rather than a copy of each part.
final class AgentSessionServices: Sendable {
    let settings: GatewaySettings
    let events: EventSender
    let heartbeats: HeartbeatOutbox
    let batchers: HeartbeatBatchers
    let sessions: SessionTable
    let shutdown: ShutdownSignal
    let logger: Logger
    let replica: CloneReplica
    let credentialWaiters: ReplicaWaiters<AgentCredential>
    /// Refusals are an outsider's to cause: logged a line per kind per 10 s, all counted.
    let refusals: RefusalLog

    init(
        settings: GatewaySettings, events: EventSender, heartbeats: HeartbeatOutbox, sessions: SessionTable, shutdown: ShutdownSignal,
        logger: Logger, replica: CloneReplica, credentialWaiters: ReplicaWaiters<AgentCredential>, refusals: RefusalLog
    ) {
        self.settings = settings
        self.events = events
        self.heartbeats = heartbeats
        self.batchers = HeartbeatBatchers(outbox: heartbeats)
        self.sessions = sessions
        self.shutdown = shutdown
        self.logger = logger
        self.replica = replica
        self.credentialWaiters = credentialWaiters
        self.refusals = refusals
    }
}
