/// One frame from an agent, read the cheap way when it is a heartbeat (most frames are):
/// the frame is checked as JSON, its snapshot against ``MetricsSnapshot/shape``, and the
/// snapshot's bytes are kept as they came (``RawSnapshot``). Any other frame is decoded as an
/// ``AgentMessage``, as before.
public enum AgentFrame: Sendable, Equatable {
    case heartbeat(RawSnapshot)
    case message(AgentMessage)

    public var type: String {
        switch self {
        case .heartbeat: "heartbeat"
        case .message(let message): message.type
        }
    }

    public static func parse(_ bytes: [UInt8]) -> Result<AgentFrame, ProtocolError> {
        // One pass: the frame is scanned as JSON, and its `metrics` object is checked against
        // the snapshot's shape on the way (what a heartbeat needs); a `metrics` that fails the
        // shape is scanned again as plain JSON, since a frame of another type may still decode.
        var captures = JSONCaptures()
        let found: Result<(isHeartbeat: Bool, metrics: Range<Int>?, shapeError: JSONScanner.Failure?), ProtocolError> = bytes.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer)
            var isHeartbeat = false
            var metrics: Range<Int>?
            var shapeError: JSONScanner.Failure?
            // `type` or `metrics` twice: decoders disagree on which one counts; the full
            // decoder decides.
            var seen = (type: false, metrics: false, twice: false)
            do throws(JSONScanner.Failure) {
                scanner.skipSpace()
                guard scanner.peek == UInt8(ascii: "{") else { return .success((false, nil, nil)) }  // the decoder says what is wrong
                try scanner.object(depth: 0) { (inner: inout JSONScanner, key: Range<Int>, escaped: Bool) throws(JSONScanner.Failure) in
                    inner.skipSpace()
                    if !escaped, inner.equals(key, metricsKey) {
                        seen.twice = seen.twice || seen.metrics
                        seen.metrics = true
                    }
                    if !escaped, inner.equals(key, metricsKey), inner.peek == UInt8(ascii: "{") {
                        let start = inner.index
                        do throws(JSONScanner.Failure) {
                            captures = JSONCaptures()
                            try MetricsSnapshot.shape.check(&inner, depth: 1, captures: &captures)
                            metrics = start..<inner.index
                            shapeError = nil
                        } catch {
                            shapeError = error
                            metrics = nil
                            inner.index = start
                            try inner.value(depth: 1)
                        }
                        return
                    }
                    let value = try inner.value(depth: 1)
                    if !escaped, inner.equals(key, typeKey) {
                        seen.twice = seen.twice || seen.type
                        seen.type = true
                        isHeartbeat = value.kind == .string && inner.equals(value.range, heartbeatType)
                    }
                }
                scanner.skipSpace()
                guard scanner.atEnd else { throw scanner.fail("bytes after the JSON value") }
            } catch {
                return .failure(.malformed("\(error)"))
            }
            if seen.twice { return .success((false, nil, nil)) }
            return .success((isHeartbeat, metrics, shapeError))
        }
        switch found {
        case .failure(let error):
            return .failure(error)
        case .success((true, _, let shapeError?)):
            return .failure(.malformed("\(shapeError)"))
        case .success((true, let range?, nil)):
            guard let snapshot = RawSnapshot(Array(bytes[range]), captures: captures) else {
                return .failure(.malformed("snapshot without timestamp or seq"))  // unreachable: the shape requires both
            }
            return .success(.heartbeat(snapshot))
        case .success:
            do {
                return .success(.message(try FleetJSON.decode(AgentMessage.self, from: bytes)))
            } catch let error as ProtocolError {
                return .failure(error)
            } catch let error as DecodingError {
                return .failure(.malformed(error.fleetDescription))
            } catch {
                return .failure(.malformed("not JSON"))
            }
        }
    }

    private static let typeKey = Array("type".utf8)
    private static let metricsKey = Array("metrics".utf8)
    /// The whole string token, quotes included (the value range of a string covers them).
    private static let heartbeatType = Array("\"heartbeat\"".utf8)
}
