import Foundation

/// One row of a dataset read by index: its key, image bytes under a suffix, and captions (UTF-8,
/// one drawn per epoch when there are several).
struct DatasetRow {
  var key: String
  var image: (suffix: String, bytes: [UInt8])?
  var captions: [[UInt8]]?
}

/// A dataset read by row index: an image folder (`--train_data_dir`) or parquet/Arrow files
/// (`--dataset_name`).
protocol RowDataset: AnyObject {
  var count: Int { get }
  /// Where it comes from, for messages and as the samples' `shard`.
  var name: String { get }
  func row(_ i: Int) throws(DataError) -> DatasetRow
}

/// Rows in a seeded permutation per epoch (the S5 DataLoader's shuffle=True); worker w of W takes
/// every W-th index. `maxSamples` keeps the first n of a seeded shuffle, as S5's
/// `shuffle(seed).select(range(n))`.
final class RowStream: RawSampleSource {
  let dataset: RowDataset
  let selected: [Int]
  let seed: UInt64
  let slot: Int, slots: Int
  var sequenceIndex: Int
  var permutation: [Int] = []
  var permutationEpoch = -1

  init(dataset: RowDataset, maxSamples: Int?, seed: UInt64, slot: Int, slots: Int, position: WorkerPosition, tooFew: String) throws(DataError) {
    self.dataset = dataset
    self.seed = seed
    self.slot = slot
    self.slots = slots
    sequenceIndex = position.sequenceIndex
    var list = Array(0..<dataset.count)
    if let maxSamples, maxSamples < list.count {
      var rng = DataRNG(seed: seed, stream: [0xF01D])
      list = Array(shuffled(list, &rng).prefix(maxSamples))
    }
    selected = list
    guard selected.count >= slots else { throw DataError.noSamples("\(dataset.name): \(selected.count) \(tooFew) for \(slots) worker(s)") }
  }

  func next() throws(DataError) -> RawSample {
    let index = sequenceIndex * slots + slot
    sequenceIndex += 1
    let epoch = index / selected.count
    if epoch != permutationEpoch {
      var rng = DataRNG(seed: seed, stream: [0xE90C, UInt64(epoch)])
      permutation = shuffled(Array(selected.indices), &rng)
      permutationEpoch = epoch
    }
    return try sample(permutation[index % selected.count], epoch: epoch, draw: index)
  }

  func sample(_ i: Int, epoch: Int, draw: Int?) throws(DataError) -> RawSample {
    let row = try dataset.row(selected[i])
    var files: [String: [UInt8]] = [:]
    // A missing or unreadable image leaves the sample without one: counted as missing_image.
    if let image = row.image { files[image.suffix] = image.bytes }
    if let captions = row.captions, !captions.isEmpty {
      var rng = DataRNG(seed: seed, stream: [0xCA9, UInt64(epoch), UInt64(i)])
      files["txt"] = captions[rng.below(captions.count)]
    }
    return RawSample(key: row.key, shard: dataset.name, files: files, ref: SampleRef(shard: dataset.name, offset: Int64(i), draw: draw))
  }

  func load(_ ref: SampleRef) throws(DataError) -> RawSample? {
    try sample(Int(ref.offset), epoch: 0, draw: ref.draw)
  }

  func save(into p: inout WorkerPosition) {
    p.sequenceIndex = sequenceIndex
  }
}

/// `--train_data_dir`: images with captions from `metadata.jsonl` (`file_name` + the caption
/// column, a string or a list) or from a `.txt` beside each image, in path order.
final class ImageFolderRows: RowDataset {
  struct Item { var path: String; var captions: [String]? }
  let dir: String
  let items: [Item]

  init(dir: String, imageColumn: String, captionColumn: String) throws(DataError) {
    self.dir = dir
    items = try Self.scan(dir: dir, imageColumn: imageColumn, captionColumn: captionColumn)
    guard !items.isEmpty else { throw DataError.noSamples("\(dir): no image found (jpg, jpeg, png, webp)") }
  }

  var count: Int { items.count }
  var name: String { dir }

