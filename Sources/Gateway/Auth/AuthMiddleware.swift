import FleetProtocol
import Hummingbird

/// Guards the admin API: every route behind it needs a key whose role includes `minimum`
/// (401 for missing, unknown or revoked keys; 403 for an enrollment token or a role too
/// low). Routes that need more check `context.caller().require(...)` themselves, because for
/// some (callbacks) what is needed depends on the body.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let keys: KeyRing
    var minimum: KeyRole = .viewer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch keys.authenticate(request.headers) {
        case .failure(let error):
            throw error
        case .success(let principal):
            try principal.require(minimum, for: "\(request.method) \(request.uri.path)")
            var context = context
            context.principal = principal
            return try await next(request, context)
        }
    }
}
