import Foundation

/// `http(s)://` shards streamed through `curl`, as webdataset's gopen opens them (a `curl -f -s
/// -L` subprocess): bounded memory through the pipe, transient failures retried by curl (timeouts,
/// HTTP 408/429/5xx), status >= 400 and connection failures counted as `httpError` with curl's
/// own message. No HTTP client is linked into the binary, so a static build needs no libcurl.
public enum HTTPSource {
  public static func open(url: String, connectTimeout: Int = 30, retries: Int = 5) throws(DataError) -> PipeSource {
    guard URL(string: url) != nil, !url.contains("\n") else {
      throw DataError.shard(fault: .httpError, shard: url, message: "not a valid URL")
    }
    let quoted = "'" + url.replacingOccurrences(of: "'", with: "'\\''") + "'"
    let command = "curl --connect-timeout \(connectTimeout) --retry \(retries) --retry-delay 2 -f -s -S -L \(quoted)"
    return try PipeSource(command: command, shard: url, fault: .httpError, statusHint: curlStatus)
  }

  /// curl's exit codes that say what went wrong (its stderr line follows in the message).
  static func curlStatus(_ status: Int32) -> String? {
    switch status {
    case 127: "curl is not installed (http(s) shards are fetched with curl)"
    case 6: "cannot resolve the host"
    case 7: "cannot connect"
    case 22: "HTTP status >= 400"
    case 28: "timed out"
    case 35, 60: "TLS failure"
    default: nil
    }
  }
}
