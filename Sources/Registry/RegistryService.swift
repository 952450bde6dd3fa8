#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import Logging
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// The registry role: owns the fleet state, decides liveness, and replicates the state to
/// every gateway (zguide "Clone" server). It binds every bus endpoint; gateways and
/// workers connect, so adding either needs no change here.
public final class RegistryService: Service, Sendable {
    /// The endpoints actually bound (real ports when `*` was asked for).
    public let boundEndpoints: BusEndpoints
    public let epoch: String

    private let settings: RegistrySettings
    private let logger: Logger
    private let events: ZMQSocket
    private let clone: CloneServer
    private let streamer: Streamer
    private let core = Mutex(Core())
    /// Everything to publish, in order, from whichever task made it to the one publishing task.
    private let outbox: AsyncStream<Outgoing>
    private let outboxWriter: AsyncStream<Outgoing>.Continuation

    private enum Outgoing: Sendable {
        /// A state change (Clone update, sequenced).
        case update(AgentTable.Update)
        /// A command for one gateway (not part of the replicated state).
        case command(gatewayId: String, GatewayCommand)
    }

    private struct Core {
        var table = AgentTable()
        var peers = PeerTable()
        var malformedEvents = 0
    }

    public init(context: ZMQContext, settings: RegistrySettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        self.epoch = String(UUID().uuidString.prefix(8)).lowercased()
        self.events = try context.socket(.pull)
        try BusTuning.apply(to: events, highWaterMark: BusTuning.taskHighWaterMark)
        let eventsEndpoint = try events.bind(settings.endpoints.events)
        self.clone = try CloneServer(
            context: context, updates: settings.endpoints.updates, snapshot: settings.endpoints.snapshot,
            epoch: epoch, logger: logger
        )
        self.streamer = try Streamer(
            context: context, input: settings.endpoints.jobsIn, output: settings.endpoints.jobsOut, logger: logger
        )
        self.boundEndpoints = BusEndpoints(
            events: eventsEndpoint, updates: clone.boundUpdates, snapshot: clone.boundSnapshot,
            jobsIn: streamer.boundInput, jobsOut: streamer.boundOutput
        )
        (outbox, outboxWriter) = AsyncStream.makeStream(of: Outgoing.self)
    }

