import Bus
import FleetProtocol
@testable import Registry
import Testing
import ZeroMQ

/// The bus's security decisions as pure values: which roles may send which event kinds,
/// which keys each socket's ZAP domain admits, and which endpoints count as local.
@Suite("Bus security: role policy, ZAP decisions, local endpoints")
struct BusSecurityTests {
    /// Every kind the decoder knows, from one sample each (a new case must be added here too,
    /// and then the test below fails until the policy table says who may send it).
    static let allKinds = [
        "session.opened", "session.heartbeat", "session.closed", "session.samples", "gateway.heartbeat",
        "worker.heartbeat", "request.created", "request.result", "agent.delete", "agent.approve", "agent.revoke",
        "key.created", "key.revoked", "audit.record", HeartbeatBatch.kind,
    ]

    @Test("every event kind has a line in the policy table; gateways and workers each send only their own")
    func policyTable() {
        for kind in Self.allKinds {
            #expect(BusPolicy.eventSenders[kind]?.isEmpty == false, "\(kind) has no senders in BusPolicy.eventSenders")
        }
        #expect(Set(BusPolicy.eventSenders.keys) == Set(Self.allKinds))
        for kind in [
            "session.opened", "session.heartbeat", HeartbeatBatch.kind, "session.closed", "session.samples", "request.created", "agent.delete", "gateway.heartbeat",
            "agent.approve", "agent.revoke", "key.created", "key.revoked", "audit.record",
        ] {
            #expect(BusPolicy.allows(kind: kind, role: .gateway))
            #expect(!BusPolicy.allows(kind: kind, role: .worker), "a worker must not send \(kind)")
        }
        for kind in ["request.result", "worker.heartbeat"] {
            #expect(BusPolicy.allows(kind: kind, role: .worker))
            #expect(!BusPolicy.allows(kind: kind, role: .gateway), "a gateway must not send \(kind)")
        }
        #expect(!BusPolicy.allows(kind: "request.deleted.everything", role: .gateway), "unknown kinds are refused from everyone")
    }

    @Test("each socket admits only the roles that belong on it")
    func socketPeers() {
        #expect(BusPolicy.admits(.gateway, on: .events) && BusPolicy.admits(.worker, on: .events))
        for socket in [BusSocket.updates, .snapshot, .jobsIn] {
            #expect(BusPolicy.admits(.gateway, on: socket) && !BusPolicy.admits(.worker, on: socket))
        }
        for socket in [BusSocket.jobsOut, .blobs] {
            #expect(BusPolicy.admits(.worker, on: socket) && !BusPolicy.admits(.gateway, on: socket))
        }
    }

    func request(domain: String, mechanism: String = "CURVE", key: [UInt8]?) -> [[UInt8]] {
        var frames = [Array("1.0".utf8), Array("1".utf8), Array(domain.utf8), Array("10.0.0.7".utf8), [], Array(mechanism.utf8)]
        if let key { frames.append(key) }
        return frames
    }

