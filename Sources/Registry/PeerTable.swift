import FleetProtocol

/// Gateways and callback-workers the registry has heard from, for liveness of the bus
/// itself (Paranoid Pirate style heartbeats: each peer beats every second; silence for
/// `timeout` means gone).
struct PeerTable: Sendable {
    struct Gateway: Sendable {
        var lastSeen: ContinuousClock.Instant
        var sessions: Int
        var httpURL: String?
    }

    struct Worker: Sendable {
        var lastSeen: ContinuousClock.Instant
        var jobsDone: UInt64
    }

    var gateways: [String: Gateway] = [:]
    var workers: [String: Worker] = [:]

    /// Records a beat; returns true when the peer is new (or back).
    mutating func heard(_ event: BusEvent, at now: ContinuousClock.Instant) -> Bool {
        switch event {
        case .gatewayHeartbeat(let beat):
            let isNew = gateways[beat.gatewayId] == nil
            gateways[beat.gatewayId] = Gateway(lastSeen: now, sessions: beat.sessions, httpURL: beat.httpURL)
            return isNew
        case .workerHeartbeat(let beat):
            let isNew = workers[beat.workerId] == nil
            workers[beat.workerId] = Worker(lastSeen: now, jobsDone: beat.jobsDone)
            return isNew
        case .sessionOpened(let opened):
            // A session proves its gateway is alive even before its first beat.
            if gateways[opened.gatewayId] == nil {
                gateways[opened.gatewayId] = Gateway(lastSeen: now, sessions: 1, httpURL: nil)
                return true
            }
            gateways[opened.gatewayId]?.lastSeen = now
            return false
        default:
            return false
        }
    }

    /// What the registry reports about the bus (`peers` query, gateways' /readyz).
    func summary(now: ContinuousClock.Instant) -> BusPeers {
        func seconds(_ since: ContinuousClock.Instant) -> Double { (now - since).inSeconds }
        return BusPeers(
            gateways: gateways.map { .init(id: $0.key, secondsSinceHeard: seconds($0.value.lastSeen), count: UInt64($0.value.sessions)) }
                .sorted { $0.id < $1.id },
            workers: workers.map { .init(id: $0.key, secondsSinceHeard: seconds($0.value.lastSeen), count: $0.value.jobsDone) }
                .sorted { $0.id < $1.id }
        )
    }

    /// Removes and returns the peers silent for longer than `timeout`.
    mutating func expire(now: ContinuousClock.Instant, timeout: Duration) -> (gateways: [String], workers: [String]) {
        let lostGateways = gateways.filter { now - $0.value.lastSeen > timeout }.map(\.key).sorted()
        let lostWorkers = workers.filter { now - $0.value.lastSeen > timeout }.map(\.key).sorted()
        for id in lostGateways { gateways.removeValue(forKey: id) }
        for id in lostWorkers { workers.removeValue(forKey: id) }
        return (lostGateways, lostWorkers)
    }
}
