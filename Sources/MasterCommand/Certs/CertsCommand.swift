import ArgumentParser
import FleetSupport
import Foundation

/// `master certs init`: a private CA and the certificates a fleet needs for TLS, so a
/// deployment across hosts does not have to start with an openssl tutorial.
struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Make TLS certificates for gateways and agents.", subcommands: [CertsInit.self]
    )
}

struct CertsInit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Make a private CA, a gateway certificate and agent client certificates (P-256, files 0600).",
        discussion: """
            Writes ca.crt and ca.key (the CA), gateway.crt and gateway.key (valid for every --host, \
            and always for localhost, 127.0.0.1 and ::1), and agent-NAME.crt / agent-NAME.key for \
            each --agent (client certificates, for gateways with server.tls.client_ca). Every file \
            is mode 0600 from its first byte and DIR is 0700. Keep ca.key off the gateways: it can \
            issue certificates every agent trusts.
            """
    )

    @Option(help: "Directory to write into (created 0700).")
    var dir: String

    @Option(name: .customLong("host"), help: ArgumentHelp("A DNS name or IP address agents and operators use to reach a gateway (repeatable).", valueName: "name"))
    var hosts: [String] = []

    @Option(name: .customLong("agent"), help: ArgumentHelp("Make a client certificate agent-NAME.crt for this agent (repeatable).", valueName: "name"))
    var agents: [String] = []

    @Option(help: "Days the certificates are valid (the CA too).")
    var days = 825

    @Flag(help: "Replace existing files (a new CA: every agent then needs the new ca.crt).")
    var force = false

    func run() async throws {
        do {
            try make()
        } catch let invalid as InvalidInput {
            FileHandle.standardError.write(Data("master certs init: \(invalid.message)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("master certs init: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    struct InvalidInput: Error {
        let message: String
    }

    private func make() throws {
        guard (1...36_500).contains(days) else { throw InvalidInput(message: "--days must be 1...36500, got \(days)") }
        var names: [HostName] = []
        for host in hosts {
            do {
                names.append(try HostName(parsing: host))
            } catch {
                throw InvalidInput(message: "--host \(error)")
            }
        }
        for name in HostName.loopback where !names.contains(name) { names.append(name) }
        for agent in agents where !Self.isAgentName(agent) {
            throw InvalidInput(message: "--agent '\(agent)': use letters, digits, '.', '_' and '-' (up to 64, not starting with '.' or '-')")
        }
        guard Set(agents).count == agents.count else { throw InvalidInput(message: "--agent: a name is given twice") }

        let directory = URL(fileURLWithPath: dir).standardizedFileURL.path
        let files = ["ca.crt", "ca.key", "gateway.crt", "gateway.key"] + agents.flatMap { ["agent-\($0).crt", "agent-\($0).key"] }
        let existing = files.filter { FileManager.default.fileExists(atPath: "\(directory)/\($0)") }
        if !existing.isEmpty && !force {
            throw InvalidInput(message: """
                \(existing.joined(separator: ", ")) already in \(directory); nothing written. \
                Give --force to replace them (a new CA: agents then need the new ca.crt)
                """)
        }
        try Self.makePrivateDirectory(directory)

        let ca = try CertificateAuthority(days: days)
        let gateway = try ca.issueServer(names: names, days: days)
        var written: [(String, String)] = []
        func write(_ issued: CertificateAuthority.Issued, _ base: String, _ what: String) throws {
            // Keys first: a certificate on disk without its key would be a half-made pair.
            try AtomicFile.write(try issued.privateKeyPEM, to: "\(directory)/\(base).key", mode: 0o600)
            try AtomicFile.write(try issued.certificatePEM, to: "\(directory)/\(base).crt", mode: 0o600)
            written.append(("\(base).crt, \(base).key", what))
        }
        try write(ca.root, "ca", "the private CA (keep ca.key safe and off the gateways)")
        try write(gateway, "gateway", "gateway server certificate for \(names.map(\.description).joined(separator: ", "))")
        for agent in agents {
            try write(try ca.issueClient(name: agent, days: days), "agent-\(agent)", "client certificate for agent \(agent)")
        }
        // Agents need a host name in wss:// URLs (a TLS server name cannot be an address).
        let dialled = names.first { if case .dns(let name) = $0 { !name.hasPrefix("*.") } else { false } }
        print(Self.report(directory: directory, written: written, agents: agents, host: dialled?.description ?? "localhost", days: days))
    }

    static func isAgentName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && !name.hasPrefix(".") && !name.hasPrefix("-")
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d }
    }

    /// DIR and any missing parents; DIR itself 0700 (tightened if it already existed), so
    /// no other user can list or swap the files.
    static func makePrivateDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw InvalidInput(message: "\(path) exists and is not a directory") }
        } else {
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot create \(path): \(String(cString: strerror(errno)))"])
            }
        }
        guard chmod(path, 0o700) == 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSLocalizedDescriptionKey: "cannot make \(path) 0700: \(String(cString: strerror(errno)))"])
        }
    }

    static func report(directory: String, written: [(String, String)], agents: [String], host: String, days: Int) -> String {
        let width = written.map(\.0.count).max() ?? 0
        var lines = ["Made in \(directory) (directory 0700, files 0600; valid \(days) days):"]
        lines += written.map { "  \($0.0.padding(toLength: width, withPad: " ", startingAt: 0))  \($0.1)" }
        lines += [
            "",
            "Gateway (master.yaml):",
            "  server.tls.cert: \(directory)/gateway.crt",
            "  server.tls.key: \(directory)/gateway.key",
            "  server.tls.client_ca: \(directory)/ca.crt    # optional: require agents' client certificates (mTLS)",
            "",
            "Agent (agent.yaml; copy ca.crt, and its own agent-NAME files, to the agent's host):",
            "  master.url: wss://\(host):8080/ws",
            "  master.api_url: https://\(host):8080/api",
            "  master.ca_file: \(directory)/ca.crt",
        ]
        let example = agents.first ?? "NAME"
        lines += [
            "  master.cert_file: \(directory)/agent-\(example).crt    # with server.tls.client_ca",
            "  master.key_file: \(directory)/agent-\(example).key",
            "",
            "CLI: master agents --url https://\(host):8080 --ca-file \(directory)/ca.crt   (or FLEET_CA_FILE)",
        ]
        return lines.joined(separator: "\n")
    }
}
