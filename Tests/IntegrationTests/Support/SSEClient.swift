import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A server-sent-events client over a plain socket (URLSession on Linux cannot stream), with
/// the chunked transfer decoding the stream arrives in.
final class SSEClient: @unchecked Sendable {
    // @unchecked Sendable: used by one test task at a time; the fd and buffers are not shared.
    struct Event: Equatable {
        var id: String
        var type: String
        var data: String
    }

    private let fd: Int32
    private var raw: [UInt8] = []
    private var body: [UInt8] = []
    private var headerDone = false
    private(set) var status = 0

    init(port: Int, path: String, token: String, lastEventId: String? = nil) throws {
        fd = try RawHTTP.connect(port: port, timeout: timeval(tv_sec: 0, tv_usec: 200_000))
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer \(token)\r\n"
        if let lastEventId { request += "Last-Event-ID: \(lastEventId)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit { Glibc.close(fd) }

    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Reads events until `predicate` holds for all received so far, or `timeout`.
    func events(timeout: Duration, until predicate: ([Event]) -> Bool) async -> [Event] {
        var all: [Event] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while ContinuousClock.now < deadline {
            // Never a blocking recv: the tests share a cooperative pool of two threads here, and
            // a recv waiting out its timeout holds one of them (other suites then stall).
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count == 0 { break }
            if count > 0 {
                raw.append(contentsOf: buffer[0..<count])
                decode()
                all += parse()
                if predicate(all) { return all }
            } else {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        return all
    }

    private func decode() {
        if !headerDone {
            guard let end = find([13, 10, 13, 10], in: raw) else { return }
            let head = String(decoding: raw[0..<end], as: UTF8.self)
            status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
            raw.removeFirst(end + 4)
            headerDone = true
        }
        // Chunked: <hex>\r\n<data>\r\n
        while let lineEnd = find([13, 10], in: raw) {
            guard let size = Int(String(decoding: raw[0..<lineEnd], as: UTF8.self), radix: 16) else { return }
            guard raw.count >= lineEnd + 2 + size + 2 else { return }
            body.append(contentsOf: raw[(lineEnd + 2)..<(lineEnd + 2 + size)])
            raw.removeFirst(lineEnd + 2 + size + 2)
        }
    }

    private func parse() -> [Event] {
        var events: [Event] = []
        while let end = find([10, 10], in: body) {
            let block = String(decoding: body[0..<end], as: UTF8.self)
            body.removeFirst(end + 2)
            var event = Event(id: "", type: "message", data: "")
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { event.type = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { event.data = String(line.dropFirst(6)) }
            }
            if !event.id.isEmpty { events.append(event) }
        }
        return events
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if Array(haystack[index..<(index + needle.count)]) == needle { return index }
        }
        return nil
    }
}
