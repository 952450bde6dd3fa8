@testable import AgentCore
import FleetSupport
@testable import FleetTLS
import Testing

/// The agent's transport rules (AgentConfig+Transport) and how TLS failures are explained.
@Suite("Agent transport and TLS failures")
struct AgentTransportTests {
    func config(url: String, urls: [String] = [], api: String, token: String = "secret", insecure: Bool = false) -> AgentConfig {
        var config = AgentConfig()
        config.master.url = url
        config.master.urls = urls
        config.master.apiURL = api
        config.master.token = token
        config.master.insecure = insecure
        return config
    }

    func refusedKey(_ config: AgentConfig) -> String? {
        do {
            try config.validate()
            return nil
        } catch let error as ConfigError {
            return error.key
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test("host of a URL", arguments: [
        ("ws://127.0.0.1:8080/ws", "127.0.0.1"), ("wss://fleet.example.org/ws", "fleet.example.org"),
        ("http://[::1]:8080/api", "::1"), ("https://user:pw@host.example:443/api?x=1", "host.example"),
        ("ws://LOCALHOST", "LOCALHOST"), ("http://host#frag", "host"),
    ])
    func host(url: String, host: String) {
        #expect(AgentConfig.host(of: url) == host)
    }

    @Test("loopback hosts", arguments: [
        ("127.0.0.1", true), ("127.255.0.9", true), ("localhost", true), ("LocalHost", true), ("::1", true),
        ("::ffff:127.0.0.1", true), ("128.0.0.1", false), ("10.1.2.3", false), ("localhost.example.org", false),
        ("::2", false), ("fleet", false), ("0.0.0.0", false),
    ])
    func loopback(host: String, expected: Bool) {
        #expect(AgentConfig.isLoopback(host) == expected)
    }

    @Test("a token never goes in clear beyond loopback unless master.insecure")
    func plaintextWithToken() {
        #expect(refusedKey(config(url: "ws://127.0.0.1:8080/ws", api: "http://127.0.0.1:8080/api")) == nil)
        #expect(refusedKey(config(url: "ws://localhost:8080/ws", api: "http://[::1]:8080/api")) == nil)
        #expect(refusedKey(config(url: "ws://10.1.2.3:8080/ws", api: "https://fleet.example.org/api")) == "master.url")
        #expect(refusedKey(config(url: "wss://fleet.example.org/ws", urls: ["ws://fleet-2.example.org/ws"], api: "https://fleet.example.org/api")) == "master.urls")
        #expect(refusedKey(config(url: "wss://fleet.example.org/ws", api: "http://fleet.example.org/api")) == "master.api_url")
        #expect(refusedKey(config(url: "wss://fleet.example.org/ws", api: "https://fleet.example.org/api")) == nil)
        // Without a token nothing secret travels; with insecure the operator chose it.
        #expect(refusedKey(config(url: "ws://10.1.2.3:8080/ws", api: "http://10.1.2.3:8080/api", token: "")) == nil)
        #expect(refusedKey(config(url: "ws://10.1.2.3:8080/ws", api: "http://10.1.2.3:8080/api", insecure: true)) == nil)
    }

    @Test("wss:// to an IP address is refused (no TLS server name), https:// to one is fine")
    func wssNeedsName() {
        #expect(refusedKey(config(url: "wss://10.1.2.3/ws", api: "https://10.1.2.3/api")) == "master.url")
        #expect(refusedKey(config(url: "wss://fleet.example.org/ws", api: "https://10.1.2.3/api")) == nil)
        #expect(refusedKey(config(url: "wss://fleet.example.org/ws", api: "ftp://fleet.example.org/api")) == "master.api_url")
    }

    @Test("client certificate and key go together")
    func clientPair() {
        var half = config(url: "wss://fleet.example.org/ws", api: "https://fleet.example.org/api")
        half.master.certFile = "agent.crt"
        #expect(refusedKey(half) == "master.key_file")
        half.master.certFile = ""
        half.master.keyFile = "agent.key"
        #expect(refusedKey(half) == "master.cert_file")
    }

    @Test("BoringSSL error texts become causes", arguments: [
        ("handshakeFailed(sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED]))", TLSFailure.untrustedCertificate),
        ("sslError([Error: 268436566 error:10000456:SSL routines:OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED])", .clientCertificateRefused),
        ("error:10000412:SSL routines:OPENSSL_internal:SSLV3_ALERT_BAD_CERTIFICATE", .clientCertificateRefused),
        ("error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", .notTLS),
    ])
    func classify(text: String, expected: TLSFailure) {
        #expect(TLSFailure.classify(text) == expected)
    }

    @Test("explanations name the setting to check")
    func explanations() {
        let hints = TLSFailure.Hints(caFile: "master.ca_file", clientCertificate: "master.cert_file and master.key_file")
        #expect(TLSFailure.untrustedCertificate.explanation(hints) == "TLS: the gateway's certificate is not trusted (check master.ca_file)")
        #expect(TLSFailure.clientCertificateRefused.explanation(hints).contains("master.cert_file"))
        #expect(TLSFailure.wrongHost("fleet.example.org").explanation(hints).contains("'fleet.example.org'"))
        #expect(TLSFailure.expectedName(in: "NIOSSLExtraError.failedToValidateHostname: Couldn't find fleet.example.org in certificate from peer") == "fleet.example.org")
        #expect(TLSFailure.expectedName(in: "NIOSSLExtraError.failedToValidateHostname: Couldn't find <none> in certificate from peer") == nil)
        #expect(TLSFailure.wrongHost(nil).explanation(hints).contains("the address dialled"))
    }
}
