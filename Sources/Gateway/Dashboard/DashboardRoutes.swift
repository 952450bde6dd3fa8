import HTTPTypes
import Hummingbird
import NIOCore

/// The operator dashboard: `GET /` (index.html) and `GET /dashboard/<name>`, from the files
/// embedded in the binary (`DashboardAssets`, generated from dashboard/). No token needed: the
/// files hold no data; the page asks the admin API for everything with the token it is given.
///
/// A name is looked up exactly in the embedded table, so no path (`..`, `%2F`, a subfolder)
/// can reach anything else: whatever is not in the table is 404.
struct DashboardRoutes {
    /// Scripts, styles, images and fetches only from this origin; no inline script or style, no
    /// plugins, no framing, no `<base>`, and forms go nowhere (the sign-in form is handled in
    /// script, so a token can never be submitted into a URL).
    static let contentSecurityPolicy = [
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
        "font-src 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/") { request, _ in try Self.serve("index.html", request) }
        router.get("dashboard/{file}") { request, context in
            try Self.serve(context.parameters.require("file"), request)
        }
    }

    static func serve(_ name: String, _ request: Request) throws -> Response {
        guard let asset = DashboardAssets.files[name] else { throw APIError.notFound("no dashboard file '\(name)'") }
        var headers: HTTPFields = [
            .contentType: asset.contentType,
            .cacheControl: "no-cache",
            .eTag: asset.etag,
            .contentSecurityPolicy: contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
        ]
        headers[Self.referrerPolicy] = "no-referrer"
        let validators = request.headers[.ifNoneMatch]?.split(separator: ",").map { String($0.filter { $0 != " " && $0 != "\t" }) } ?? []
        if validators.contains(asset.etag) || validators.contains("*") {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: asset.body)))
    }
}
