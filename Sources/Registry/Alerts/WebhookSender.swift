import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Logging
import NIOCore

/// A webhook from `alerts.webhooks`: where fired and resolved alerts are POSTed.
public struct Webhook: Codable, Sendable, Equatable {
    public enum Format: String, Codable, Sendable {
        /// `{"status":"firing","alert":{...}}`
        case json
        /// Slack-compatible `{"text":"..."}` (also Mattermost, Rocket.Chat).
        case slack
    }

    public var url: String
    public var format: Format

    public init(url: String, format: Format) {
        self.url = url
        self.format = format
    }

    enum CodingKeys: String, CodingKey { case url, format }

    /// `format` defaults to `json`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.url = try container.decode(String.self, forKey: .url)
        self.format = try container.decodeIfPresent(Format.self, forKey: .format) ?? .json
    }
}

/// Delivers alert notifications to every webhook, in order per webhook, retrying with
/// exponential backoff (capped) for up to `retryFor` seconds: a receiver down for a while
/// gets its notifications when it is back; only then is one given up (and logged).
final class WebhookSender: Sendable {
    private let webhooks: [Webhook]
    private let queues: [AsyncStream<AlertRecord>.Continuation]
    private let streams: [AsyncStream<AlertRecord>]
    private let retryFor: Double
    private let backoff: (base: Double, cap: Double)
    private let logger: Logger

    init(webhooks: [Webhook], retryFor: Double, retryBase: Double, retryCap: Double, logger: Logger) {
        self.webhooks = webhooks
        var queues: [AsyncStream<AlertRecord>.Continuation] = []
        var streams: [AsyncStream<AlertRecord>] = []
        for _ in webhooks {
            let (stream, continuation) = AsyncStream.makeStream(of: AlertRecord.self)
            streams.append(stream)
            queues.append(continuation)
        }
        self.queues = queues
        self.streams = streams
        self.retryFor = retryFor
        self.backoff = (retryBase, retryCap)
        self.logger = logger
    }

    func enqueue(_ alert: AlertRecord) {
        for queue in queues { queue.yield(alert) }
    }

    /// Delivers until cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for (index, webhook) in webhooks.enumerated() {
                let stream = streams[index]
                group.addTask {
                    for await alert in stream { await self.deliver(alert, to: webhook) }
                }
            }
        }
    }

    private func deliver(_ alert: AlertRecord, to webhook: Webhook) async {
        let body: [UInt8]
        do {
            body = try Self.body(alert, format: webhook.format)
        } catch {
            return
        }
        let started = ContinuousClock.now
        var attempt = 0
        while !Task.isCancelled {
            var request = HTTPClientRequest(url: webhook.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "fleet-master")
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                _ = try? await response.body.collect(upTo: 65_536)
                if (200..<300).contains(response.status.code) {
                    logger.info("alert delivered", metadata: ["alert": "\(alert.id)", "state": "\(alert.state.rawValue)", "webhook": "\(webhook.url)"])
                    return
                }
                logger.notice("webhook refused the alert", metadata: ["status": "\(response.status.code)", "webhook": "\(webhook.url)"])
            } catch {
                logger.notice("webhook unreachable", metadata: ["error": "\(error)", "webhook": "\(webhook.url)", "attempt": "\(attempt + 1)"])
            }
            guard (ContinuousClock.now - started).inSeconds < retryFor else {
                logger.error("alert not delivered; given up", metadata: ["alert": "\(alert.id)", "webhook": "\(webhook.url)"])
                return
            }
            let delay = min(backoff.cap, backoff.base * Double(1 << min(attempt, 20)))
            attempt += 1
            try? await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
        }
    }

    static func body(_ alert: AlertRecord, format: Webhook.Format) throws -> [UInt8] {
        switch format {
        case .json:
            struct Notification: Encodable {
                var status: String
                var alert: AlertRecord
            }
            return try FleetJSON.encode(Notification(status: alert.state.rawValue, alert: alert))
        case .slack:
            let icon = alert.state == .firing ? ":rotating_light:" : ":white_check_mark:"
            return try FleetJSON.encode(["text": "\(icon) [\(alert.state.rawValue.uppercased())] \(alert.rule): \(alert.message)"])
        }
    }
}