  static func scan(dir: String, imageColumn: String, captionColumn: String) throws(DataError) -> [Item] {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
      throw DataError.badConfig("--train_data_dir \(dir): not a directory")
    }
    let files = (fm.enumerator(atPath: dir)?.allObjects as? [String] ?? []).sorted()
    var captions: [String: [String]] = [:]
    var imagePaths: [String] = []
    for file in files where (file as NSString).lastPathComponent == "metadata.jsonl" {
      let base = (file as NSString).deletingLastPathComponent
      guard let text = try? String(contentsOfFile: dir + "/" + file, encoding: .utf8) else {
        throw DataError.badConfig("\(dir)/\(file): cannot read (not UTF-8?)")
      }
      for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
          throw DataError.badConfig("\(dir)/\(file) line \(n + 1): not a JSON object")
        }
        let nameKey = imageColumn == "image" ? "file_name" : imageColumn
        guard let name = row[nameKey] as? String ?? row["file_name"] as? String else {
          throw DataError.badConfig("\(dir)/\(file) line \(n + 1): no '\(nameKey)' field")
        }
        let path = base.isEmpty ? name : base + "/" + name
        if let c = row[captionColumn] as? String { captions[path] = [c] } else if let c = row[captionColumn] as? [String], !c.isEmpty { captions[path] = c }
        imagePaths.append(path)
      }
    }
    let useMetadata = !imagePaths.isEmpty
    if !useMetadata {
      imagePaths = files.filter { SampleDecoder.imageSuffixes.contains(($0 as NSString).pathExtension.lowercased()) }
    }
    return imagePaths.sorted().map { path in
      if useMetadata { return Item(path: path, captions: captions[path]) }
      let txt = (path as NSString).deletingPathExtension + ".txt"
      let caption = try? String(contentsOfFile: dir + "/" + txt, encoding: .utf8)
      return Item(path: path, captions: caption.map { [$0] })
    }
  }

  func row(_ i: Int) throws(DataError) -> DatasetRow {
    let item = items[i]
    let ext = (item.path as NSString).pathExtension.lowercased()
    let bytes = FileManager.default.contents(atPath: dir + "/" + item.path).map { [UInt8]($0) }
    return DatasetRow(
      key: (item.path as NSString).deletingPathExtension, image: bytes.map { (ext, $0) }, captions: item.captions?.map { Array($0.utf8) })
  }
}

/// `--dataset_name`: the rows of parquet / Arrow files in order, file after file. An image stored
/// as a path only (no bytes) is read from that path, relative to its file's folder or the
/// dataset's root when not absolute.
final class ArrowRows: RowDataset {
  let name: String
  let root: String
  let files: [ArrowFile]
  let starts: [Int]

  init(name: String, root: String, paths: [String], imageColumn: String, captionColumn: String) throws(DataError) {
    self.name = name
    self.root = root
    var files: [ArrowFile] = []
    for p in paths { files.append(try ArrowFile(path: p, imageColumn: imageColumn, captionColumn: captionColumn)) }
    self.files = files
    var starts = [0]
    for f in files { starts.append(starts.last! + f.rows) }
    self.starts = starts
    guard count > 0 else { throw DataError.noSamples("\(name): the train split has no rows") }
  }

  var count: Int { starts.last! }

  func row(_ i: Int) throws(DataError) -> DatasetRow {
    var f = 0
    while starts[f + 1] <= i { f += 1 }
    let file = files[f], local = i - starts[f]
    let image = try file.image(local)
    var bytes = image.bytes
    if bytes == nil, let path = image.path, !path.isEmpty {
      let dirs = path.hasPrefix("/") ? [""] : [(file.path as NSString).deletingLastPathComponent + "/", root + "/"]
      bytes = dirs.lazy.compactMap { FileManager.default.contents(atPath: $0 + path).map { [UInt8]($0) } }.first
    }
    let ext = image.path.map { ($0 as NSString).pathExtension.lowercased() }
    let suffix = ext.flatMap { SampleDecoder.imageSuffixes.contains($0) ? $0 : nil } ?? "jpg"
    let captions = try file.captions(local).compactMap { $0 }
    return DatasetRow(
      key: "\((file.path as NSString).lastPathComponent)#\(local)", image: bytes.map { (suffix, $0) },
      captions: captions.isEmpty ? nil : captions)
  }
}
