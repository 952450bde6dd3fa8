import CZeroMQ

/// CURVE (RFC 26, CurveZMQ) on a socket: set before `bind`/`connect`, it applies to every
/// connection made afterwards. A connection is then encrypted and the server knows the
/// client's public key; which keys it accepts is decided by the context's ZAP handler
/// (RFC 27), found through the socket's ZAP domain.
extension ZMQSocket {
    /// Makes this socket a CURVE server: it proves it holds `secretKey`, and asks the ZAP
    /// handler bound in its context (at `inproc://zeromq.zap.01`) about each client, naming
    /// `zapDomain`, so one handler can admit different clients on different sockets.
    ///
    /// Bind the ZAP handler *before* connections can arrive: libzmq 4.3 accepts every client
    /// key when no handler is bound (the "Stonehouse" legacy mode), and the option that
    /// would refuse instead (`ZMQ_ZAP_ENFORCE_DOMAIN`) is draft API that Debian does not build.
    public func makeCurveServer(secretKey: CurveKey, zapDomain: String) throws {
        try Curve.requireAvailable()
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(zapDomain.utf8))
        try setOption(ZMQ_CURVE_SERVER, 1)
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: secretKey.bytes)
    }

    /// Makes this socket a CURVE client of the server whose public key is `serverKey`: the
    /// handshake fails unless the peer holds the matching secret key, so nobody else can
    /// pose as the server. `keyPair` is what this socket presents.
    public func makeCurveClient(serverKey: CurveKey, keyPair: CurveKeyPair) throws {
        try Curve.requireAvailable()
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: serverKey.bytes)
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: keyPair.publicKey.bytes)
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: keyPair.secretKey.bytes)
    }

    /// Received messages carry `userId`: the ZAP `User-Id` of the connection each came on
    /// (what the ZAP handler answered for that peer; nil where no handler was asked, e.g.
    /// over inproc). Off by default: reading it is one `zmq_msg_gets` per message, and only
    /// sockets that make decisions on it need it. Set before `receiver()` is first called.
    public func setReceivesUserId(_ on: Bool) {
        readsUserId.store(on, ordering: .relaxed)
    }
}