    public func run() async throws {
        logger.info("registry running", metadata: ["epoch": "\(epoch)", "events": "\(boundEndpoints.events)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.consumeEvents() }
            group.addTask { await self.publishUpdates() }
            group.addTask {
                await self.clone.serveSnapshots { self.snapshot() }
            }
            group.addTask { await self.streamer.run() }
            group.addTask { await self.every(self.settings.hugzInterval) { await self.beat() } }
            group.addTask { await self.every(self.settings.cleanupInterval) { self.sweepAgents() } }
            group.addTask { await self.every(.milliseconds(500)) { self.sweepPeers() } }
            // Runs until graceful shutdown (SIGTERM) or cancellation, then stops every loop.
            try? await gracefulShutdown()
            group.cancelAll()
            outboxWriter.finish()
        }
        logger.info("registry stopped")
    }

    /// Current agents (for tests and the embedded `serve`).
    public var agents: [AgentRecord] { core.withLock { Array($0.table.records.values) } }

    /// A consistent copy of the table and the sequence of its last change (Clone rule 2).
    private func snapshot() -> (seq: UInt64, records: [AgentRecord]) {
        core.withLock { core in (core.table.seq, Array(core.table.records.values)) }
    }

    // MARK: Loops

    private func consumeEvents() async {
        do {
            for await batch in try events.receiver() {
                let now = Date()
                let instant = ContinuousClock.now
                var decoded: [BusEvent] = []
                decoded.reserveCapacity(batch.count)
                for message in batch {
                    do {
                        decoded.append(try BusEvent(message: message))
                    } catch {
                        core.withLock { $0.malformedEvents += 1 }
                        logger.warning("bus event refused", metadata: ["error": "\(error)"])
                    }
                }
                core.withLock { core in
                    for event in decoded {
                        if core.peers.heard(event, at: instant) {
                            logPeer(event)
                        }
                        if let close = Self.supersededSession(by: event, in: core.table) {
                            logger.warning("duplicate agent id: closing the older session", metadata: [
                                "agent": "\(close.command.agentId)", "gateway": "\(close.gatewayId)",
                                "session": "\(close.command.sessionId)",
                            ])
                            outboxWriter.yield(.command(gatewayId: close.gatewayId, .closeSession(close.command)))
                        }
                        for update in core.table.apply(event, now: now) {
                            logTransition(update, cause: event)
                            // Yielding under the lock keeps the outbox in sequence order.
                            outboxWriter.yield(.update(update))
                        }
                    }
                }
            }
        } catch {
            logger.error("registry event intake stopped", metadata: ["error": "\(error)"])
        }
    }

    private func publishUpdates() async {
        for await outgoing in outbox {
            do {
                switch outgoing {
                case .update(let update):
                    switch update.change {
                    case .upsert(let record): try await clone.publish(seq: update.seq, record: record)
                    case .delete(let id): try await clone.publishDelete(seq: update.seq, agentId: id)
                    }
                case .command(let gatewayId, let command):
                    try await clone.publishCommand(command, to: gatewayId)
                }
            } catch {
                logger.error("not published", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Duplicate agent ids (zguide has no name for it; the seed deadlocked on it): when an
    /// agent id opens a session while another of its sessions is live, the newest wins and
    /// the older is told to close. A heartbeat from a session already superseded means the
    /// close was lost on the way (PUB is lossy), so it is sent again.
    static func supersededSession(by event: BusEvent, in table: AgentTable) -> (gatewayId: String, command: GatewayCommand.CloseSession)? {
        switch event {
        case .sessionOpened(let opened):
            guard let record = table.records[opened.agent.id], record.state == .online,
                let oldSession = record.sessionId, let oldGateway = record.gatewayId, oldSession != opened.sessionId
            else { return nil }
            return (oldGateway, .init(
                sessionId: oldSession, agentId: opened.agent.id, code: FleetCloseCode.superseded,
                reason: "superseded: agent id \(opened.agent.id) connected again on gateway \(opened.gatewayId)"
            ))
        case .heartbeat(let beat):
            guard let record = table.records[beat.agentId], let current = record.sessionId, current != beat.sessionId else {
                return nil
            }
            return (beat.gatewayId, .init(
                sessionId: beat.sessionId, agentId: beat.agentId, code: FleetCloseCode.superseded,
                reason: "superseded: agent id \(beat.agentId) has a newer session"
            ))
        default:
            return nil
        }
    }

    private func beat() async {
        let seq = core.withLock { $0.table.seq }
        try? await clone.publishHugz(seq: seq)
    }

    private func sweepAgents() {
        let timeout = Self.seconds(settings.heartbeatTimeout)
        core.withLock { core in
            for update in core.table.sweep(now: Date(), timeout: timeout) {
                logTransition(update, cause: nil)
                outboxWriter.yield(.update(update))
            }
        }
    }

    private func sweepPeers() {
        core.withLock { core in
            let lost = core.peers.expire(now: .now, timeout: settings.peerTimeout)
            for gateway in lost.gateways {
                logger.warning("gateway lost", metadata: ["gateway": "\(gateway)"])
                for update in core.table.gatewayLost(gateway, now: Date()) {
                    logTransition(update, cause: nil)
                    outboxWriter.yield(.update(update))
                }
            }
            for worker in lost.workers {
                logger.warning("callback-worker lost", metadata: ["worker": "\(worker)"])
            }
        }
    }

    private func every(_ interval: Duration, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await body()
        }
    }

    // MARK: Logging

    private func logTransition(_ update: AgentTable.Update, cause: BusEvent?) {
        guard case .upsert(let record) = update.change else { return }
        if case .heartbeat = cause, record.stateReason != "heartbeat resumed" { return }
        logger.info(
            "agent \(record.state.rawValue)",
            metadata: [
                "agent": "\(record.id)", "host": "\(record.hostname)", "reason": "\(record.stateReason ?? "")",
                "seq": "\(update.seq)",
            ]
        )
    }

    private func logPeer(_ event: BusEvent) {
        switch event {
        case .gatewayHeartbeat(let beat): logger.info("gateway joined", metadata: ["gateway": "\(beat.gatewayId)"])
        case .sessionOpened(let opened): logger.info("gateway joined", metadata: ["gateway": "\(opened.gatewayId)"])
        case .workerHeartbeat(let beat): logger.info("callback-worker joined", metadata: ["worker": "\(beat.workerId)"])
        default: break
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
