#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AsyncHTTPClient
import FleetProtocol
import Logging
import ServiceLifecycle
import Synchronization

/// The agent daemon: identity, collectors and the link to the master, as one Service.
public final class AgentService: Service, Sendable {
    public static let version = "0.1.0"

    public let info: AgentInfo
    private let link: AgentLink
    /// Lets the restart hook reach the link it was handed to (created after the hook), and
    /// tells `run()` that the link stopped for a restart rather than a shutdown.
    private final class LinkSlot: Sendable {
        let link = Mutex<AgentLink?>(nil)
        let restarting = Atomic<Bool>(false)
    }

    private let slot: LinkSlot
    private let sampler: MetricsSampler
    private let buffer: OfflineBuffer
    private let runtime: RuntimeSettings
    /// The reply POSTs' client, configured with the agent's TLS settings (HTTPClient.shared
    /// knows only the system's roots). Shut down when `run()` ends: an HTTPClient must not
    /// be released running.
    private let http: HTTPClient

    /// - Throws: `ConfigError` for unusable TLS files (`master.ca_file`, …).
    public init(config: AgentConfig, logger: Logger) throws {
        let tls = try AgentTLS(config.master)
        let id = try AgentIdentity.loadOrCreate(stateDir: config.resolvedStateDir)
        self.info = AgentInfo(
            id: id, hostname: OSFacts.hostname(), os: OSFacts.current(), agentVersion: Self.version,
            labels: config.agent.labels
        )
        let sampler = MetricsSampler(sequence: SampleSequence(path: "\(config.resolvedStateDir)/sample-seq"))
        sampler.prime()
        let buffer = try OfflineBuffer(
            directory: "\(config.resolvedStateDir)/buffer", maxSamples: config.buffer.maxSamples, maxBytes: config.buffer.maxBytes
        )
        let runtime = RuntimeSettings(config: config)
        self.sampler = sampler
        self.buffer = buffer
        self.runtime = runtime
        var tagged = logger
        tagged[metadataKey: "agent"] = "\(id)"
        let logger = tagged
        let slot = LinkSlot()
        // Created last: nothing after it can throw and leave it unreleased-but-running.
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls.configuration))
        self.http = http
        let link = AgentLink(
            config: config, info: self.info, sampler: sampler, runtime: runtime, buffer: buffer, logger: logger,
            tls: tls, http: http,
            restart: {
                // The same binary, the same arguments, the same pid: a service manager sees no
                // exit, and the new process reads the persisted runtime settings.
                slot.restarting.store(true, ordering: .relaxed)
                await slot.link.withLock { $0 }?.stopForRestart()
                Self.reexec(logger: logger)
            }
        )
        slot.link.withLock { $0 = link }
        self.link = link
        self.slot = slot
    }

    /// While the master is unreachable, samples keep being taken at the heartbeat cadence and
    /// go to the offline buffer, to be replayed after the next welcome.
    private func recordWhileDisconnected() async {
        var last = ContinuousClock.now
        while !Task.isCancelled {
            let interval = Duration.milliseconds(Int64(runtime.metricsInterval * 1000))
            do { try await Task.sleep(for: min(interval, .seconds(1))) } catch { return }
            guard ContinuousClock.now - last >= interval else { continue }
            last = ContinuousClock.now
            if !link.isConnected { buffer.append(sampler.sample()) }
        }
    }

    static func reexec(logger: Logger) -> Never {
        let arguments = CommandLine.arguments
        let cArgs = arguments.map { strdup($0) } + [nil]
        #if os(Linux)
        execv("/proc/self/exe", cArgs)
        #else
        execv(arguments[0], cArgs)
        #endif
        logger.critical("restart failed (execv errno \(errno)); exiting for the service manager to start us")
        exit(75)
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.recordWhileDisconnected() }
            await link.run()
            group.cancelAll()
        }
        try? await http.shutdown()
        // Stopped for a restart: the hook is about to exec; returning now would end the
        // process first (the service group treats a finished service as a failure).
        while slot.restarting.load(ordering: .relaxed) {
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
