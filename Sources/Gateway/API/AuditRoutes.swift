#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import Hummingbird
import NIOCore

/// `GET /api/v1/audit?since=RFC3339&agent=ID&limit=N` (admin): the audit log from the
/// registry's store, newest first; a key for one tenant sees that tenant's lines only.
struct AuditRoutes {
    let registry: RegistryClient

    func register(on api: RouterGroup<GatewayRequestContext>) {
        api.get("audit") { request, context in
            let caller = try context.caller()
            try caller.require(.admin, for: "reading the audit log")
            let query = request.uri.queryParameters
            var since: Date?
            if let text = query["since"] {
                guard let parsed = RFC3339.parse(text) else { throw APIError.badRequest("since must be an RFC 3339 time") }
                since = parsed
            }
            let limit = try FleetRoutes.integer(query["limit"], name: "limit", default: 1000, range: 1...10_000)
            let agent = query["agent"].map(String.init)
            let audit = RegistryQuery.Audit(tenant: caller.tenant, agentId: agent, since: since, limit: limit)
            switch await registry.query(RegistryQuery.Audit.kind, audit) {
            case .success(let body):
                let entries = try FleetJSON.decode([AuditEntry].self, from: body)
                return try JSONBody.response(AuditListResponse(entries: entries))
            case .failure(let error):
                let unavailable = ["timeout", "unavailable"].contains(error.code)
                throw APIError(status: unavailable ? .serviceUnavailable : .internalServerError, code: error.code, message: error.message)
            }
        }
    }
}
