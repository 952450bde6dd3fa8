import ArgumentParser
import FleetProtocol
import Foundation

/// `master agents list|show|approve|revoke`.
struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents", abstract: "List agents, show one, approve or revoke one.",
        subcommands: [List.self, Show.self, Approve.self, Revoke.self], defaultSubcommand: List.self
    )

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let in an agent waiting for approval (auth.approval).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Agent id.") var id: String

        func run() async throws {
            do {
                _ = try await client.client().request(.POST, "/api/v1/agents/\(id)/approve")
                print(client.json ? #"{"approved":"\#(id)"}"# : "approved \(id)")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cut an agent off now and for good: its session closes and its credential is refused from then on."
        )
        @OptionGroup var client: ClientOptions
        @Argument(help: "Agent id.") var id: String

        func run() async throws {
            do {
                _ = try await client.client().request(.POST, "/api/v1/agents/\(id)/revoke")
                print(client.json ? #"{"revoked":"\#(id)"}"# : "revoked \(id)")
            } catch {
                throw fail(error)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agents (from any gateway).")
        @OptionGroup var client: ClientOptions
        @Option(help: "Only agents in this state (online, disconnected, offline, pending, revoked).")
        var state: AgentState?

        func run() async throws {
            do {
                let query = state.map { "?state=\($0.rawValue)" } ?? ""
                let list = try await client.client().get(AgentListResponse.self, "/api/v1/agents\(query)")
                if client.json {
                    print(try FleetJSON.encodeString(list, pretty: true))
                    return
                }
                let rows = list.agents.map { agent in
                    [
                        agent.id, agent.hostname, agent.state.rawValue,
                        agent.metrics?.cpu.map { String(format: "%.0f%%", $0.totalPercent) } ?? "-",
                        agent.metrics?.memory.map { String(format: "%.0f%%", $0.usedPercent) } ?? "-",
                        FleetJSON.format(agent.lastSeen),
                    ]
                }
                print(table(["ID", "HOST", "STATE", "CPU", "MEM", "LAST SEEN"], rows))
                print("\(list.total) agent(s)")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one agent.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Agent id.") var id: String

        func run() async throws {
            do {
                let agent = try await client.client().get(AgentRecord.self, "/api/v1/agents/\(id)")
                if client.json {
                    print(try FleetJSON.encodeString(agent, pretty: true))
                    return
                }
                var lines = [
                    ["id", agent.id], ["host", agent.hostname], ["state", agent.state.rawValue + (agent.stateReason.map { " (\($0))" } ?? "")],
                    ["os", "\(agent.os.name) \(agent.os.version), kernel \(agent.os.kernel), \(agent.os.arch)"],
                    ["agent", agent.agentVersion], ["gateway", agent.gatewayId ?? "-"], ["last seen", FleetJSON.format(agent.lastSeen)],
                ]
                if let metrics = agent.metrics { lines += summary(metrics) }
                print(table(["FIELD", "VALUE"], lines))
            } catch {
                throw fail(error)
            }
        }
    }
}

/// Key figures of a snapshot, for tables.
func summary(_ metrics: MetricsSnapshot) -> [[String]] {
    var lines: [[String]] = []
    if let cpu = metrics.cpu {
        lines.append(["cpu", String(format: "%.1f%% (%d cores), load %.2f", cpu.totalPercent, cpu.perCorePercent.count, cpu.load1 ?? 0)])
    }
    if let memory = metrics.memory {
        lines.append(["memory", String(format: "%.1f%% used of %.1f GiB", memory.usedPercent, Double(memory.totalBytes) / 1_073_741_824)])
    }
    for filesystem in metrics.filesystems ?? [] {
        lines.append(["disk \(filesystem.mountPoint)", String(format: "%.1f%% used of %.1f GiB", filesystem.usedPercent, Double(filesystem.totalBytes) / 1_073_741_824)])
    }
    if let uptime = metrics.uptimeSeconds { lines.append(["uptime", String(format: "%.1f h", uptime / 3600)]) }
    return lines
}

extension AgentState: ExpressibleByArgument {}
