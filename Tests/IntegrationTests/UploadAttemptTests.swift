import Crypto
import FleetProtocol
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Two uploads of one `logs` reply at once (an agent that retried while its first attempt
/// still streamed), one of them cut off: the abort removes only its own attempt's chunks and
/// the other attempt completes, byte for byte. Through real processes, so the chunks take the
/// real path: gateway -> worker -> registry store.
@Suite("Upload attempts", .serialized)
struct UploadAttemptTests {
    /// One hand-driven HTTP upload on a plain TCP socket; every blocking call runs on a
    /// dispatch thread, never on the test run's cooperative pool.
    final class RawUpload: Sendable {
        let fd: Int32
        private let closed = Atomic<Bool>(false)

        init(port: Int, requestId: String, token: String, length: Int) async throws {
            fd = try await Self.blocking { try RawHTTP.connect(port: port, timeout: timeval(tv_sec: 30, tv_usec: 0)) }
            let head = "POST /api/v1/callbacks/\(requestId) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                + "Content-Type: application/octet-stream\r\nX-Fleet-File: up.log\r\nContent-Length: \(length)\r\n\r\n"
            try await send(Array(head.utf8))
        }

        func send(_ bytes: [UInt8]) async throws {
            let fd = self.fd
            try await Self.blocking {
                var offset = 0
                while offset < bytes.count {
                    let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    guard sent > 0 else { throw HarnessError("send: errno \(errno)") }
                    offset += sent
                }
            }
        }

        /// The status code of the response (after the whole body was sent).
        func status() async throws -> Int {
            let fd = self.fd
            return try await Self.blocking {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { throw HarnessError("no response") }
                let line = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\r\n").first ?? ""
                guard let code = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { throw HarnessError("bad response: \(line)") }
                return code
            }
        }

        /// Closes once (a second call must not close a descriptor reused meanwhile).
        func close() {
            if !closed.exchange(true, ordering: .relaxed) { _ = Glibc.close(fd) }
        }

        static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
            }
        }
    }

    @Test("two concurrent uploads for one request, one aborted mid-way: the other completes with its own bytes")
    func abortTouchesOnlyItsAttempt() async throws {
        try await withCluster("upload-attempts") { cluster in
            let master = try await cluster.startServe()
            let agent = TestAgent(id: "uploader")
            _ = try await agent.connect(url: master.ws, token: cluster.agentToken)
            let (asked, _) = try await cluster.callback(master, agent: agent.id, kind: "logs", args: #"{"file":"up.log"}"#)
            #expect(asked == 202)
            let callback = try await agent.nextCallback()

            let chunk = ContentChunkHeader.size
            var generator = SystemRandomNumberGenerator()
            let kept = (0..<(3 * chunk + 1000)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let cut = [UInt8](repeating: 0x41, count: 3 * chunk)
            let kept1 = try await RawUpload(port: master.port, requestId: callback.requestId, token: callback.replyToken, length: kept.count)
            defer { kept1.close() }
            let aborted = try await RawUpload(port: master.port, requestId: callback.requestId, token: callback.replyToken, length: cut.count)
            defer { aborted.close() }

            // Both attempts have two chunks each through the worker (on one path, in order)
            // before the abort follows them.
            try await kept1.send(Array(kept[0..<(2 * chunk)]))
            try await aborted.send(Array(cut[0..<(2 * chunk + 10)]))
            #expect(await eventually(timeout: .seconds(20)) {
                metricValue(try await cluster.metricsText(master), "fleet_worker_chunk_bytes_total") >= Double(4 * chunk)
            })
            aborted.close()
            #expect(await eventually(timeout: .seconds(20)) { master.process.stderr.contains("partial upload dropped") }, "\(cluster.logs())")

            try await kept1.send(Array(kept[(2 * chunk)...]))
            #expect(try await kept1.status() == 202)
            let record = try await cluster.request(master, id: callback.requestId, wait: 10)
            #expect(record?.state == .completed, "\(String(describing: record))\n\(cluster.logs())")
            let digest = SHA256.hash(data: kept).map { String(format: "%02x", $0) }.joined()
            let (status, body) = try await HTTP.get("\(master.http)/api/v1/requests/\(callback.requestId)/content", token: cluster.adminToken)
            #expect(status == 200)
            #expect(body.count == kept.count && Data(kept) == body, "the content is the kept attempt's bytes, \(body.count) of \(kept.count)")
            let summary = try FleetJSON.decode(ContentSummary.self, from: FleetJSON.encode(try #require(record?.result)))
            #expect(summary.sha256 == digest && summary.bytes == UInt64(kept.count), "the summary is the kept attempt's")
            await agent.close()
        }
    }
}
