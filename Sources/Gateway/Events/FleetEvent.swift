import Bus
import FleetProtocol
import Synchronization

/// One event on `GET /api/v1/events` (SSE): a fact about the fleet, in the registry's order.
struct FleetEvent: Sendable, Equatable {
    /// `<epoch>-<seq>`: the registry run and its update sequence; what a client sends back as
    /// `Last-Event-ID` to resume.
    var id: String
    /// `agent.online`, `agent.disconnected`, `agent.offline`, `agent.metrics`,
    /// `request.pending`, `request.dispatched`, `request.completed`, `request.failed`, `reset`.
    var type: String
    var payload: Payload
    var seq: UInt64
    var epoch: String
    /// The tenant whose agent the event is about; nil for events every key sees (`reset`).
    var tenant: String?

    init(id: String, type: String, payload: Payload, seq: UInt64, epoch: String, tenant: String? = nil) {
        self.id = id
        self.type = type
        self.payload = payload
        self.seq = seq
        self.epoch = epoch
        self.tenant = tenant
    }

    init(id: String, type: String, data: String, seq: UInt64, epoch: String) {
        self.init(id: id, type: type, payload: Payload(.text(data)), seq: seq, epoch: epoch)
    }

    /// The JSON payload (the record as the API returns it).
    var data: String { payload.json }

    /// The SSE wire form.
    var frame: String {
        "id: \(id)\nevent: \(type)\ndata: \(data)\n\n"
    }

    /// Whether `caller` may see this event at all (its tenant).
    func visible(to caller: Principal) -> Bool {
        tenant.map { caller.sees(tenant: $0) } ?? true
    }

    /// The SSE wire form as `caller` may see it: a request's arguments and result are left
    /// out for keys that could not have made it (see `Principal.view`).
    func frame(for caller: Principal) -> String {
        guard payload.isRedactable(for: caller) else { return frame }
        return "id: \(id)\nevent: \(type)\ndata: \(payload.redactedJSON)\n\n"
    }

    static func == (a: FleetEvent, b: FleetEvent) -> Bool {
        a.id == b.id && a.type == b.type && a.data == b.data
    }

    /// The record an event carries, encoded to JSON the first time a subscriber needs it and
    /// kept. Every replica change becomes an event (the ring serves resumes), but most are
    /// never read when nobody is subscribed: encoding them eagerly was one whole JSON pass
    /// per heartbeat per gateway (perf, bench/RESULTS.md). The record shares its storage with
    /// the replica's copy, so the ring costs less than the strings it used to hold.
    final class Payload: Sendable {
        enum Source: Sendable {
            case text(String)
            case agent(AgentRecord)
            /// A new snapshot for an agent: decoded and merged only when a subscriber reads it.
            case metrics(AgentRecord, MetricsEntry)
            case request(RequestRecord)
            case alert(AlertRecord)
        }

        private let source: Source
        private let cache = Mutex<String?>(nil)
        private let redactedCache = Mutex<String?>(nil)

        func isRedactable(for caller: Principal) -> Bool {
            guard case .request(let record) = source else { return false }
            return !caller.role.includes(KeyRole.needed(for: record.kind))
        }

        /// The request without its arguments and result (encoded once, when first needed).
        var redactedJSON: String {
            if let cached = redactedCache.withLock({ $0 }) { return cached }
            guard case .request(let record) = source else { return json }
            var redacted = record
            redacted.args = .null
            redacted.result = nil
            let encoded = (try? FleetJSON.encodeString(redacted)) ?? "{}"
            redactedCache.withLock { $0 = encoded }
            return encoded
        }

        init(_ source: Source) { self.source = source }

        var json: String {
            if let cached = cache.withLock({ $0 }) { return cached }
            let encoded: String
            switch source {
            case .text(let text): encoded = text
            case .agent(let record): encoded = (try? FleetJSON.encodeString(record)) ?? "{}"
            case .metrics(let record, let entry): encoded = (try? FleetJSON.encodeString(entry.merged(into: record))) ?? "{}"
            case .request(let record): encoded = (try? FleetJSON.encodeString(record)) ?? "{}"
            case .alert(let record): encoded = (try? FleetJSON.encodeString(record)) ?? "{}"
            }
            cache.withLock { $0 = encoded }
            return encoded
        }
    }
}
