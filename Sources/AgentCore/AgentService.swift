import FleetProtocol
import Logging
import ServiceLifecycle

/// The agent daemon: identity, collectors and the link to the master, as one Service.
public final class AgentService: Service, Sendable {
    public static let version = "0.1.0"

    public let info: AgentInfo
    private let link: AgentLink

    public init(config: AgentConfig, logger: Logger) throws {
        let id = try AgentIdentity.loadOrCreate(stateDir: config.resolvedStateDir)
        self.info = AgentInfo(
            id: id, hostname: OSFacts.hostname(), os: OSFacts.current(), agentVersion: Self.version,
            labels: config.agent.labels
        )
        let sampler = MetricsSampler()
        sampler.prime()
        var logger = logger
        logger[metadataKey: "agent"] = "\(id)"
        self.link = AgentLink(config: config, info: info, sampler: sampler, logger: logger)
    }

    public func run() async throws {
        await link.run()
    }
}
