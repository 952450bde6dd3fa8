import CZeroMQ

/// The socket types the fleet uses, named as in the ZeroMQ guide.
public enum SocketType: Sendable, CustomStringConvertible {
    case pub, sub, push, pull, dealer, router, pair

    var raw: Int32 {
        switch self {
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pair: ZMQ_PAIR
        }
    }

    /// Whether messages can arrive on this type (and so it may have a receive thread).
    public var canReceive: Bool {
        switch self {
        case .pub, .push: false
        case .sub, .pull, .dealer, .router, .pair: true
        }
    }

    public var description: String {
        switch self {
        case .pub: "PUB"
        case .sub: "SUB"
        case .push: "PUSH"
        case .pull: "PULL"
        case .dealer: "DEALER"
        case .router: "ROUTER"
        case .pair: "PAIR"
        }
    }
}
