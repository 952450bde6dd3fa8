import FleetProtocol
import Foundation
import Registry
import Testing

/// The registry's enrollment and credential decisions, and what they do to the agent table,
/// without a process: who may bind an id, how often, and what revoking and approving change.
@Suite("Registry access table: enrollment, credentials, approval, revocation")
struct AccessTableTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func opened(_ id: String = "web-1", session: String = "s1", auth: SessionAuth?) -> BusEvent.SessionOpened {
        BusEvent.SessionOpened(
            gatewayId: "gw-a", sessionId: session,
            agent: AgentInfo(id: id, hostname: "\(id).example", os: OSInfo(name: "Debian", version: "12", kernel: "6.1", arch: "x86_64"), agentVersion: "1"),
            metrics: nil, auth: auth
        )
    }

    func enrollment(_ digest: String, key: String = AccessTable.bootstrapEnrollment, tenant: String = Tenant.default) -> SessionAuth {
        .enrollment(.init(keyId: key, tenant: tenant, secretSHA256: digest))
    }

    @Test("first session with an enrollment token binds the id; the same enrollment again is the same agent; another digest is refused")
    func enroll() throws {
        var table = AccessTable(settings: .init())
        guard case .admitted(let credential, issued: true) = table.admit(opened(auth: enrollment("aa")), now: now) else {
            Issue.record("first enrollment not admitted")
            return
        }
        #expect(credential.secretSHA256 == "aa" && credential.tenant == Tenant.default && credential.approved)
        // A gateway re-announcing the session to a restarted registry: the same digest.
        let again = table.admit(opened(auth: enrollment("aa")), now: now)
        #expect(again == .admitted(credential, issued: false))
        // A second host with the enrollment token claiming the taken id.
        guard case .refused(let reason) = table.admit(opened(session: "s2", auth: enrollment("bb")), now: now) else {
            Issue.record("a second digest for a taken id was admitted")
            return
        }
        #expect(reason.contains("already enrolled"))
        // Credential sessions need a credential record.
        let withCredential = table.admit(opened(auth: .credential), now: now)
        #expect(withCredential == .admitted(credential, issued: false))
        guard case .refused = table.admit(opened("web-2", auth: .credential), now: now) else {
            Issue.record("a credential session for an unknown id was admitted")
            return
        }
    }

    @Test("with authentication on, an unauthenticated session is refused; with it off, it is open")
    func unauthenticated() {
        var on = AccessTable(settings: .init(enabled: true))
        guard case .refused = on.admit(opened(auth: nil), now: now) else {
            Issue.record("unauthenticated session admitted")
            return
        }
        var off = AccessTable(settings: .init(enabled: false))
        let open = off.admit(opened(auth: SessionAuth.none), now: now)
        #expect(open == .open)
    }

    @Test("an enrollment token's cap counts enrolled agents; a revoked or unknown token enrolls nobody; tenants must match")
    func tokens() throws {
        let key = APIKeyRecord(id: "k-1", name: "lab", role: .enrollment, tenant: "lab", secretSHA256: "kk", createdAt: now, maxAgents: 2)
        var table = AccessTable(settings: .init())
        let created = table.create(key)
        #expect(created == key)
        let twice = table.create(key)
        #expect(twice == nil, "an id is taken once")
        for (index, id) in ["a", "b"].enumerated() {
            guard case .admitted(let credential, true) = table.admit(opened(id, session: "s\(index)", auth: enrollment(id, key: "k-1", tenant: "lab")), now: now) else {
                Issue.record("\(id) not enrolled")
                return
            }
            #expect(credential.tenant == "lab" && credential.enrolledWith == "k-1")
        }
        guard case .refused(let reason) = table.admit(opened("c", auth: enrollment("c", key: "k-1", tenant: "lab")), now: now) else {
            Issue.record("cap not enforced")
            return
        }
        #expect(reason.contains("limit of 2"))
        guard case .refused = table.admit(opened("d", auth: enrollment("d", key: "k-1", tenant: "other")), now: now) else {
            Issue.record("a tenant that is not the token's was accepted")
            return
        }
        guard case .refused = table.admit(opened("e", auth: enrollment("e", key: "k-nope", tenant: "lab")), now: now) else {
            Issue.record("an unknown token enrolled an agent")
            return
        }
        let bootstrapCapped = AccessTable.Settings(bootstrapMaxAgents: 1)
        var capped = AccessTable(settings: bootstrapCapped)
        _ = capped.admit(opened("x", auth: enrollment("x")), now: now)
        guard case .refused = capped.admit(opened("y", auth: enrollment("y")), now: now) else {
            Issue.record("auth.max_agents not enforced on the bootstrap token")
            return
        }
        let revokedKey = table.revokeKey("k-1", now: now)
        #expect(revokedKey?.revokedAt == now)
        var fresh = table
        guard case .refused(let revoked) = fresh.admit(opened("f", auth: enrollment("f", key: "k-1", tenant: "lab")), now: now) else {
            Issue.record("a revoked token enrolled an agent")
            return
        }
        #expect(revoked.contains("revoked"))
        let tenantless = table.create(APIKeyRecord(id: "k-2", name: "x", role: .enrollment, tenant: nil, secretSHA256: "z", createdAt: now))
        #expect(tenantless == nil, "an enrollment token needs a tenant")
    }

    @Test("approval mode: enrolled agents start unapproved and pending; approve makes them online")
    func approval() throws {
        var access = AccessTable(settings: .init(approvalRequired: true))
        let event = opened(auth: enrollment("aa"))
        guard case .admitted(let credential, true) = access.admit(event, now: now) else {
            Issue.record("not admitted")
            return
        }
        #expect(!credential.approved)
        var agents = AgentTable()
        let opened = agents.apply(.sessionOpened(event), now: now, credential: credential)
        let pending = try #require(opened.last)
        #expect(pending.state == .pending && pending.tenant == Tenant.default)
        // Heartbeats keep it pending; a sweep does not make it offline; a close keeps it pending.
        let beat = agents.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: try RawSnapshot(MetricsSnapshot(timestamp: now, seq: 2))), now: now + 1)
        #expect(beat == .accepted(changed: nil), "a beat is taken, with no change of state")
        #expect(agents.records["web-1"]?.state == .pending)
        let swept = agents.sweep(now: now + 10_000, timeout: 600)
        #expect(swept.isEmpty)
        let approved = access.approve("web-1", by: "ops")
        #expect(approved?.approved == true)
        let again = access.approve("web-1", by: "ops")
        #expect(again == nil, "approving twice changes nothing")
        let approvedRecord = agents.approved("web-1", by: "ops", now: now + 2)
        let online = try #require(approvedRecord)
        #expect(online.state == .online && online.stateReason == "approved by ops")
    }

    @Test("revoking: the credential is refused from then on, the agent is revoked for good and its session is named for closing")
    func revoke() throws {
        var access = AccessTable(settings: .init())
        let event = opened(auth: enrollment("aa"))
        guard case .admitted(let credential, true) = access.admit(event, now: now) else {
            Issue.record("not admitted")
            return
        }
        var agents = AgentTable()
        _ = agents.apply(.sessionOpened(event), now: now, credential: credential)
        let first = access.revoke("web-1", by: "ops", now: now)
        #expect(first?.revokedBy == "ops")
        let second = access.revoke("web-1", by: "ops", now: now)
        #expect(second == nil)
        let revokedRecord = agents.revoked("web-1", by: "ops", now: now)
        let revoked = try #require(revokedRecord)
        #expect(revoked.record.state == .revoked && revoked.record.sessionId == nil)
        #expect(revoked.session?.gatewayId == "gw-a" && revoked.session?.sessionId == "s1")
        for auth in [SessionAuth.credential, enrollment("aa"), enrollment("bb")] {
            guard case .refused(let reason) = access.admit(opened(session: "s9", auth: auth), now: now) else {
                Issue.record("a revoked id was admitted with \(auth)")
                return
            }
            #expect(reason.contains("revoked"))
        }
        // Heartbeats of the old session do not bring it back, and the sweep leaves it alone.
        let lateBeat = agents.apply(.heartbeat(.init(gatewayId: "gw-a", sessionId: "s1", agentId: "web-1", metrics: try RawSnapshot(MetricsSnapshot(timestamp: now, seq: 3)))), now: now + 1)
        #expect(lateBeat.isEmpty)
        let lateSweep = agents.sweep(now: now + 10_000, timeout: 600)
        #expect(lateSweep.isEmpty)
    }

    @Test("roles: each includes the ones below it; enrollment is apart; what each request kind needs")
    func roles() {
        #expect(KeyRole.admin.includes(.operator) && KeyRole.admin.includes(.viewer) && KeyRole.operator.includes(.viewer))
        #expect(!KeyRole.viewer.includes(.operator) && !KeyRole.operator.includes(.admin))
        #expect(!KeyRole.enrollment.includes(.viewer) && !KeyRole.admin.includes(.enrollment))
        #expect(KeyRole.needed(for: .status) == .operator && KeyRole.needed(for: .logs) == .operator)
        #expect([CallbackKind.exec, .config, .restart].allSatisfy { KeyRole.needed(for: $0) == .admin })
        #expect(Tenant.isValid("team-a_1") && !Tenant.isValid("Team") && !Tenant.isValid("") && !Tenant.isValid("a/b"))
    }
}