    @Test("ZAP: a listed key is admitted on its sockets with User-Id role:name, refused elsewhere; strangers and non-CURVE refused")
    func zapDecisions() throws {
        let gateway = try CurveKeyPair.generate().publicKey
        let worker = try CurveKeyPair.generate().publicKey
        let stranger = try CurveKeyPair.generate().publicKey
        let authorizer = ZAPAuthorizer(peers: [
            BusPeerKey(role: .gateway, name: "gateway-1", key: gateway), BusPeerKey(role: .worker, name: "worker-1", key: worker),
        ])
        let admitted = authorizer.decide(request(domain: "updates", key: gateway.bytes))
        #expect(admitted.outcome == .admitted(role: .gateway, name: "gateway-1"))
        #expect(admitted.reply == [Array("1.0".utf8), Array("1".utf8), Array("200".utf8), Array("OK".utf8), Array("gateway:gateway-1".utf8), []])
        #expect(BusRole(userId: "gateway:gateway-1") == .gateway && BusRole(userId: "worker") == .worker && BusRole(userId: "registry") == nil)

        #expect(authorizer.decide(request(domain: "jobs_out", key: worker.bytes)).outcome == .admitted(role: .worker, name: "worker-1"))
        #expect(authorizer.decide(request(domain: "jobs_out", key: gateway.bytes)).outcome == .refused(.roleNotAllowed))
        #expect(authorizer.decide(request(domain: "updates", key: worker.bytes)).outcome == .refused(.roleNotAllowed))
        #expect(authorizer.decide(request(domain: "snapshot", key: worker.bytes)).outcome == .refused(.roleNotAllowed))
        let refused = authorizer.decide(request(domain: "events", key: stranger.bytes))
        #expect(refused.outcome == .refused(.unknownKey))
        #expect(refused.reply[2] == Array("400".utf8) && refused.reply[4].isEmpty, "a refusal names nobody")
        #expect(authorizer.decide(request(domain: "events", mechanism: "NULL", key: nil)).outcome == .refused(.notCurve))
        #expect(authorizer.decide(request(domain: "elsewhere", key: gateway.bytes)).outcome == .refused(.unknownDomain))
        #expect(authorizer.decide(request(domain: "events", key: [1, 2, 3])).outcome == .refused(.malformed))
        #expect(authorizer.decide([Array("2.0".utf8)]).outcome == .refused(.malformed))
    }

    @Test("event intake: with keys, each kind only from its role (User-Id); without keys, everything")
    func eventAuthorization() {
        let enforced = EventAuthorization(enforced: true)
        func message(_ kind: String, from userId: String?) -> BusMessage {
            BusMessage([Array(kind.utf8), Array("{}".utf8)], userId: userId)
        }
        #expect(enforced.refusal(for: message("session.opened", from: "gateway:gateway-1")) == nil)
        #expect(enforced.refusal(for: message("request.result", from: "worker:worker-1")) == nil)
        #expect(enforced.refusal(for: message("session.opened", from: "worker:worker-1"))
            == .init(kind: "session.opened", role: "worker", userId: "worker:worker-1"))
        #expect(enforced.refusal(for: message("request.created", from: "worker:worker-1"))?.role == "worker")
        #expect(enforced.refusal(for: message("request.result", from: "gateway:gateway-2"))?.kind == "request.result")
        #expect(enforced.refusal(for: message("request.result", from: nil))?.role == "none", "untagged traffic is refused when keys are on")
        #expect(enforced.refusal(for: message("made.up \u{1F4A5}", from: "gateway:g"))?.kind == "unknown", "labels never carry a sender's text")
        let open = EventAuthorization(enforced: false)
        #expect(open.refusal(for: message("session.opened", from: nil)) == nil)
        #expect(open.refusal(for: message("request.result", from: "worker:w")) == nil)
    }

    @Test("local endpoints: inproc, ipc and loopback tcp; everything else is a network")
    func localEndpoints() {
        for endpoint in ["inproc://fleet.events", "ipc:///run/fleet.sock", "tcp://127.0.0.1:5701", "tcp://127.9.8.7:*",
                         "tcp://localhost:5701", "tcp://[::1]:5701", "tcp://10.0.0.1;127.0.0.1:5701"] {
            #expect(BusEndpoints.isLocal(endpoint), "\(endpoint) is local")
        }
        for endpoint in ["tcp://0.0.0.0:5701", "tcp://*:5701", "tcp://10.0.0.5:5701", "tcp://eth0:5701", "tcp://registry:5701",
                         "tcp://[::]:5701", "tcp://127.0.0.1.example.com:5701", "tcp://127.0.0.1;10.0.0.1:5701", "tcp://128.0.0.1:1",
                         "pgm://eth0;239.192.1.1:5555", "tcp://127.0.0:5701"] {
            #expect(!BusEndpoints.isLocal(endpoint), "\(endpoint) is a network")
        }
    }
}
