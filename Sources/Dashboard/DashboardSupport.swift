import Foundation
import Logging
import NIOCore
import NIOHTTPTypes
import OrchestratorCore

/// Logs refused actions (401, 403) as `dashboard.refused` with the client and the path, never the
/// token: at most one line per 10 s, carrying how many were held back before it.
final class RefusalLog: @unchecked Sendable {
    private let lock = NSLock()
    private var limit = LogRateLimit(interval: .seconds(10))

    func log(code: Int, method: String, path: String, client: String, to logger: Logger) {
        lock.lock()
        let held = limit.admit(now: ContinuousClock().now)
        lock.unlock()
        guard let held else { return }
        var metadata: Logger.Metadata = ["status": "\(code)", "client": "\(client)", "method": "\(method)", "path": "\(path.prefix(200))"]
        if held > 0 { metadata["held_back"] = "\(held)" }
        logger.warning("dashboard.refused", metadata: metadata)
    }
}

/// The bound port (or the failure), handed from the server task to `start()`.
final class BindResult: @unchecked Sendable {
    private let lock = NSLock()
    private let ready = DispatchSemaphore(value: 0)
    private var result: Result<Int, any Error>?
    func set(_ r: Result<Int, any Error>) {
        lock.lock()
        let first = result == nil
        if first { result = r }
        lock.unlock()
        if first { ready.signal() }
    }
    func wait(timeout: Double) -> Result<Int, any Error>? {
        guard ready.wait(timeout: .now() + timeout) == .success else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return result
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
