#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Bus
import FleetProtocol
import HTTPTypes
import Hummingbird
import Logging

/// Writes one audit line for every mutating admin call (POST, PUT, PATCH, DELETE), after it
/// was answered, refusals (403, 404, 409) included: who (the key), from where, what (the
/// action and a digest of its arguments), on which agent, and the status. It sits behind
/// `AuthMiddleware`, so every call it sees has a key; calls without a valid key are counted
/// by the refusal metrics instead (anyone can make those, and they must not fill the log).
struct AuditMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let events: EventSender
    let gatewayId: String
    let logger: Logger

    static let mutating: Set<HTTPRequest.Method> = [.post, .put, .patch, .delete]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.mutating.contains(request.method), let principal = context.principal else {
            return try await next(request, context)
        }
        do {
            let response = try await next(request, context)
            await record(request, context, principal, status: Int(response.status.code), outcome: "ok")
            return response
        } catch let error as APIError {
            await record(request, context, principal, status: Int(error.status.code), outcome: error.code)
            throw error
        } catch let error as HTTPError {
            await record(request, context, principal, status: Int(error.status.code), outcome: "error")
            throw error
        } catch {
            await record(request, context, principal, status: 500, outcome: "internal")
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, _ principal: Principal, status: Int, outcome: String) async {
        let note = context.exchange.withState { $0.audit }
        let entry = AuditEntry(
            at: Date(), keyId: principal.keyId, keyName: principal.name, tenant: note.tenant ?? principal.tenant,
            source: context.source, gatewayId: gatewayId,
            action: note.action ?? "\(request.method.rawValue.lowercased()) \(request.uri.path)",
            agentId: note.agentId, requestId: note.requestId, argsSHA256: note.argsSHA256, status: status, outcome: outcome
        )
        do {
            try await events.send(.audit(entry))
        } catch {
            logger.error("audit line not sent", metadata: ["action": "\(entry.action)", "error": "\(error)"])
        }
    }
}
