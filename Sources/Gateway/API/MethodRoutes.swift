import HTTPTypes
import Hummingbird

/// A method a routed path does not have is answered 405 with an `Allow` header (RFC 9110
/// section 15.5.6), and OPTIONS 204 with `Allow`, instead of the router's bare 404 that
/// reads as "no such path". Built from the router's own table, so it must be registered
/// after every other route (the dashboard's and the agents' WebSocket included).
enum MethodRoutes {
    /// The methods answered this way; others (extension methods) keep the router's 404.
    static let known: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options, .trace, .init("QUERY")!]

    static func register(on router: Router<GatewayRequestContext>) {
        var paths: [(path: RouterPath, methods: Set<HTTPRequest.Method>)] = []
        for route in router.routes {
            if let index = paths.firstIndex(where: { $0.path == route.path }) {
                paths[index].methods.insert(route.method)
            } else {
                paths.append((route.path, [route.method]))
            }
        }
        for (path, methods) in paths {
            let allow = known.filter { methods.contains($0) || $0 == .options }.map(\.rawValue).joined(separator: ", ")
            let headers: HTTPFields = [.allow: allow]
            for method in known where !methods.contains(method) {
                if method == .options {
                    router.on(path, method: .options) { _, _ in Response(status: .noContent, headers: headers) }
                } else {
                    router.on(path, method: method) { request, _ -> Response in
                        throw APIError(
                            status: .methodNotAllowed, code: "method_not_allowed",
                            message: "\(request.method.rawValue) is not supported here; allowed: \(allow)", headers: headers
                        )
                    }
                }
            }
        }
    }
}
