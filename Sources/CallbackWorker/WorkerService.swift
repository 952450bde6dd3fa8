import Bus
import FleetProtocol
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The callback-worker role: PULLs jobs from the registry's streamer, processes them, and
/// PUSHes results to the registry. Stateless, so more workers = more parallel jobs.
///
/// It heartbeats the registry every second (Paranoid Pirate style) so a dead worker shows up
/// in the registry's view of the bus. A worker killed mid-job loses nothing for good: the
/// registry's request deadline re-issues the callback and the agent replies again.
public final class WorkerService: Service, Sendable {
    private let settings: WorkerSettings
    private let logger: Logger
    private let jobs: BusReceiver
    private let events: EventSender
    private let blobs: JobSender
    private let jobsDone = Atomic<UInt64>(0)

    public init(context: BusContext, settings: WorkerSettings, logger: Logger) throws {
        self.settings = settings
        var logger = logger
        logger[metadataKey: "worker"] = "\(settings.workerId)"
        self.logger = logger
        self.jobs = try BusReceiver.connect(
            settings.endpoints.jobsOut, context: context, security: settings.security, highWaterMark: BusTuning.jobHighWaterMark
        )
        self.events = try EventSender(context: context, endpoint: settings.endpoints.events, security: settings.security, logger: logger)
        self.blobs = try JobSender(context: context, endpoint: settings.endpoints.blobs, security: settings.security)
    }

    public func run() async throws {
        logger.info("callback-worker running")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.consumeJobs() }
            group.addTask { await self.beat() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        logger.info("callback-worker stopped")
    }

    private func consumeJobs() async {
        do {
            for await batch in try jobs.batches(maxBatch: BusTuning.jobReceiveBatch, maxPendingBatches: BusTuning.jobPendingBatches) {
                for job in batch {
                    await handle(job)
                    jobsDone.add(1, ordering: .relaxed)
                }
            }
        } catch {
            logger.error("job intake stopped", metadata: ["error": "\(error)"])
        }
    }

    private func handle(_ job: BusMessage) async {
        if job.string(at: 0) == ContentChunkHeader.jobKind {
            await forward(chunk: job)
            return
        }
        guard job.frames.count == 3, job.string(at: 0) == CallbackJobHeader.kind,
            let header = try? FleetJSON.decode(CallbackJobHeader.self, from: job.frames[1])
        else {
            logger.warning("malformed job ignored", metadata: ["frames": "\(job.frames.count)", "kind": "\(job.string(at: 0) ?? "?")"])
            return
        }
        let started = ContinuousClock.now
        let result = ReplyProcessor.process(header, body: job.frames[2])
        Counter(label: "fleet_worker_jobs_total", dimensions: [("kind", header.kind.rawValue), ("result", result.ok ? "ok" : "failed")]).increment()
        Timer(label: "fleet_worker_job_duration_seconds", preferredDisplayUnit: .seconds)
            .recordNanoseconds(Int64((ContinuousClock.now - started).inSeconds * 1e9))
        do {
            try await events.send(.requestResult(result))
            logger.debug("job done", metadata: ["request": "\(header.requestId)", "ok": "\(result.ok)"])
        } catch {
            Counter(label: "fleet_worker_results_undelivered_total").increment()
            logger.error("result not sent", metadata: ["request": "\(header.requestId)", "error": "\(error)"])
        }
    }

    /// A piece of an uploaded file: on to the registry's store. Chunks of one upload may be
    /// spread over several workers; the registry puts them in order by index.
    private func forward(chunk job: BusMessage) async {
        guard job.frames.count == 3, let header = try? FleetJSON.decode(ContentChunkHeader.self, from: job.frames[1]) else {
            logger.warning("malformed chunk ignored")
            return
        }
        Counter(label: "fleet_worker_chunk_bytes_total").increment(by: Int64(job.frames[2].count))
        do {
            try await blobs.send(chunk: header, kind: ContentChunkHeader.blobKind, bytes: job.frames[2])
        } catch {
            logger.error("chunk not forwarded", metadata: ["request": "\(header.requestId)", "error": "\(error)"])
        }
    }

    private func beat() async {
        while !Task.isCancelled {
            events.trySend(.workerHeartbeat(.init(workerId: settings.workerId, jobsDone: jobsDone.load(ordering: .relaxed))))
            BusSocketMetrics.record([("worker_events", events.statistics), ("worker_blobs", blobs.statistics), ("worker_jobs", jobs.statistics)])
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
        }
    }
}
