import Hummingbird
import HummingbirdWebSocket

/// Guards the admin API: every route behind it needs an admin bearer token.
/// 401 for missing or unknown credentials, 403 for a valid token of the wrong scope.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = BasicWebSocketRequestContext
    let tokens: GatewayTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch tokens.check(request.headers, for: .admin) {
        case .allowed:
            return try await next(request, context)
        case .unauthenticated(let message):
            throw APIError(status: .unauthorized, code: "unauthorized", message: message)
        case .forbidden(let message):
            throw APIError(status: .forbidden, code: "forbidden", message: message)
        }
    }
}
