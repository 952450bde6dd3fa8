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
        let found: Result<Range<Int>?, ProtocolError> = bytes.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer)
            var isHeartbeat = false
            var metrics: Range<Int>?
            do {
                scanner.skipSpace()
                guard scanner.peek == UInt8(ascii: "{") else { return .success(nil) }  // the decoder says what is wrong
                try scanner.object(depth: 0) { (inner: inout JSONScanner, key: Range<Int>, escaped: Bool) throws(JSONScanner.Failure) in
                    let value = try inner.value(depth: 1)
                    if inner.equals(key, typeKey), !escaped {
                        isHeartbeat = value.kind == .string && inner.equals(value.range, heartbeatType)
                    } else if inner.equals(key, metricsKey), !escaped, value.kind == .object {
                        metrics = value.range
                    }
                }
                scanner.skipSpace()
                guard scanner.atEnd else { throw scanner.fail("bytes after the JSON value") }
            } catch {
                return .failure(.malformed("\(error)"))
            }
            return .success(isHeartbeat ? metrics : nil)
        }
        switch found {
        case .failure(let error):
            return .failure(error)
        case .success(let range?):
            do throws(ProtocolError) {
                return .success(.heartbeat(try RawSnapshot(validating: Array(bytes[range]))))
            } catch {
                return .failure(error)
            }
        case .success(nil):
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
