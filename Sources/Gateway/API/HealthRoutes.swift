import Bus
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket

/// `/healthz` (the process is up) and `/readyz` (it can serve correct fleet data: the
/// replica is synced and the registry was heard from recently).
struct HealthRoutes {
    let replica: CloneReplica
    let gatewayId: String
    /// The registry beats every second; this much silence means it is gone or cut off.
    static let registrySilenceLimit = 5.0

    struct Health: Codable {
        var status: String
        var gatewayId: String
        var replica: ReplicaStatus?
    }

    struct ReplicaStatus: Codable {
        var synced: Bool
        var seq: UInt64
        var epoch: String?
        var secondsSinceRegistry: Double?
        var resyncs: Int
        var agents: Int
    }

    func register(on router: Router<BasicWebSocketRequestContext>) {
        router.get("healthz") { _, _ in
            try JSONBody.response(Health(status: "ok", gatewayId: gatewayId, replica: nil))
        }
        router.get("readyz") { _, _ in
            let status = replica.status
            let heard = status.secondsSinceHeard.map { $0 < Self.registrySilenceLimit } ?? false
            let ready = status.synced && heard
            let body = Health(
                status: ready ? "ready" : "not ready", gatewayId: gatewayId,
                replica: ReplicaStatus(
                    synced: status.synced, seq: status.seq, epoch: status.epoch,
                    secondsSinceRegistry: status.secondsSinceHeard, resyncs: status.resyncs, agents: status.agents
                )
            )
            return try JSONBody.response(body, status: ready ? .ok : .serviceUnavailable)
        }
    }
}
