import ArgumentParser
import FleetSupport
import Foundation
import Gateway
import Logging

/// Where the gateway's tokens come from: the config (`auth.agent_token`, `auth.admin_token`,
/// or their FLEET_MASTER_AUTH_* variables), else files in the data directory.
///
/// `master serve` creates missing files on first start (32 random bytes, hex, mode 0600) and
/// says how to use them. `master gateway` never invents tokens: every gateway of a split
/// deployment must accept the same ones, so a gateway without them refuses to start.
enum TokenFiles {
    static func agentPath(_ config: MasterConfig) -> String {
        config.auth.agentTokenFile.isEmpty ? "\(config.dataDir)/agent-token" : config.auth.agentTokenFile
    }
    static func adminPath(_ config: MasterConfig) -> String {
        config.auth.adminTokenFile.isEmpty ? "\(config.dataDir)/admin-token" : config.auth.adminTokenFile
    }

    /// The registry's reply-token secret, `<data_dir>/reply-secret` (created on first start):
    /// kept across restarts so requests in flight still match their tokens afterwards.
    static func replySecret(_ config: MasterConfig, logger: Logger) throws -> [UInt8] {
        let path = "\(config.dataDir)/reply-secret"
        let text = try token("", file: path, key: "reply secret", createMissing: true, logger: logger)
        return Array(text.utf8)
    }

    static func resolve(_ config: MasterConfig, createMissing: Bool, logger: Logger) throws -> GatewayTokens {
        guard config.auth.enabled else {
            logger.warning("authentication is DISABLED (auth.enabled: false): anyone who can reach this gateway controls the fleet")
            return .disabled
        }
        let agent = try token(config.auth.agentToken, file: agentPath(config), key: "auth.agent_token", createMissing: createMissing, logger: logger)
        let admin = try token(config.auth.adminToken, file: adminPath(config), key: "auth.admin_token", createMissing: createMissing, logger: logger)
        guard agent != admin else {
            FileHandle.standardError.write(Data("master: auth.agent_token and auth.admin_token must differ\n".utf8))
            throw ExitCode(2)
        }
        return GatewayTokens(agent: [agent], admin: [admin])
    }

    private static func token(_ configured: String, file: String, key: String, createMissing: Bool, logger: Logger) throws -> String {
        if !configured.isEmpty { return configured }
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !token.isEmpty { return token }
        }
        guard createMissing else {
            FileHandle.standardError.write(Data("""
                master: no \(key): set it (or FLEET_MASTER_\(key.uppercased().replacingOccurrences(of: ".", with: "_"))) \
                to the same value on every gateway, or put it in \(file)\n
                """.utf8))
            throw ExitCode(2)
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        do {
            // The data dir 0700 and the file 0600 from its first byte (never readable by others,
            // not even between a create and a chmod).
            try PrivateDirectory.ensure(URL(fileURLWithPath: file).deletingLastPathComponent().path)
            try AtomicFile.write("\(token)\n", to: file, mode: 0o600)
        } catch {
            FileHandle.standardError.write(Data("master: cannot write \(file): \(error)\n".utf8))
            throw ExitCode(1)
        }
        logger.notice("generated \(key) into \(file) (mode 0600)")
        return token
    }
}
