import AsyncHTTPClient
import FleetProtocol
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Many simulated agents in one process, sharing event loops, a payload template and one HTTP
/// client for callback replies. Run by `bench swarm` (a child of the orchestrator, see
/// ``SwarmProcess``), so a fleet can be spread over several processes (one process here may
/// not hold more than ~20,000 files).
final class Swarm: Sendable {
    struct Gateway: Sendable, Codable {
        var host: String
        var port: Int
        var path: String
        /// `http(s)://host:port/api`: where callback replies go (`master.api_url`).
        var api: String
        /// wss:// (TLS to the gateway or to a balancer in front of it, such as the compose file's HAProxy).
        var tls: Bool

        init(url: String) throws {
            guard let parsed = URL(string: url), let host = parsed.host, let port = parsed.port,
                  parsed.scheme == "ws" || parsed.scheme == "wss" else {
                throw BenchError("not a ws:// or wss://host:port/path URL: \(url)")
            }
            self.host = host
            self.port = port
            tls = parsed.scheme == "wss"
            path = parsed.path.isEmpty ? "/ws" : parsed.path
            api = "\(tls ? "https" : "http")://\(host):\(port)/api"
        }
    }

    struct Settings: Sendable {
        var gateways: [Gateway]
        var token: String
        var heartbeatInterval: TimeAmount
        var sourceAddresses: [String]
        var backoffBase: Double
        var backoffCap: Double
        var handshakeTimeout: TimeAmount = .seconds(20)
        /// PEM CA bundle a wss:// gateway's certificate must chain to; nil = the system's roots.
        var caFile: String? = nil
    }

    /// Cumulative figures, read by the progress reporter.
    final class Counters: Sendable {
        let connecting = Atomic<Int>(0)
        let online = Atomic<Int>(0)
        let welcomes = Atomic<Int>(0)
        let disconnects = Atomic<Int>(0)
        /// Welcomed sessions that ended (a subset of `disconnects`, which counts every closed connection).
        let sessionsLost = Atomic<Int>(0)
        let connectFailures = Atomic<Int>(0)
        let upgradeFailures = Atomic<Int>(0)
        let handshakeTimeouts = Atomic<Int>(0)
        let errorFrames = Atomic<Int>(0)
        let heartbeats = Atomic<Int>(0)
        let callbacks = Atomic<Int>(0)
        let replies = Atomic<Int>(0)
        let replyFailures = Atomic<Int>(0)
        let uploadedBytes = Atomic<Int>(0)
    }

    let settings: Settings
    /// The heartbeat interval now (nanoseconds): `settings.heartbeatInterval` until an
    /// `interval` command changes it (overload connects at a sustainable rate first).
    let heartbeatNanoseconds: Atomic<Int64>
    var heartbeatInterval: TimeAmount { .nanoseconds(heartbeatNanoseconds.load(ordering: .relaxed)) }
    let payload: Payload
    let counters = Counters()
    let group: MultiThreadedEventLoopGroup
    let http: HTTPClient
    /// For wss:// gateways (one context for every connection: it holds the parsed trust roots).
    let tlsContext: NIOSSLContext?
    private let handshakes = Mutex(Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three))

    init(settings: Settings, threads: Int) throws {
        self.settings = settings
        heartbeatNanoseconds = Atomic(settings.heartbeatInterval.nanoseconds)
        payload = try Payload()
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var configuration = HTTPClient.Configuration()
        // Real agents each open their own connection to reply; a swarm shares one client, so
        // it gets a wide pool and a long wait for a connection from it (the connect timeout is
        // also the pool-wait timeout), or a fan-out to thousands of agents fails on the bench's
        // side with getConnectionFromPoolTimeout rather than measuring the master.
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        configuration.timeout = .init(connect: .seconds(90), read: .seconds(120))
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = settings.caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        configuration.tlsConfiguration = tls
        tlsContext = settings.gateways.contains(where: \.tls) ? try NIOSSLContext(configuration: tls) : nil
        http = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
    }

    func shutdown() async {
        try? await http.shutdown()
        try? await group.shutdownGracefully()
    }

    func recordHandshake(nanoseconds: Int64) {
        handshakes.withLock { _ = $0.record(UInt64(max(1, nanoseconds / 1000))) }
    }

    /// The handshake latencies so far (µs), and a fresh histogram for the next phase.
    func takeHandshakes() -> Histogram<UInt64> {
        handshakes.withLock { histogram in
            let taken = histogram
            histogram.reset()
            return taken
        }
    }

    // MARK: Callback replies

    /// Answers a callback the way the real agent does: status with a snapshot, logs with the
    /// bytes (here: `args.tail` bytes of filler), anything else with `ok:false`. 404 means the
    /// gateway has not heard of the request yet: retried, like the agent.
    func reply(to callback: MasterMessage.Callback, gateway: Gateway, seq: UInt64) {
        let url = gateway.api + callback.replyPath
        Task {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(callback.replyToken)")
            var bytes = 0
            switch callback.kind {
            case .logs:
                let size = Int(callback.args["tail"]?.numberValue ?? 1_048_576)
                request.headers.add(name: "Content-Type", value: "application/octet-stream")
                request.headers.add(name: "X-Fleet-File", value: callback.args["file"]?.stringValue ?? "agent.log")
                request.body = .stream(FillerBytes(total: size), length: .known(Int64(size)))
                bytes = size
            case .status:
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: payload.statusReply(seq: seq, at: Date())))
            default:
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"ok":false,"error":"not simulated by the bench"}"#))
            }
            for attempt in 0..<5 {
                do {
                    let response = try await http.execute(request, timeout: .seconds(120))
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    if response.status == .notFound, attempt < 4 {
                        try? await Task.sleep(for: .milliseconds(50 << attempt))
                        continue
                    }
                    if response.status == .accepted {
                        counters.replies.add(1, ordering: .relaxed)
                        counters.uploadedBytes.add(bytes, ordering: .relaxed)
                    } else {
                        report("reply \(callback.requestId): HTTP \(response.status.code)")
                    }
                    return
                } catch {
                    if attempt == 4 { report("reply \(callback.requestId): \(error)") }
                    try? await Task.sleep(for: .milliseconds(100 << attempt))
                }
            }
        }
    }
}

extension Swarm {
    /// Counts a reply that did not get its 202, and says why for the first few (on stderr,
    /// which the orchestrator passes through).
    func report(_ failure: String) {
        let count = counters.replyFailures.add(1, ordering: .relaxed).newValue
        if count <= 5 { FileHandle.standardError.write(Data("swarm: \(failure)\n".utf8)) }
    }
}

/// `total` bytes of log-like filler in 64 KiB buffers, produced as they are sent (never held whole).
struct FillerBytes: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let total: Int
    static let chunk: ByteBuffer = {
        let line = "2026-11-28T12:00:00.000Z info bench: a simulated agent log line, long enough to look real\n"
        var buffer = ByteBuffer()
        while buffer.readableBytes + line.utf8.count <= 65_536 { buffer.writeString(line) }
        return buffer
    }()

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: Int
        mutating func next() async -> ByteBuffer? {
            guard remaining > 0 else { return nil }
            let take = Swift.min(remaining, FillerBytes.chunk.readableBytes)
            remaining -= take
            return FillerBytes.chunk.getSlice(at: FillerBytes.chunk.readerIndex, length: take)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: total) }
}
