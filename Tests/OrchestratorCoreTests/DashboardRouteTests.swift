@testable import Dashboard
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import OrchestratorCore
import Testing

/// Routing through Hummingbird's router (HummingbirdTesting's `.router` framework, no socket):
/// 401/403/404/405, tokens, decoding. Redis is unreachable here (port 1), so a request that passes
/// routing and the token check and reaches Redis answers 503: that is how these tests see it got through.
@Suite("dashboard routes, tokens and the listen address (pure)")
struct DashboardRouteTests {
    let token = "0123456789abcdef0123"
    static let queues = ["conferencia", "q", "ação", "a<b>", "x#y", "q\"x", "a+b", "%41"]

    /// Runs `body` against the dashboard's router, with `token` (nil: read-only).
    func withRouter(token: String? = "0123456789abcdef0123", _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let http = try #require(try resolve([.httpListen: "127.0.0.1:0"], env: token.map { ["HTTP_TOKEN": $0] } ?? [:]))
        let server = DashboardServer(.init(http: http, redis: RedisEndpoint(host: "127.0.0.1", port: 1, db: 0), prefix: "t:", queues: Self.queues,
                                           metrics: nil), logger: Logger(label: "test"))
        try await Application(responder: server.makeResponder()).test(.router, body)
    }

    static func call(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, auth: String? = nil,
                     body: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [:]
        if let auth { headers[.authorization] = auth }
        let r = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Answer(r.status.code, String(buffer: r.body), r.headers[.allow])
    }

    struct Answer: Equatable {
        let status: Int, body: String, allow: String?
        init(_ status: Int, _ body: String, _ allow: String?) { self.status = status; self.body = body; self.allow = allow }
    }

