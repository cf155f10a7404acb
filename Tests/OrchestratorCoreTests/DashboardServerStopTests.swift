@testable import Dashboard
import Foundation
import Logging
import OrchestratorCore
import Synchronization
import Testing

/// The HTTP server's thread has a stop: after `stop()` its port refuses connections.
@Suite("dashboard server: stop() ends serving")
struct DashboardServerStopTests {
    @Test("stop() closes the listening socket (a new connection is refused); a second stop() is harmless")
    func stopCloses() throws {
        var values = OptionValues()
        values[.httpListen] = "127.0.0.1:0"
        let http = try #require(try HTTPSettings.resolve(values, OptionResolver(environment: [:])))
        let server = DashboardServer(.init(http: http, redis: RedisEndpoint(host: "127.0.0.1", port: 1, db: 0), prefix: "t:",
                                           queues: ["q"], metrics: nil), logger: Logger(label: "test"))
        // start() and stop() wait for the server task, which needs the concurrency pool: call
        // them from a thread of their own, as the executables do (main).
        let port = try #require(onThread { try? server.start() })
        #expect(Self.connects(port), "the server accepts connections once started")
        onThread { server.stop() }
        #expect(waitUntil { !Self.connects(port) }, "port \(port) still accepts connections after stop()")
        onThread { server.stop() }
    }

    func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let value = body()
            result.withLock { $0 = value }
            done.signal()
        }.start()
        done.wait()
        return result.withLock { $0! }
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is accepted.
    static func connects(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Polls `condition` every 20 ms for up to 20 s.
    func waitUntil(_ condition: () -> Bool) -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(20)
        while clock.now < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}
