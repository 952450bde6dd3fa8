import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FleetProtocol
import Logging
import Metrics
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
/// exponential backoff (capped) until `retryFor` seconds after the alert was queued: a
/// receiver down for a while gets its notifications when it is back; only then is one given
/// up (logged and counted).
///
/// Durable and bounded: each notification waits in the registry's store (`webhook_outbox`)
/// and leaves it only once its webhook answered 2xx or it was given up, so a registry restart
/// loses none (at least once: one delivered just before a crash may come again). At most
/// `maxQueued` wait per webhook; past that the *oldest* is dropped and counted
/// (`fleet_registry_webhooks_dropped_total{reason="overflow"}`): when a receiver has been
/// down that long the newest state matters more, and the registry's memory and disk stay
/// bounded whatever the receiver does. Without a store the same queue is kept in memory.
final class WebhookSender: Sendable {
    static let maxQueued = 1_000

    private let webhooks: [Webhook]
    private let outbox: WebhookOutbox
    /// Alerts from the evaluation loop (which must not wait on the store) to the one task
    /// that queues them; it holds at most what fires while one store write is in progress.
    private let intake: AsyncStream<AlertRecord>
    private let intakeWriter: AsyncStream<AlertRecord>.Continuation
    /// One wake-up per webhook: "something was queued" (at most one pending).
    private let wakeups: [AsyncStream<Void>]
    private let wakers: [AsyncStream<Void>.Continuation]
    private let retryFor: Double
    private let backoff: (base: Double, cap: Double)
    private let logger: Logger

    init(webhooks: [Webhook], store: RegistryStore?, retryFor: Double, retryBase: Double, retryCap: Double, logger: Logger) {
        self.webhooks = webhooks
        self.outbox = WebhookOutbox(store: store, limit: Self.maxQueued)
        (intake, intakeWriter) = AsyncStream.makeStream(of: AlertRecord.self)
        var wakeups: [AsyncStream<Void>] = []
        var wakers: [AsyncStream<Void>.Continuation] = []
        for _ in webhooks {
            let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            wakeups.append(stream)
            wakers.append(continuation)
        }
        self.wakeups = wakeups
        self.wakers = wakers
        self.retryFor = retryFor
        self.backoff = (retryBase, retryCap)
        self.logger = logger
    }

    func enqueue(_ alert: AlertRecord) {
        intakeWriter.yield(alert)
    }

    /// Delivers until cancelled, starting with whatever an earlier run left queued.
    func run() async {
        await persistently("webhook outbox cleanup") {
            let removed = try await outbox.remove(notFor: webhooks.map(\.url))
            if removed > 0 {
                logger.warning("queued notifications for webhooks no longer configured dropped", metadata: ["count": "\(removed)"])
                Self.dropped(reason: "unconfigured", count: removed)
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.queueArrivals() }
            for (index, webhook) in webhooks.enumerated() {
                let wakeup = wakeups[index]
                group.addTask { await self.drain(webhook, wakeup: wakeup) }
            }
        }
    }

    private func queueArrivals() async {
        for await alert in intake {
            for (index, webhook) in webhooks.enumerated() {
                await persistently("alert not queued for its webhook") {
                    let dropped = try await outbox.add(alert, to: webhook.url, at: Date())
                    if dropped > 0 {
                        logger.error("webhook queue full: oldest notifications dropped", metadata: [
                            "webhook": "\(webhook.url)", "dropped": "\(dropped)", "limit": "\(Self.maxQueued)",
                        ])
                        Self.dropped(reason: "overflow", count: dropped)
                    }
                }
                wakers[index].yield()
            }
        }
    }

    /// One webhook's queue, oldest first, one at a time (so a receiver sees them in order).
    private func drain(_ webhook: Webhook, wakeup: AsyncStream<Void>) async {
        var wakeups = wakeup.makeAsyncIterator()
        while !Task.isCancelled {
            var next: RegistryStore.QueuedNotification?
            await persistently("webhook outbox not read") { next = try await outbox.first(for: webhook.url) }
            guard let item = next else {
                guard await wakeups.next() != nil else { return }
                continue
            }
            let delivered = await deliver(item, to: webhook)
            guard !Task.isCancelled else { return }  // stopping: it stays queued for the next run
            if delivered {
                Counter(label: "fleet_registry_webhooks_delivered_total").increment()
            } else {
                Self.dropped(reason: "given_up", count: 1)
            }
            await persistently("delivered notification not removed from the outbox") { try await outbox.remove(item.id, from: webhook.url) }
        }
    }

    /// `fleet_registry_webhooks_dropped_total{reason}`: notifications that will never be
    /// delivered (`overflow`, `given_up` after `retry_for`, `unconfigured`).
    static func dropped(reason: String, count: Int) {
        Counter(label: "fleet_registry_webhooks_dropped_total", dimensions: [("reason", reason)]).increment(by: count)
    }

    /// Runs `body` until it succeeds (or the task is cancelled), backing off from 0.1 s to 5 s:
    /// a store that fails for a while (disk full) delays notifications but loses none.
    private func persistently(_ what: String, _ body: () async throws -> Void) async {
        var delay = 0.1
        while !Task.isCancelled {
            do {
                try await body()
                return
            } catch {
                logger.error("\(what); retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
                delay = min(delay * 2, 5)
            }
        }
    }

    /// - Returns: true once the webhook answered 2xx; false once given up (or cancelled).
    private func deliver(_ item: RegistryStore.QueuedNotification, to webhook: Webhook) async -> Bool {
        let alert = item.alert
        let body: [UInt8]
        do {
            body = try Self.body(alert, format: webhook.format)
        } catch {
            return false
        }
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
                    return true
                }
                logger.notice("webhook refused the alert", metadata: ["status": "\(response.status.code)", "webhook": "\(webhook.url)"])
            } catch {
                logger.notice("webhook unreachable", metadata: ["error": "\(error)", "webhook": "\(webhook.url)", "attempt": "\(attempt + 1)"])
            }
            // Measured from when it was queued, which survives a restart: the bound is total.
            guard Date().timeIntervalSince(item.queuedAt) < retryFor else {
                logger.error("alert not delivered; given up", metadata: ["alert": "\(alert.id)", "webhook": "\(webhook.url)"])
                return false
            }
            let delay = min(backoff.cap, backoff.base * Double(1 << min(attempt, 20)))
            attempt += 1
            try? await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
        }
        return false
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
