import Foundation
#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// `http(s)://` shards streamed with Foundation's URLSession (libcurl underneath on Linux): chunks
/// arrive on the session's queue into a bounded buffer; the task is suspended while the buffer is
/// full, so a shard is never held whole. Status >= 400 and connection failures are `httpError`.
public final class HTTPSource: NSObject, ByteSource, URLSessionDataDelegate, @unchecked Sendable {
  static let highWater = 8 << 20

  let url: String
  let condition = NSCondition()  // guards everything below
  var chunks: [Data] = []
  var chunkOffset = 0
  var buffered = 0
  var done = false
  var failure: DataError?
  var suspended = false
  var session: URLSession!
  var task: URLSessionDataTask!

  public init(url: String, timeout: TimeInterval = 60) throws(DataError) {
    self.url = url
    super.init()
    guard let u = URL(string: url) else {
      throw DataError.shard(fault: .httpError, shard: url, message: "not a valid URL")
    }
    let configuration = URLSessionConfiguration.ephemeral
    configuration.timeoutIntervalForRequest = timeout
    let queue = OperationQueue()
    queue.maxConcurrentOperationCount = 1
    session = URLSession(configuration: configuration, delegate: self, delegateQueue: queue)
    task = session.dataTask(with: u)
    task.resume()
  }

  // No deinit clean-up: the session keeps its delegate (self) alive until `close()` invalidates it,
  // and invalidating from the session's own queue (where a last release may run) deadlocks.

  public func urlSession(
    _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
  ) {
    if let http = response as? HTTPURLResponse, http.statusCode >= 400 {
      finish(DataError.shard(fault: .httpError, shard: url, message: "HTTP status \(http.statusCode)"))
      completionHandler(.cancel)
      return
    }
    completionHandler(.allow)
  }

  public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
    condition.lock()
    chunks.append(data)
    buffered += data.count
    if buffered > Self.highWater && !suspended {
      suspended = true
      dataTask.suspend()
    }
    condition.broadcast()
    condition.unlock()
  }

  public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
    if let error, failure == nil {
      finish(DataError.shard(fault: .httpError, shard: url, message: "request failed: \(error.localizedDescription)"))
    } else {
      finish(nil)
    }
  }

  func finish(_ error: DataError?) {
    condition.lock()
    if failure == nil { failure = error }
    done = true
    condition.broadcast()
    condition.unlock()
  }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(DataError) -> Int {
    condition.lock()
    defer { condition.unlock() }
    while chunks.isEmpty && !done { condition.wait() }
    if let failure { throw failure }
    guard let first = chunks.first else { return 0 }
    let n = min(buffer.count, first.count - chunkOffset)
    first.withUnsafeBytes { src in
      buffer.baseAddress!.copyMemory(from: src.baseAddress! + chunkOffset, byteCount: n)
    }
    chunkOffset += n
    buffered -= n
    if chunkOffset == first.count { chunks.removeFirst(); chunkOffset = 0 }
    if suspended && buffered < Self.highWater / 2 {
      suspended = false
      task.resume()
    }
    return n
  }

  /// Must be called once the shard is done with (the pipeline always does), to free the session.
  public func close() throws(DataError) {
    task.cancel()
    session.invalidateAndCancel()
  }
}
