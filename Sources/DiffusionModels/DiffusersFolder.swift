import Foundation

/// Finds a model given as a folder or as a Hugging Face id in the local hub cache
/// (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). Nothing is downloaded.
public enum ModelLocator {
  public static func hubCache(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
    if let c = env["HF_HUB_CACHE"], !c.isEmpty { return c }
    if let h = env["HF_HOME"], !h.isEmpty { return "\(h)/hub" }
    return "\(env["HOME"] ?? NSHomeDirectory())/.cache/huggingface/hub"
  }

  /// A folder path, or `org/name` resolved to `models--org--name/snapshots/<commit>` through
  /// `refs/<revision>` (default "main"), or a snapshot named by its commit.
  public static func resolve(
    _ idOrPath: String, revision: String? = nil, environment env: [String: String] = ProcessInfo.processInfo.environment
  ) throws -> String {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: idOrPath, isDirectory: &isDir) {
      guard isDir.boolValue else { throw ConfigError(idOrPath, "expected a model folder, found a file") }
      return idOrPath
    }
    let parts = idOrPath.split(separator: "/")
    let cache = hubCache(environment: env)
    guard parts.count == 2, !idOrPath.hasPrefix("."), !idOrPath.hasPrefix("/") else {
      throw ConfigError(idOrPath, "no such model folder")
    }
    let repo = "\(cache)/models--\(parts[0])--\(parts[1])"
    let rev = revision ?? "main"
    var commit = rev
    if let ref = try? String(contentsOfFile: "\(repo)/refs/\(rev)", encoding: .utf8) {
      commit = ref.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    let snapshot = "\(repo)/snapshots/\(commit)"
    guard fm.fileExists(atPath: snapshot, isDirectory: &isDir), isDir.boolValue else {
      throw ConfigError(idOrPath, "not a folder, and revision '\(rev)' is not in the Hugging Face cache at \(cache) (swift-lcm does not download: fetch it first, e.g. `huggingface-cli download \(idOrPath)`)")
    }
    return snapshot
  }
}

/// A diffusers pipeline folder (model_index.json with unet/, vae/, text_encoder/, ...).
public struct DiffusersPipelineFolder: Sendable {
  public let path: String
  /// Component name → class name, from model_index.json (components set to null are absent).
  public let components: [String: String]
  public let pipelineClass: String?

  public init(_ idOrPath: String, revision: String? = nil) throws {
    let dir = try ModelLocator.resolve(idOrPath, revision: revision)
    path = dir
    let index = "\(dir)/model_index.json"
    guard let data = FileManager.default.contents(atPath: index) else {
      throw ConfigError(index, "missing: \(idOrPath) is not a diffusers pipeline folder")
    }
    guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw ConfigError(index, "not a JSON object")
    }
    var comps: [String: String] = [:]
    for (key, value) in obj where !key.hasPrefix("_") {
      if let pair = value as? [Any], pair.count == 2, let cls = pair[1] as? String { comps[key] = cls }
    }
    components = comps
    pipelineClass = obj["_class_name"] as? String
  }

  public func has(_ component: String) -> Bool { components[component] != nil }

  /// A pipeline setting of model_index.json (e.g. SDXL's force_zeros_for_empty_prompt).
  public func modelIndexValue(_ key: String) throws -> Any? {
    let index = "\(path)/model_index.json"
    guard let data = FileManager.default.contents(atPath: index),
      let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { throw ConfigError(index, "missing or not a JSON object") }
    return obj[key]
  }

  /// The folder of a component, checked to exist.
  public func component(_ name: String) throws -> String {
    let dir = "\(path)/\(name)"
    var isDir: ObjCBool = false
    guard components[name] != nil, FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
      throw ConfigError(path, "has no \(name)/ component (model_index.json lists: \(components.keys.sorted().joined(separator: ", ")))")
    }
    return dir
  }
}
