import AsyncHTTPClient
import FleetProtocol
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Answers the master's callbacks: does the work, then POSTs the reply to
/// `master.api_url + replyPath` with the request's reply token, retrying with backoff.
///
/// Re-issued requests (same id, after an attempt timed out on the master's side) are
/// answered from a small cache instead of doing the work again: a command must not run
/// twice because a reply was slow.
public final class CallbackHandler: Sendable {
    private let config: AgentConfig
    private let sampler: MetricsSampler
    private let logger: Logger
    private let recent = Mutex<[(id: String, reply: Outcome)]>([])

    /// What a callback produced: a JSON reply, or a file to upload (`logs`).
    enum Outcome: Sendable {
        case json(AgentReply)
        case file(path: String, offset: Int64, length: Int64, name: String)
    }
    static let cacheSize = 256
    static let postAttempts = 5

    public init(config: AgentConfig, sampler: MetricsSampler, logger: Logger) {
        self.config = config
        self.sampler = sampler
        self.logger = logger
    }

    /// Handles one callback frame in the background.
    public func handle(_ callback: MasterMessage.Callback) {
        Task {
            let reply: Outcome
            if let cached = recent.withLock({ $0.first { $0.id == callback.requestId }?.reply }) {
                logger.info("callback re-issued; sending the earlier reply", metadata: ["request": "\(callback.requestId)"])
                reply = cached
            } else {
                logger.info("callback", metadata: ["request": "\(callback.requestId)", "kind": "\(callback.kind.rawValue)"])
                reply = await perform(callback)
                recent.withLock { cache in
                    cache.append((callback.requestId, reply))
                    if cache.count > Self.cacheSize { cache.removeFirst(cache.count - Self.cacheSize) }
                }
            }
            await post(reply, for: callback)
        }
    }

    private func perform(_ callback: MasterMessage.Callback) async -> Outcome {
        switch callback.kind {
        case .status:
            do {
                let snapshot = sampler.sample()
                let json = try FleetJSON.decode(JSONValue.self, from: try FleetJSON.encode(snapshot))
                return .json(AgentReply(ok: true, result: json))
            } catch {
                return .json(AgentReply(ok: false, error: "cannot encode the snapshot: \(error)"))
            }
        case .logs:
            // {"file": "agent.log", "tail": BYTES?}: a file inside the log directory only.
            let name = callback.args["file"]?.stringValue ?? "agent.log"
            do {
                let path = try LogFiles.resolve(name, in: config.resolvedLogDir)
                let size = LogFiles.size(path) ?? 0
                var offset: Int64 = 0
                if let tail = callback.args["tail"]?.numberValue, tail >= 0 {
                    offset = max(0, size - Int64(tail))
                }
                return .file(path: path, offset: offset, length: size - offset, name: name)
            } catch {
                logger.warning("logs request refused", metadata: ["request": "\(callback.requestId)", "file": "\(name)", "reason": "\(error)"])
                return .json(AgentReply(ok: false, error: "refused: \(error)"))
            }
        case .config, .exec, .restart:
            return .json(AgentReply(ok: false, error: "callback kind '\(callback.kind.rawValue)' is not supported by agent \(AgentService.version)"))
        }
    }

    private func post(_ reply: Outcome, for callback: MasterMessage.Callback) async {
        let base = config.master.apiURL.hasSuffix("/") ? String(config.master.apiURL.dropLast()) : config.master.apiURL
        let url = base + callback.replyPath
        var body: [UInt8] = []
        if case .json(let json) = reply {
            do {
                body = try FleetJSON.encode(json)
            } catch {
                logger.error("reply not encodable", metadata: ["request": "\(callback.requestId)", "error": "\(error)"])
                return
            }
        }
        let backoff = Backoff(base: 0.5, cap: 10)
        for attempt in 0..<Self.postAttempts {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(callback.replyToken)")
            switch reply {
            case .json:
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            case .file(let path, let offset, let length, let name):
                // Streamed from disk: the agent never holds the file in memory either.
                request.headers.add(name: "Content-Type", value: "application/octet-stream")
                request.headers.add(name: "X-Fleet-File", value: name)
                request.body = .stream(FileChunks(path: path, offset: offset, length: length), length: .known(length))
            }
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
                _ = try? await response.body.collect(upTo: 65_536)
                switch response.status.code {
                case 200..<300:
                    logger.info("reply delivered", metadata: ["request": "\(callback.requestId)"])
                    return
                case 409:
                    logger.info("reply already delivered", metadata: ["request": "\(callback.requestId)"])
                    return
                case 500..<600, 404:
                    // 404: the gateway's replica may not know the request yet; 5xx: try again.
                    logger.notice("reply not accepted yet", metadata: ["request": "\(callback.requestId)", "status": "\(response.status.code)"])
                default:
                    logger.error("reply refused", metadata: ["request": "\(callback.requestId)", "status": "\(response.status.code)"])
                    return
                }
            } catch {
                logger.notice("reply not delivered", metadata: ["request": "\(callback.requestId)", "error": "\(error)", "attempt": "\(attempt + 1)"])
            }
            try? await Task.sleep(for: .milliseconds(Int64(backoff.delay(failures: attempt) * 1000)))
        }
        logger.error("reply given up after \(Self.postAttempts) attempts", metadata: ["request": "\(callback.requestId)"])
    }
}
