import Bus
import Hummingbird

/// 503 for everything that reads the fleet until this gateway's replica has applied its
/// first snapshot: before that its copy is empty, so it would answer a fleet read with an empty
/// list, a callback with 404 and an admin key with 401, all wrong and all believed. A later
/// resync (a gap, a new registry epoch) keeps serving the previous copy meanwhile.
struct ReplicaReadyMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let replica: CloneReplica

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try Self.check(replica)
        return try await next(request, context)
    }

    static func check(_ replica: CloneReplica) throws {
        guard replica.hasSynced else {
            throw APIError(
                status: .serviceUnavailable, code: "not_synced",
                message: "this gateway has not received the fleet state from the registry yet; retry in a moment",
                headers: [.retryAfter: "1"]
            )
        }
    }
}
