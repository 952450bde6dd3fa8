import ZeroMQ

/// Socket settings chosen for the bus, in one place so every role agrees.
///
/// HWMs are set deliberately rather than left at libzmq's 1000: a registry restart or a
/// slow gateway must not stall the others, and what a PUB drops at its HWM is recovered by
/// the Clone replica's gap detection. ZMTP heartbeats find a dead peer in seconds even
/// when TCP would not (a host that vanished without a FIN).
public enum BusTuning {
    /// Queue depth per peer for events and jobs (PUSH/PULL): deep enough to ride out a
    /// registry pause of a second at 50k msg/s.
    public static let taskHighWaterMark: Int32 = 100_000
    /// Queue depth per peer for `events` (both ends). Not deeper: under overload what waits
    /// here is memory and latency (50,000 agents once grew a registry to 2.3 GB in libzmq
    /// queues, and gateway beats queued behind data). A full queue is the signal the
    /// gateway's heartbeat outbox coalesces on (latest per agent), while the events that must
    /// arrive in order (sessions, requests) wait for room. 10,000 heartbeats are ~13 MB.
    public static let eventHighWaterMark: Int32 = 10_000
    /// Queue depth on the registry's receiving end of `events`, per peer. Heartbeats come in
    /// batches (`HeartbeatBatch`, up to 64 beats), so a message here can be 80 KB: deep
    /// receive queues would hold thousands of them. The senders' queues (above, and the
    /// heartbeat lane's below) are where events wait.
    public static let eventReceiveHighWaterMark: Int32 = 64
    /// Queue depth of a gateway's heartbeat lane (its own PUSH to `events`, apart from the
    /// control events, which so never wait behind heartbeats): 64 batches of at most 64
    /// beats, about as many beats as `eventHighWaterMark` held one by one. When it is full, the
    /// heartbeat outbox coalesces (latest per agent).
    public static let heartbeatLaneHighWaterMark: Int32 = 64
    /// Batches of events drained ahead of the registry's core (of up to 1,024 each): beyond
    /// this the receive thread leaves them in libzmq's bounded queue. Was 16 (~21 MB of
    /// heartbeats held in Swift arrays under overload, on top of the queue itself).
    public static let eventPendingBatches = 4
    /// Queue depth for jobs and file chunks (jobs_in, jobs_out, blobs). Small on purpose: a
    /// job may be a 256 KiB chunk of a 100 MiB upload, and what waits here is memory; a full
    /// queue makes the sender wait, which slows the upload down to what the store can take.
    public static let jobHighWaterMark: Int32 = 32
    /// Receive batching for those sockets: a few messages at a time, for the same reason.
    public static let jobReceiveBatch = 8
    public static let jobPendingBatches = 2

    /// Queue depth per subscriber for state updates (PUB/SUB).
    public static let updateHighWaterMark: Int32 = 200_000
    public static let heartbeatIntervalMilliseconds: Int32 = 1_000
    public static let heartbeatTimeoutMilliseconds: Int32 = 5_000
    /// Largest bus message accepted from a peer (a snapshot chunk or a job chunk).
    public static let maxMessageBytes: Int64 = 64 * 1_048_576

    /// Applies the settings for a socket of the given role on the bus.
    public static func apply(to socket: ZMQSocket, highWaterMark: Int32) throws {
        try socket.setSendHighWaterMark(highWaterMark)
        try socket.setReceiveHighWaterMark(highWaterMark)
        try socket.setHeartbeat(
            intervalMilliseconds: heartbeatIntervalMilliseconds, timeoutMilliseconds: heartbeatTimeoutMilliseconds
        )
        if socket.type != .pub && socket.type != .push {
            try socket.setMaxMessageSize(maxMessageBytes)
        }
    }
}
