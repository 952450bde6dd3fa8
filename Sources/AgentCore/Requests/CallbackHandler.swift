import AsyncHTTPClient
import Dispatch
import FleetProtocol
import FleetSupport
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Answers the master's callbacks: does the work, then POSTs the reply to the connected
/// gateway's API + replyPath (or `master.api_url`, in turn: ReplyTargets) with the request's
/// reply token, retrying with backoff.
///
/// Re-issued requests (same id, after an attempt timed out on the master's side) are
/// answered from a small cache instead of doing the work again: a command must not run
/// twice because a reply was slow.
public final class CallbackHandler: Sendable {
    private let config: AgentConfig
    private let sampler: MetricsSampler
    private let runtime: RuntimeSettings
    /// Called after a `restart` reply has been delivered.
    private let restart: @Sendable () async -> Void
    private let logger: Logger
    /// The agent's client, with its TLS settings (`master.ca_file`, client certificate).
    private let http: HTTPClient
    private let replyTargets: ReplyTargets
    /// Parsed once at start; `AgentConfig.validate()` has already refused a bad one, so the
    /// failure case only reaches a caller that skipped validation (and is reported per request).
    private let execPolicy: Result<ExecPolicy, ConfigError>
    private let recent = Mutex<[(id: String, reply: Outcome)]>([])

    /// What a callback produced: a JSON reply, or a file to upload (`logs`).
    enum Outcome: Sendable {
        case json(AgentReply)
        case file(path: String, offset: Int64, length: Int64, name: String)
    }
    static let cacheSize = 256
    static let postAttempts = 5

