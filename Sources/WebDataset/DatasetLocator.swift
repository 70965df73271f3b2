import Foundation

/// What `--dataset_name` names, found on disk: the train split's parquet / Arrow files, or an
/// image folder (`imagefolder` with `metadata.jsonl`). Nothing is downloaded: a hub id must
/// already be in the Hugging Face cache.
public struct LocatedDataset: Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    case tables([String])
    case imageFolder(String)
  }

  public var kind: Kind
  /// The folder the files were found in (a local folder, or a hub cache snapshot).
  public var root: String
}

public enum DatasetLocator {
  static let tableSuffixes = ["parquet", "arrow"]
  static let splitWords = ["train", "training", "test", "testing", "eval", "evaluation", "validation", "valid", "val", "dev"]

  /// A local folder (or file), else a hub id in the caches: the hub cache
  /// (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`, `--cache_dir`) holding the
  /// dataset repository's files, or the `datasets` cache (`$HF_DATASETS_CACHE`,
  /// `$HF_HOME/datasets`, `~/.cache/huggingface/datasets`, `--cache_dir`) holding prepared Arrow files.
  public static func locate(_ name: String, config: String?, cacheDir: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(DataError) -> LocatedDataset {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: name, isDirectory: &isDir) {
      if !isDir.boolValue {
        guard tableSuffixes.contains((name as NSString).pathExtension.lowercased()) else {
          throw DataError.badConfig("--dataset_name \(name): not a folder, parquet or Arrow file")
        }
        return LocatedDataset(kind: .tables([name]), root: (name as NSString).deletingLastPathComponent)
      }
      return try inFolder(name, config: config, what: "--dataset_name \(name)")
    }
    let parts = name.split(separator: "/", omittingEmptySubsequences: false)
    let valid = (1...2).contains(parts.count) && parts.allSatisfy { p in
      !p.isEmpty && p != "." && p != ".." && p.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }
    guard valid else { throw DataError.badConfig("--dataset_name \(name): no such folder, and not a Hugging Face dataset id") }
    let home = environment["HOME"] ?? NSHomeDirectory()
    let hfHome = environment["HF_HOME"] ?? "\(home)/.cache/huggingface"
    var hubCaches = [environment["HF_HUB_CACHE"] ?? environment["HUGGINGFACE_HUB_CACHE"] ?? "\(hfHome)/hub"]
    var datasetCaches = [environment["HF_DATASETS_CACHE"] ?? "\(hfHome)/datasets"]
    if let cacheDir { hubCaches.insert(cacheDir, at: 0); datasetCaches.insert(cacheDir, at: 0) }
    let repo = "datasets--" + parts.joined(separator: "--")
    for cache in hubCaches {
      let folder = "\(cache)/\(repo)"
      guard let snapshot = snapshot(of: folder) else { continue }
      return try inFolder(snapshot, config: config, what: "--dataset_name \(name) (\(snapshot))")
    }
    let prepared = parts.joined(separator: "___")
    for cache in datasetCaches {
      if let files = preparedArrowFiles("\(cache)/\(prepared)", config: config) {
        return LocatedDataset(kind: .tables(files), root: "\(cache)/\(prepared)")
      }
    }
    let looked = (hubCaches.map { "\($0)/\(repo)" } + datasetCaches.map { "\($0)/\(prepared)" }).joined(separator: ", ")
    throw DataError.badConfig(
      "--dataset_name \(name): not a local folder and not in the Hugging Face cache (looked in \(looked)); download it first (`hf download \(name) --repo-type dataset`) or give its folder")
  }

  /// The snapshot `refs/main` names, else the only (or newest) snapshot.
  static func snapshot(of repoFolder: String) -> String? {
    let fm = FileManager.default
    if let ref = try? String(contentsOfFile: "\(repoFolder)/refs/main", encoding: .utf8) {
      let path = "\(repoFolder)/snapshots/\(ref.trimmingCharacters(in: .whitespacesAndNewlines))"
      if fm.fileExists(atPath: path) { return path }
    }
    let snapshots = ((try? fm.contentsOfDirectory(atPath: "\(repoFolder)/snapshots")) ?? []).map { "\(repoFolder)/snapshots/\($0)" }
    return snapshots.max { modified($0) < modified($1) }
  }

  static func modified(_ path: String) -> Date {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
  }

