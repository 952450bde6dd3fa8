#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import Hummingbird

/// API keys and enrollment tokens (admin): `POST /api/v1/tokens` makes one and shows its
/// secret once, `GET /api/v1/tokens` lists them (never a secret or digest), `DELETE
/// /api/v1/tokens/{id}` revokes one. A key for one tenant can only make and see keys of that
/// tenant; the bootstrap tokens from the configuration are not listed and cannot be revoked
/// here (change the configuration).
struct TokenRoutes {
    let replica: CloneReplica
    let events: EventSender
    let waiters: ReplicaWaiters<APIKeyRecord>

    static let visibleWithin: Duration = .seconds(5)

    func register(on api: RouterGroup<GatewayRequestContext>) {
        api.post("tokens") { request, context in try await self.create(request, context: context) }
        api.get("tokens") { _, context in
            let caller = try context.caller()
            try caller.require(.admin, for: "listing keys")
            let keys = replica.keys().filter { caller.tenant == nil || $0.tenant == caller.tenant }
            return try JSONBody.response(APIKeyListResponse(tokens: keys.map(\.summary)))
        }
        api.delete("tokens/{id}") { _, context in try await self.revoke(context.parameters.require("id"), context: context) }
    }

    func create(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let caller = try context.caller()
        context.note(action: "token.create")
        try caller.require(.admin, for: "making keys")
        let bytes = Array(try await request.body.collect(upTo: 65_536).readableBytesView)
        let body: APIKeyCreateRequest
        do {
            body = try FleetJSON.decode(APIKeyCreateRequest.self, from: bytes)
        } catch {
            throw APIError.badRequest("invalid token request: needs role (\(KeyRole.allCases.map(\.rawValue).joined(separator: ", "))) and name")
        }
        context.note(action: "token.create", args: bytes)
        // Counted in code points, as JSON Schema's maxLength does (docs/openapi.yaml).
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...128).contains(body.name.unicodeScalars.count), !name.isEmpty else {
            throw APIError.badRequest("name must be 1 to 128 characters, not only blanks")
        }
        // A key never reaches further than the key that made it.
        var tenant = body.tenant ?? caller.tenant
        if body.role == .enrollment && tenant == nil { tenant = Tenant.default }
        if let tenant {
            guard Tenant.isValid(tenant) else { throw APIError.badRequest("tenant must be 1-64 of a-z, 0-9, '-' and '_'") }
            guard caller.sees(tenant: tenant) else {
                throw APIError(status: .forbidden, code: "forbidden", message: "this key (tenant \(caller.tenant ?? "*")) cannot make keys for tenant \(tenant)")
            }
        } else if caller.tenant != nil {
            throw APIError(status: .forbidden, code: "forbidden", message: "a key of one tenant cannot make a key for every tenant")
        }
        if let maxAgents = body.maxAgents {
            guard body.role == .enrollment else { throw APIError.badRequest("max_agents is for enrollment tokens") }
            guard maxAgents >= 1 else { throw APIError.badRequest("maxAgents must be at least 1") }
        }
        context.note(action: "token.create", tenant: tenant)
        let secret = Secrets.apiKey(role: body.role)
        let record = APIKeyRecord(
            id: Secrets.keyId(), name: name, role: body.role, tenant: tenant, secretSHA256: KeyRing.digest(secret),
            createdAt: Date(), createdBy: caller.name, maxAgents: body.maxAgents
        )
        try await events.send(.keyCreated(record))
        // The secret is handed out once the key works here (and so, moments later, everywhere).
        let replica = self.replica
        guard let stored = await waiters.wait(for: record.id, timeout: Self.visibleWithin, current: { replica.key(id: record.id) }, until: { _ in true }),
            stored.secretSHA256 == record.secretSHA256
        else {
            throw APIError(status: .serviceUnavailable, code: "unavailable", message: "the registry did not confirm the key within \(Self.visibleWithin)")
        }
        var summary = stored.summary
        summary.secret = secret
        return try JSONBody.response(summary, status: .created)
    }

    func revoke(_ id: String, context: GatewayRequestContext) async throws -> Response {
        let caller = try context.caller()
        context.note(action: "token.revoke")
        try caller.require(.admin, for: "revoking keys")
        guard let key = replica.key(id: id), caller.tenant == nil || key.tenant == caller.tenant else {
            throw APIError.notFound("no key with id '\(id)'")
        }
        context.note(action: "token.revoke", tenant: key.tenant)
        if key.revokedAt == nil {
            try await events.send(.keyRevoked(.init(keyId: id, by: caller.name)))
            let replica = self.replica
            guard await waiters.wait(for: id, timeout: Self.visibleWithin, current: { replica.key(id: id) }, until: { $0.revokedAt != nil }) != nil else {
                throw APIError(status: .serviceUnavailable, code: "unavailable", message: "the registry did not confirm within \(Self.visibleWithin)")
            }
        }
        return try JSONBody.response(replica.key(id: id)?.summary ?? key.summary)
    }
}
