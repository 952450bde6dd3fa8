import ArgumentParser
import FleetProtocol
import Foundation

/// `master tokens create|list|revoke`: API keys (viewer, operator, admin) and enrollment
/// tokens, through the admin API of any gateway (an admin key is needed).
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Make, list and revoke API keys and enrollment tokens.",
        subcommands: [Create.self, List.self, Revoke.self], defaultSubcommand: List.self
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a key; its secret is printed once.",
            discussion: """
                Roles: viewer (reads), operator (adds status and logs requests), admin (adds exec, \
                config, restart, delete, approve, revoke, keys and the audit log), enrollment (lets \
                new agents enroll into --tenant; --max-agents caps how many).
                """
        )
        @OptionGroup var client: ClientOptions
        @Option(help: "viewer, operator, admin or enrollment.") var role: KeyRole
        @Option(help: "A name for people and the audit log.") var name: String
        @Option(help: "The tenant the key reaches (default: every tenant; enrollment tokens: default).") var tenant: String?
        @Option(help: "Enrollment tokens: most agents that may enroll with it.") var maxAgents: Int?

        func run() async throws {
            do {
                let body = try FleetJSON.encode(APIKeyCreateRequest(role: role, name: name, tenant: tenant, maxAgents: maxAgents))
                let (_, data) = try await client.client().request(.POST, "/api/v1/tokens", body: body)
                let key = try FleetJSON.decode(APIKeySummary.self, from: Array(data.readableBytesView))
                if client.json {
                    print(try FleetJSON.encodeString(key, pretty: true))
                    return
                }
                print(table(["FIELD", "VALUE"], rows(key) + [["secret", key.secret ?? "-"]]))
                FileHandle.standardError.write(Data("master: the secret is shown only now; keep it (mode 0600 if in a file)\n".utf8))
            } catch {
                throw fail(error)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let list = try await client.client().get(APIKeyListResponse.self, "/api/v1/tokens")
                if client.json {
                    print(try FleetJSON.encodeString(list, pretty: true))
                    return
                }
                print(table(["ID", "NAME", "ROLE", "TENANT", "CREATED", "REVOKED"], list.tokens.map { key in
                    [key.id, key.name, key.role.rawValue, key.tenant ?? "*", FleetJSON.format(key.createdAt), key.revokedAt.map(FleetJSON.format) ?? "-"]
                }))
            } catch {
                throw fail(error)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: refused everywhere from then on.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Key id (k-...).") var id: String

        func run() async throws {
            do {
                let (_, data) = try await client.client().request(.DELETE, "/api/v1/tokens/\(id)")
                let key = try FleetJSON.decode(APIKeySummary.self, from: Array(data.readableBytesView))
                print(client.json ? try FleetJSON.encodeString(key, pretty: true) : "revoked \(key.id) (\(key.name))")
            } catch {
                throw fail(error)
            }
        }
    }

    static func rows(_ key: APIKeySummary) -> [[String]] {
        [["id", key.id], ["name", key.name], ["role", key.role.rawValue], ["tenant", key.tenant ?? "*"]]
            + (key.maxAgents.map { [["max agents", "\($0)"]] } ?? [])
    }
}

/// `master audit [--agent ID] [--since RFC3339] [--limit N]`: the audit log, newest first.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Show the audit log (admin key).")
    @OptionGroup var client: ClientOptions
    @Option(help: "Only lines about this agent.") var agent: String?
    @Option(help: "Only lines at or after this time (RFC 3339).") var since: String?
    @Option(help: "At most this many lines.") var limit = 100

    func run() async throws {
        var query = ["limit=\(limit)"]
        if let agent { query.append("agent=\(agent.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? agent)") }
        if let since { query.append("since=\(since.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? since)") }
        do {
            let list = try await client.client().get(AuditListResponse.self, "/api/v1/audit?" + query.joined(separator: "&"))
            if client.json {
                print(try FleetJSON.encodeString(list, pretty: true))
                return
            }
            print(table(["AT", "KEY", "ACTION", "AGENT", "STATUS", "SOURCE"], list.entries.map { entry in
                [FleetJSON.format(entry.at), entry.keyName, entry.action, entry.agentId ?? "-", "\(entry.status) \(entry.outcome)", entry.source ?? "-"]
            }))
        } catch {
            throw fail(error)
        }
    }
}

extension KeyRole: ExpressibleByArgument {}