  /// `<cache>/<owner>___<name>/<config or default>/<version>/<hash>/*-train*.arrow`, newest hash.
  static func preparedArrowFiles(_ folder: String, config: String?) -> [String]? {
    let fm = FileManager.default
    let configs = config.map { [$0] } ?? ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    var best: (Date, [String])?
    for c in configs {
      for version in (try? fm.contentsOfDirectory(atPath: "\(folder)/\(c)")) ?? [] {
        for hash in (try? fm.contentsOfDirectory(atPath: "\(folder)/\(c)/\(version)")) ?? [] {
          let dir = "\(folder)/\(c)/\(version)/\(hash)"
          let files = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".arrow") && $0.contains("-train") }.sorted()
          guard !files.isEmpty else { continue }
          let date = modified(dir)
          if best == nil || date > best!.0 { best = (date, files.map { "\(dir)/\($0)" }) }
        }
      }
    }
    return best?.1
  }

  /// A folder as `datasets` reads it: `save_to_disk` output (`dataset_dict.json` → `train/`,
  /// `state.json` → its data files), else the train split's parquet / Arrow files (files or
  /// folders named after a split; all files when none is), else an image folder.
  static func inFolder(_ dir: String, config: String?, what: String) throws(DataError) -> LocatedDataset {
    let fm = FileManager.default
    var dir = dir
    if let config {
      var isDir: ObjCBool = false
      guard fm.fileExists(atPath: "\(dir)/\(config)", isDirectory: &isDir), isDir.boolValue else {
        let found = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        throw DataError.badConfig("\(what): no configuration '\(config)' (--dataset_config_name); the folder holds \(found.joined(separator: ", "))")
      }
      dir += "/\(config)"
    }
    if fm.fileExists(atPath: "\(dir)/dataset_dict.json") {
      guard fm.fileExists(atPath: "\(dir)/train/state.json") else { throw DataError.badConfig("\(what): the saved DatasetDict has no train split") }
      dir += "/train"
    }
    if fm.fileExists(atPath: "\(dir)/state.json") {
      guard let data = fm.contents(atPath: "\(dir)/state.json"),
        let state = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        let entries = state["_data_files"] as? [[String: Any]]
      else { throw DataError.badConfig("\(what): \(dir)/state.json does not parse as a saved dataset's state") }
      var files: [String] = []
      for entry in entries {
        guard let f = entry["filename"] as? String, !f.contains("/"), !f.hasPrefix(".") else {
          throw DataError.badConfig("\(what): \(dir)/state.json names an unusable data file")
        }
        files.append("\(dir)/\(f)")
      }
      guard !files.isEmpty else { throw DataError.badConfig("\(what): \(dir)/state.json lists no data files") }
      return LocatedDataset(kind: .tables(files), root: dir)
    }
    let all = ((fm.enumerator(atPath: dir)?.allObjects as? [String]) ?? [])
      .filter { !$0.split(separator: "/").contains { $0.hasPrefix(".") } }.sorted()
    let tables = all.filter { tableSuffixes.contains(($0 as NSString).pathExtension.lowercased()) }
    if !tables.isEmpty {
      let bySplit = tables.filter { split(of: $0) != nil }
      let train = bySplit.isEmpty ? tables : bySplit.filter { ["train", "training"].contains(split(of: $0)!) }
      guard !train.isEmpty else {
        throw DataError.badConfig("\(what): no train split among \(Set(bySplit.compactMap(split(of:))).sorted().joined(separator: ", "))")
      }
      return LocatedDataset(kind: .tables(train.map { "\(dir)/\($0)" }), root: dir)
    }
    if all.contains(where: { SampleDecoder.imageSuffixes.contains(($0 as NSString).pathExtension.lowercased()) }) {
      var isDir: ObjCBool = false
      let train = fm.fileExists(atPath: "\(dir)/train", isDirectory: &isDir) && isDir.boolValue ? "\(dir)/train" : dir
      return LocatedDataset(kind: .imageFolder(train), root: dir)
    }
    throw DataError.badConfig("\(what): no parquet, Arrow or image files in \(dir)")
  }

  /// The split a data file's name or folder names (`data/train-00000-of-00002.parquet`,
  /// `train/0000.parquet`, `my_data_test.arrow`), as `datasets`' default patterns.
  static func split(of path: String) -> String? {
    for component in path.lowercased().split(separator: "/").reversed() {
      let base = component.split(separator: ".").first.map(String.init) ?? ""
      let words = base.split { "-_ ".contains($0) }.map(String.init)
      if let w = words.first(where: { splitWords.contains($0) }) { return w }
    }
    return nil
  }
}
