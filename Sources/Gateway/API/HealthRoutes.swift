import Bus
import FleetProtocol
import HTTPTypes
import Hummingbird
import NIOCore

/// `/healthz` (the process is up) and `/readyz` (it can serve correct fleet data: the
/// replica is synced and the registry was heard from recently).
struct HealthRoutes {
    let replica: CloneReplica
    let registry: RegistryClient
    let gatewayId: String
    /// The registry beats every second; this much silence means it is gone or cut off.
    static let registrySilenceLimit = 5.0

    struct Health: Codable {
        var status: String
        var gatewayId: String
        var replica: ReplicaStatus?
        /// The bus as the registry sees it (nil if it did not answer within a second).
        var bus: BusPeers?
        var warnings: [String]?
    }

    struct ReplicaStatus: Codable {
        var synced: Bool
        var seq: UInt64
        var epoch: String?
        var secondsSinceRegistry: Double?
        var resyncs: Int
        var agents: Int
    }

    /// The registry's store: failing writes (kept and retried, but not durable until they
    /// land) and a corrupt file found at start make the registry degraded.
    static func warnings(_ store: StoreStatus) -> [String] {
        var warnings: [String] = []
        if !store.ok {
            let since = store.failingSince.map { " since \(FleetJSON.format($0))" } ?? ""
            warnings.append(
                "the registry cannot write its store\(since): \(store.error ?? "unknown error") (\(store.pendingRows) rows kept for retry)"
            )
        }
        if let corrupt = store.corrupt {
            warnings.append(
                "the registry's store was corrupt at \(FleetJSON.format(corrupt.at)) (\(corrupt.reason)): moved aside to \(corrupt.movedTo), started from empty"
            )
        }
        return warnings
    }

    func register(on router: Router<GatewayRequestContext>) {
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: OpenAPISpec.yaml)))
        }
        router.get("healthz") { _, _ in
            try JSONBody.response(Health(status: "ok", gatewayId: gatewayId, replica: nil))
        }
        // Ready = the fleet data this gateway serves is current. Not ready (503) when the
        // replica is out of sync or the registry silent; "degraded" (still 200: agents and
        // reads work) when no callback-worker is alive, since callbacks would not complete, or
        // when the registry's store fails its writes or was found corrupt at start.
        router.get("readyz") { _, _ in
            let status = replica.status
            let heard = status.secondsSinceHeard.map { $0 < Self.registrySilenceLimit } ?? false
            let ready = status.synced && heard
            var peers: BusPeers?
            if case .success(let body) = await registry.query(RegistryQuery.Peers.kind, RegistryQuery.Peers(), timeout: .seconds(1)) {
                peers = try? FleetJSON.decode(BusPeers.self, from: body)
            }
            var warnings: [String] = []
            if !ready { warnings.append(status.synced ? "the registry has been silent" : "the fleet replica is not in sync") }
            if let peers, peers.workers.isEmpty { warnings.append("no callback-worker is alive: callbacks will not complete") }
            if peers == nil { warnings.append("the registry did not answer the peers query") }
            if let store = peers?.store {
                warnings += Self.warnings(store)
            }
            let body = Health(
                status: !ready ? "not ready" : (warnings.isEmpty ? "ready" : "degraded"), gatewayId: gatewayId,
                replica: ReplicaStatus(
                    synced: status.synced, seq: status.seq, epoch: status.epoch,
                    secondsSinceRegistry: status.secondsSinceHeard, resyncs: status.resyncs, agents: status.agents
                ),
                bus: peers, warnings: warnings.isEmpty ? nil : warnings
            )
            return try JSONBody.response(body, status: ready ? .ok : .serviceUnavailable)
        }
    }
}
