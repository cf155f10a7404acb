import Foundation
import Logging
import NIOCore
import NIOHTTPTypes
import OrchestratorCore
import Synchronization

/// Logs refused actions (401, 403) as `dashboard.refused` with the client and the path, never the
/// token: at most one line per 10 s, carrying how many were held back before it.
final class RefusalLog: Sendable {
    private let limit = Mutex(LogRateLimit(interval: .seconds(10)))

    func log(code: Int, method: String, path: String, client: String, to logger: Logger) {
        let now = ContinuousClock().now
        guard let held = limit.withLock({ $0.admit(now: now) }) else { return }
        var metadata: Logger.Metadata = ["status": "\(code)", "client": "\(client)", "method": "\(method)", "path": "\(path.prefix(200))"]
        if held > 0 { metadata["held_back"] = "\(held)" }
        logger.warning("dashboard.refused", metadata: metadata)
    }
}

/// The bound port (or the failure), handed from the server task to `start()`: the first result
/// set is kept, and wakes the waiter.
final class BindResult: Sendable {
    private let result = Mutex<Result<Int, any Error>?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func set(_ r: Result<Int, any Error>) {
        let first = result.withLock { stored in
            guard stored == nil else { return false }
            stored = r
            return true
        }
        if first { ready.signal() }
    }

    func wait(timeout: Double) -> Result<Int, any Error>? {
        guard ready.wait(timeout: .now() + timeout) == .success else { return nil }
        return result.withLock { $0 }
    }
}

/// Closes a connection whose request is not complete within `timeout` of the connection opening
/// or of the previous response (a client trickling its headers or body is cut off).
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) { arm(context) }
    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}