    public init(
        config: AgentConfig, sampler: MetricsSampler, runtime: RuntimeSettings, logger: Logger, http: HTTPClient,
        replyTargets: ReplyTargets? = nil, restart: @escaping @Sendable () async -> Void
    ) {
        self.http = http
        self.replyTargets = replyTargets ?? ReplyTargets(apiURL: config.master.apiURL)
        self.config = config
        self.sampler = sampler
        self.runtime = runtime
        self.logger = logger
        self.restart = restart
        self.execPolicy = Result { () throws(ConfigError) in try ExecPolicy(config.exec) }
        switch execPolicy {
        case .success(let policy):
            for warning in policy.warnings { logger.warning("\(warning)") }
        case .failure(let error):
            logger.error("exec requests will be refused: \(error)")
        }
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
            let delivered = await post(reply, for: callback)
            if callback.kind == .restart, delivered, case .json(let answer) = reply, answer.ok {
                logger.notice("restarting on the master's request", metadata: ["request": "\(callback.requestId)"])
                await restart()
            }
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
        case .exec:
            return .json(await exec(callback))
        case .config:
            // {"metrics.interval": 10, "logging.level": "debug"}: applied now and persisted.
            guard case .object(let changes) = callback.args, !changes.isEmpty else {
                return .json(AgentReply(ok: false, error: "config needs an object of settings, e.g. {\"metrics.interval\": 60}"))
            }
            do {
                let current = try runtime.apply(changes)
                logger.notice("configuration changed by the master", metadata: ["settings": "\(changes.keys.sorted())"])
                return .json(AgentReply(ok: true, result: .object(["applied": .object(changes), "current": .object(current), "persisted": .bool(true)])))
            } catch {
                return .json(AgentReply(ok: false, error: "refused: \(error)"))
            }
        case .restart:
            return .json(AgentReply(ok: true, result: .object(["restarting": .bool(true), "version": .string(AgentService.version)])))
        }
    }

    /// `exec`: {"argv": ["systemctl", "status", "ssh"], "timeout": 10}. Refused unless the
    /// whole argv matches an `exec.allow` pattern; runs the pattern's program, contained (see
    /// `CommandRunner`).
    private func exec(_ callback: MasterMessage.Callback) async -> AgentReply {
        guard case .array(let items) = callback.args["argv"] ?? .null,
            case let argv = items.compactMap(\.stringValue), argv.count == items.count, !argv.isEmpty
        else {
            return AgentReply(ok: false, error: "exec needs args.argv, a non-empty array of strings")
        }
        let policy: ExecPolicy
        let command: ExecPolicy.Authorized
        do {
            policy = try execPolicy.get()
            command = try policy.authorize(argv)
        } catch {
            logger.warning("exec refused", metadata: ["request": "\(callback.requestId)", "argv": "\(argv)", "reason": "\(error)"])
            return AgentReply(ok: false, error: "refused: \(error)")
        }
        let timeout = min(callback.args["timeout"]?.numberValue ?? config.exec.timeout, config.exec.timeout)
        let maxOutput = config.exec.maxOutput
        logger.notice("exec", metadata: [
            "request": "\(callback.requestId)", "argv": "\(command.argv)", "pattern": "\(command.pattern.entry)",
            "user": "\(policy.user?.name ?? "agent")",
        ])
        // The runner blocks (poll/waitpid): keep it off the cooperative pool.
        let outcome: Result<CommandRunner.Outcome, any Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result {
                    try CommandRunner.run(command, user: policy.user, timeout: timeout, maxOutput: maxOutput)
                })
            }
        }
        switch outcome {
        case .success(let result):
            let json = (try? FleetJSON.decode(JSONValue.self, from: FleetJSON.encode(result))) ?? .null
            return AgentReply(ok: true, result: json)
        case .failure(let error):
            return AgentReply(ok: false, error: "\(error)")
        }
    }

    /// Delivers the reply; returns whether the master has it.
    @discardableResult
    private func post(_ reply: Outcome, for callback: MasterMessage.Callback) async -> Bool {
        var body: [UInt8] = []
        if case .json(let json) = reply {
            do {
                body = try FleetJSON.encode(json)
            } catch {
                logger.error("reply not encodable", metadata: ["request": "\(callback.requestId)", "error": "\(error)"])
                return false
            }
        }
        let backoff = Backoff(base: 0.5, cap: 10)
        for attempt in 0..<Self.postAttempts {
            // Chosen per attempt: after a failover the agent is welcomed on another gateway.
            let url = replyTargets.base(forAttempt: attempt) + callback.replyPath
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
                let response = try await http.execute(request, timeout: .seconds(600))
                let answer = try? await response.body.collect(upTo: 65_536)
                switch response.status.code {
                case 200..<300:
                    logger.info("reply delivered", metadata: ["request": "\(callback.requestId)", "url": "\(url)"])
                    return true
                case 409:
                    logger.info("reply already delivered", metadata: ["request": "\(callback.requestId)"])
                    return true
                case 413 where Self.isFile(reply):
                    // The gateway will never take this file (callbacks.max_upload): say so at
                    // once, so the request fails now with the reason rather than after every
                    // retry as "no result".
                    let reason = Self.message(in: answer) ?? "the file is over the gateway's upload limit (callbacks.max_upload)"
                    logger.error("upload refused: \(reason)", metadata: ["request": "\(callback.requestId)"])
                    return await post(.json(AgentReply(ok: false, error: "upload refused by the gateway: \(reason)")), for: callback)
                case 500..<600, 404:
                    // 404: the gateway's replica may not know the request yet; 5xx (503 before
                    // its replica is in sync): try again, on the next target.
                    logger.notice("reply not accepted yet", metadata: ["request": "\(callback.requestId)", "url": "\(url)", "status": "\(response.status.code)"])
                default:
                    logger.error("reply refused", metadata: ["request": "\(callback.requestId)", "status": "\(response.status.code)", "reason": "\(Self.message(in: answer) ?? "")"])
                    return false
                }
            } catch {
                if let explanation = AgentTLS.explain(error) {
                    logger.error("reply not delivered: \(explanation)", metadata: ["request": "\(callback.requestId)", "url": "\(url)", "attempt": "\(attempt + 1)"])
                } else {
                    logger.notice("reply not delivered", metadata: ["request": "\(callback.requestId)", "url": "\(url)", "error": "\(error)", "attempt": "\(attempt + 1)"])
                }
            }
            try? await Task.sleep(for: .milliseconds(Int64(backoff.delay(failures: attempt) * 1000)))
        }
        logger.error("reply given up after \(Self.postAttempts) attempts", metadata: ["request": "\(callback.requestId)"])
        return false
    }

    private static func isFile(_ reply: Outcome) -> Bool {
        if case .file = reply { return true }
        return false
    }

    /// The message of an API error body (`{"error":{"code","message"}}`), if there is one.
    static func message(in body: ByteBuffer?) -> String? {
        guard let body, let error = try? FleetJSON.decode(APIErrorBody.self, from: Array(body.readableBytesView)) else { return nil }
        return error.error.message
    }
}