    @Test("pages and the API answer GET and HEAD; other methods get 405 with Allow; unknown paths 404")
    func readOnly() async throws {
        try await withRouter { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok && page.headers[.contentType] == "text/html; charset=utf-8" && page.headers[.cacheControl] == "no-store")
            let head = try await client.execute(uri: "/api/config", method: .head)
            #expect(head.status == .ok && head.body.readableBytes == 0 && Int(head.headers[.contentLength] ?? "") ?? 0 > 10, "\(head.headers)")
            #expect(try await Self.call(client, .get, "/healthz") == Answer(200, "ok\n", nil))
            #expect(try await Self.call(client, .get, "/metrics").status == 404)
            #expect(try await Self.call(client, .get, "/api/status").status == 503, "routed, then Redis is unreachable")
            #expect(try await Self.call(client, .post, "/api/status") == Answer(405, #"{"error":"/api/status takes GET or HEAD"}"#, "GET, HEAD"))
            #expect(try await Self.call(client, .delete, "/") == Answer(405, #"{"error":"/ takes GET or HEAD"}"#, "GET, HEAD"))
            #expect(try await Self.call(client, .get, "/etc/passwd") == Answer(404, #"{"error":"no such page: try / (dashboard), /api/status, /metrics"}"#, nil))
            #expect(try await Self.call(client, .post, "/api/queues/q/shutdown", auth: "Bearer \(token)").status == 404, "unknown action: 404")
            let config = try await Self.call(client, .get, "/api/config")
            #expect(config.body == #"{"mode":"dashboard","version":"\#(Version.string)","prefix":"t:","actions":true}"#)
        }
    }

    @Test("actions: POST only, the exact Bearer token; without a server token they are refused with 403")
    func actions() async throws {
        try await withRouter { client in
            for path in ["/api/queues/conferencia/pause", "/api/queues/q/requeue-dead", "/api/queues/q/retry-now", "/api/queues/q/dead/abc/requeue",
                         "/api/queues/q/dead/abc/delete", "/api/queues/q/dead/requeue-all", "/api/queues/q/dead/delete-all"] {
                #expect(try await Self.call(client, .post, path, auth: "Bearer \(token)").status == 503, "\(path): the token lets it through")
                #expect(try await Self.call(client, .post, path) == Answer(401, #"{"error":"this action needs the token: Authorization: Bearer <token>"}"#, nil), "\(path)")
                #expect(try await Self.call(client, .post, path, auth: "Bearer \(token)x").status == 401, "longer token: \(path)")
                #expect(try await Self.call(client, .post, path, auth: "Bearer \(token.dropLast())").status == 401, "prefix: \(path)")
                #expect(try await Self.call(client, .post, path, auth: token).status == 401, "no Bearer: \(path)")
                #expect(try await Self.call(client, .get, path, auth: "Bearer \(token)") == Answer(405, #"{"error":"\#(path) takes POST"}"#, "POST"), "\(path)")
            }
            let other = try await Self.call(client, .post, "/api/queues/elsewhere/pause", auth: "Bearer \(token)")
            #expect(other == Answer(404, #"{"error":"queue 'elsewhere' is not watched here"}"#, nil))
            let big = try await Self.call(client, .post, "/api/queues/q/pause", auth: "Bearer \(token)", body: String(repeating: "x", count: 4096))
            #expect(big.status == 413)
        }
        try await withRouter(token: nil) { client in
            let refused = try await Self.call(client, .post, "/api/queues/q/pause", auth: "Bearer \(token)")
            #expect(refused.status == 403 && refused.body.contains("read-only"), "no server token: 403")
        }
    }

    @Test("tokens compare equal only when identical")
    func tokens() {
        #expect(HTTPSettings.tokensMatch(token, token))
        #expect(!HTTPSettings.tokensMatch("", token))
        #expect(!HTTPSettings.tokensMatch(token + "0", token))
        #expect(!HTTPSettings.tokensMatch("1123456789abcdef0123", token))
    }

    func resolve(_ flags: [OptionSpec: String], env: [String: String] = [:]) throws(ConfigError) -> HTTPSettings? {
        var v = OptionValues()
        for (k, value) in flags { v[k] = value }
        return try HTTPSettings.resolve(v, OptionResolver(environment: env))
    }

    @Test("--http-listen (or the old --metrics-listen): loopback needs no token; another address does; weak tokens are refused")
    func listen() throws {
        #expect(try resolve([:]) == nil)
        #expect(try resolve([.httpListen: ":9464"])?.host == "127.0.0.1")
        #expect(try resolve([:], env: ["METRICS_LISTEN": "localhost:9464"])?.port == 9464)
        #expect(throws: ConfigError(flag: "--http-listen", message: "given together with --metrics-listen (its old name): give one")) {
            try resolve([.httpListen: "[::1]:0", .metricsListen: "0.0.0.0:1"])
        }
        #expect(throws: ConfigError(flag: "--http-listen (from HTTP_LISTEN)", message: "given together with --metrics-listen (from METRICS_LISTEN) (its old name): give one")) {
            try resolve([:], env: ["HTTP_LISTEN": ":1", "METRICS_LISTEN": ":2"])
        }
        do { _ = try resolve([.httpListen: "0.0.0.0:9464"]); Issue.record("accepted") } catch {
            #expect(error.flag == "--http-listen" && error.message.contains("HTTP_TOKEN"), "\(error)")
        }
        #expect(throws: ConfigError.self) { try resolve([:], env: ["HTTP_LISTEN": "[::]:9464"]) }
        let open = try resolve([.httpListen: "0.0.0.0:9464"], env: ["HTTP_TOKEN": token])
        #expect(open?.token == token && open?.tokenInArgv == false)
        #expect(try resolve([.httpListen: ":1", .httpToken: token])?.tokenInArgv == true)
        do { _ = try resolve([.httpListen: ":1"], env: ["HTTP_TOKEN": "short"]); Issue.record("accepted") } catch {
            #expect(error.flag == "--http-token (from HTTP_TOKEN)" && !error.message.contains("short"), "the message names the source, never the token: \(error)")
        }
        #expect(throws: ConfigError.self) { try resolve([.httpListen: ":1", .httpTokenFile: "/nonexistent/token"]) }
        #expect(throws: ConfigError.self) { try resolve([.httpListen: ":1", .httpTokenFile: "/etc/hostname"], env: ["HTTP_TOKEN": token]) }
    }

    @Test("--http-token-file: a file group or others can access is refused, naming the file and its mode (as ssh does with keys)")
    func tokenFileMode() throws {
        let path = NSTemporaryDirectory() + "token-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8))
        for mode: mode_t in [0o644, 0o640, 0o604, 0o660] {
            chmod(path, mode)
            do { _ = try resolve([.httpListen: ":1", .httpTokenFile: path]); Issue.record("mode \(String(mode, radix: 8)) accepted") } catch {
                #expect(error.flag == "--http-token-file" && error.message.contains("'\(path)' has mode 0\(String(mode, radix: 8))"), "\(error)")
                #expect(!error.message.contains(token), "never the token: \(error)")
            }
        }
        chmod(path, 0o600)
        #expect(try resolve([.httpListen: ":1", .httpTokenFile: path])?.token == token)
        chmod(path, 0o400)
        #expect(try resolve([:], env: ["HTTP_LISTEN": ":1", "HTTP_TOKEN_FILE": path])?.token == token)
    }

    @Test("action paths name the queue as the page sends it (encodeURIComponent): each segment is decoded once")
    func encodedQueueNames() async throws {
        try await withRouter { client in
            for sent in ["a%C3%A7%C3%A3o", "a%3Cb%3E", "x%23y", "q%22x", "a+b", "%2541"] {
                #expect(try await Self.call(client, .post, "/api/queues/\(sent)/pause", auth: "Bearer \(token)").status == 503, "\(sent) names a watched queue")
            }
            let other = try await Self.call(client, .post, "/api/queues/a%C3%A7%C3%A3o2/pause", auth: "Bearer \(token)")
            #expect(other == Answer(404, #"{"error":"queue 'ação2' is not watched here"}"#, nil))
            #expect(try await Self.call(client, .post, "/api/queues/q/%72esume", auth: "Bearer \(token)").status == 503)
            #expect(try await Self.call(client, .get, "/api/%73tatus").status == 503)
        }
    }

    @Test("the one percent decoder: %XX once, invalid escapes kept, + kept, any case of hex digits")
    func percentDecoder() throws {
        #expect(PercentEncoding.decode("a%C3%A7%c3%a3o") == "ação")
        #expect(PercentEncoding.decode("%zz%") == "%zz%")
        #expect(PercentEncoding.decode("%4") == "%4")
        #expect(PercentEncoding.decode("a+b%20c") == "a+b c")
        #expect(PercentEncoding.decode("%2541") == "%41", "decoded once")
        #expect(PercentEncoding.decode("%FF") == "\u{FFFD}")
        #expect(PercentEncoding.encode("us er@ção") == "us%20er%40%C3%A7%C3%A3o")
        #expect(PercentEncoding.decode(PercentEncoding.encode("a<b>#\"q/ação")) == "a<b>#\"q/ação")
        let endpoint = try RedisEndpoint.parse("redis://us%40er:p%3Ass%25w@h:1/2")
        #expect(endpoint.user == "us@er" && endpoint.password == "p:ss%w")
        #expect(endpoint.urlWithoutPassword == "redis://us%40er@h:1/2")
    }

    @Test("query strings are percent-decoded; bad numbers get 400 naming the parameter")
    func query() async throws {
        try await withRouter { client in
            let dead = "/api/dead?queue=q", auth = "Bearer 0123456789abcdef0123"
            let decoded = try await Self.call(client, .get, dead + "&limit=%35%30", auth: auth)
            #expect(decoded.status == 503, "limit=50 once decoded, then Redis is unreachable")
            let badLimit = try await Self.call(client, .get, dead + "&limit=%zz", auth: auth)
            #expect(badLimit == Answer(400, #"{"error":"limit: a number from 1 to 500"}"#, nil))
            let badOffset = try await Self.call(client, .get, dead + "&offset=-1", auth: auth)
            #expect(badOffset == Answer(400, #"{"error":"offset: a number from 0"}"#, nil))
            let events = try await Self.call(client, .get, "/api/events?limit=0")
            #expect(events == Answer(400, #"{"error":"limit: a number from 1 to 1000"}"#, nil))
            let types = try await Self.call(client, .get, "/api/events?type=a%2Cscale")
            #expect(types.status == 400 && types.body.contains("no event has type 'a'"))
            let points = try await Self.call(client, .get, "/api/history?queue=q&points=9")
            #expect(points.body == #"{"error":"points: a number from 10 to 5000"}"#)
        }
    }

    @Test("dead letters and job records (payloads) need the token when the server has one; open without one (loopback only)")
    func payloadReadsNeedToken() async throws {
        let refused = #"{"error":"dead letters and job records need the token: Authorization: Bearer <token>"}"#
        try await withRouter { client in
            for path in ["/api/dead?queue=q", "/api/jobs/abc"] {
                let none = try await Self.call(client, .get, path)
                #expect(none == Answer(401, refused, nil))
                let wrong = try await Self.call(client, .get, path, auth: "Bearer wrong-token-000000000")
                #expect(wrong == Answer(401, refused, nil))
                let right = try await Self.call(client, .get, path, auth: "Bearer 0123456789abcdef0123")
                #expect(right.status == 503, "past the token: Redis is unreachable")
            }
            let status = try await Self.call(client, .get, "/api/status")
            #expect(status.status != 401, "the other reads stay open")
        }
        try await withRouter(token: nil) { client in
            for path in ["/api/dead?queue=q", "/api/jobs/abc"] {
                let open = try await Self.call(client, .get, path)
                #expect(open.status == 503, "no token configured: open (Redis unreachable here)")
            }
        }
    }
}
