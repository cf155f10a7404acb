import Dashboard
import Foundation
import OrchestratorCore
import Testing

@Suite("dashboard routes, tokens and the listen address (pure)")
struct DashboardRouteTests {
    let token = "0123456789abcdef0123"

    func route(_ method: String, _ path: String, auth: String? = nil, token: String? = "0123456789abcdef0123") -> DashboardRoute {
        DashboardRoute.resolve(method: method, path: path, authorization: auth, token: token)
    }

    @Test("pages and the API answer GET and HEAD; other methods get 405 with Allow; unknown paths 404")
    func readOnly() {
        #expect(route("GET", "/") == .page("/"))
        #expect(route("HEAD", "/api/status") == .status)
        #expect(route("GET", "/healthz") == .readyz)
        #expect(route("GET", "/metrics") == .metrics)
        #expect(route("POST", "/api/status") == .refuse(code: 405, message: "/api/status takes GET or HEAD", allow: "GET, HEAD"))
        #expect(route("DELETE", "/") == .refuse(code: 405, message: "/ takes GET or HEAD", allow: "GET, HEAD"))
        if case .refuse(404, _, nil) = route("GET", "/etc/passwd") {} else { Issue.record("404 expected") }
        if case .refuse(404, _, nil) = route("GET", "/api/queues/q/shutdown") {} else { Issue.record("unknown action: 404") }
    }

    @Test("actions: POST only, the exact Bearer token; without a server token they are refused with 403")
    func actions() {
        #expect(route("POST", "/api/queues/conferencia/pause", auth: "Bearer \(token)") == .action(queue: "conferencia", action: "pause"))
        #expect(route("POST", "/api/queues/q/requeue-dead", auth: "Bearer \(token)") == .action(queue: "q", action: "requeue-dead"))
        if case .refuse(401, _, nil) = route("POST", "/api/queues/q/pause") {} else { Issue.record("no header: 401") }
        if case .refuse(401, _, nil) = route("POST", "/api/queues/q/pause", auth: "Bearer \(token)x") {} else { Issue.record("longer token: 401") }
        if case .refuse(401, _, nil) = route("POST", "/api/queues/q/pause", auth: "Bearer \(token.dropLast())") {} else { Issue.record("prefix: 401") }
        if case .refuse(401, _, nil) = route("POST", "/api/queues/q/pause", auth: token) {} else { Issue.record("no Bearer: 401") }
        if case .refuse(405, _, "POST") = route("GET", "/api/queues/q/pause", auth: "Bearer \(token)") {} else { Issue.record("GET: 405") }
        if case .refuse(403, let m, nil) = route("POST", "/api/queues/q/pause", auth: "Bearer \(token)", token: nil) {
            #expect(m.contains("read-only"))
        } else { Issue.record("no server token: 403") }
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
    func encodedQueueNames() {
        for (sent, queue) in [("a%C3%A7%C3%A3o", "ação"), ("a%3Cb%3E", "a<b>"), ("x%23y", "x#y"), ("q%22x", "q\"x"), ("a+b", "a+b"), ("%2541", "%41")] {
            #expect(route("POST", "/api/queues/\(sent)/pause", auth: "Bearer \(token)") == .action(queue: queue, action: "pause"), "\(sent)")
        }
        #expect(route("POST", "/api/queues/q/%72esume", auth: "Bearer \(token)") == .action(queue: "q", action: "resume"))
        #expect(route("GET", "/api/%73tatus") == .status)
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

    @Test("query strings are percent-decoded")
    func query() {
        #expect(queryParameters("queue=a%2Fb&since=1h&x") == ["queue": "a/b", "since": "1h", "x": ""])
        #expect(queryParameters("q=%zz") == ["q": "%zz"])
        #expect(queryParameters("queue=a+b%2Bc") == ["queue": "a b+c"])
    }
}
