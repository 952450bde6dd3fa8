import ArgumentParser
import Bus
import FleetProtocol
import Foundation
import Logging
import ZeroMQ

/// Which side of the bus a `master` subcommand is on, and the sockets it uses.
enum BusSide: String {
    case registry, gateway, worker

    var sockets: Set<BusSocket> {
        switch self {
        case .registry: Set(BusSocket.allCases)
        case .gateway: [.events, .updates, .snapshot, .jobsIn]
        case .worker: [.events, .jobsOut, .blobs]
        }
    }
}

extension RoleSupport {
    /// The bus security of a split role, from `bus.curve.*` and `bus.insecure`.
    ///
    /// Without keys, a `tcp://` endpoint this role binds or connects to that is not loopback
    /// makes it refuse to start (exit status 2) unless `bus.insecure: true`: an open bus on a
    /// network lets anyone create requests for every agent and read reply tokens.
    static func busSecurity(_ config: MasterConfig, side: BusSide, logger: Logger) throws -> BusSecurity {
        do {
            return try resolveBusSecurity(config, side: side, logger: logger)
        } catch let failure as BusKeyFiles.Failure {
            FileHandle.standardError.write(Data("master: bus.curve: \(failure)\n".utf8))
            throw ExitCode(2)
        } catch let error as CurveError {
            FileHandle.standardError.write(Data("master: bus.curve: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    private static func resolveBusSecurity(_ config: MasterConfig, side: BusSide, logger: Logger) throws -> BusSecurity {
        let curve = config.bus.curve
        guard !curve.dir.isEmpty else {
            let open = config.bus.keyedEndpoints.filter { side.sockets.contains($0.socket) && !BusEndpoints.isLocal($0.endpoint) }
            guard let first = open.first else { return .none }
            guard config.bus.insecure else {
                FileHandle.standardError.write(Data("""
                    master: \(first.key) is \(first.endpoint), not a loopback address, and the bus has no CURVE keys: \
                    anyone who can reach it could create requests for every agent, forge their results and read reply \
                    tokens. Make keys with `master keys generate --dir DIR` and set bus.curve.dir on every role, or set \
                    bus.insecure: true if every host that can reach the bus is trusted.\n
                    """.utf8))
                throw ExitCode(2)
            }
            logger.warning("the bus is OPEN on a network (bus.insecure: true): anyone who reaches it controls the fleet", metadata: [
                "endpoints": "\(open.map(\.endpoint).joined(separator: ", "))",
            ])
            return .none
        }
        try Curve.requireAvailable()
        switch side {
        case .registry:
            let name = curve.key.isEmpty ? BusKeyFiles.registryName : curve.key
            let keyPair = try BusKeyFiles.keyPair(dir: curve.dir, name: name)
            let peers = try BusKeyFiles.peers(dir: curve.dir)
            guard !peers.isEmpty else {
                throw BusKeyFiles.Failure(description: "no gateway*.pub or worker*.pub in \(curve.dir): the registry would admit nobody")
            }
            logger.info("bus: CURVE on", metadata: [
                "key": "\(name)", "public": "\(keyPair.publicKey)",
                "gateways": "\(peers.filter { $0.role == .gateway }.map(\.name).joined(separator: ","))",
                "workers": "\(peers.filter { $0.role == .worker }.map(\.name).joined(separator: ","))",
            ])
            return .curve(BusCurve(keyPair: keyPair, registryKey: keyPair.publicKey, peers: peers))
        case .gateway, .worker:
            let role: BusRole = side == .gateway ? .gateway : .worker
            let name: String
            if curve.key.isEmpty {
                let candidates = BusKeyFiles.secretNames(dir: curve.dir, role: role)
                guard candidates.count == 1 else {
                    throw BusKeyFiles.Failure(description: candidates.isEmpty
                        ? "no \(role.rawValue)*.key in \(curve.dir)"
                        : "several \(role.rawValue) keys in \(curve.dir) (\(candidates.joined(separator: ", "))): set bus.curve.key to this \(role.rawValue)'s")
                }
                name = candidates[0]
            } else {
                name = curve.key
            }
            // The registry tells roles apart by file name: a key named otherwise would be
            // admitted as the wrong role, or not at all.
            guard BusKeyFiles.role(ofName: name) == role else {
                throw BusKeyFiles.Failure(description: "bus.curve.key '\(name)' is not a \(role.rawValue) key (its name must start with '\(role.rawValue)')")
            }
            let keyPair = try BusKeyFiles.keyPair(dir: curve.dir, name: name)
            let registryKey = try BusKeyFiles.publicKey(dir: curve.dir, name: BusKeyFiles.registryName)
            logger.info("bus: CURVE on", metadata: ["key": "\(name)", "public": "\(keyPair.publicKey)", "registry": "\(registryKey)"])
            return .curve(BusCurve(keyPair: keyPair, registryKey: registryKey))
        }
    }
}
