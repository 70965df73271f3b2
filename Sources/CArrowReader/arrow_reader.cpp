// The C API of lcm_arrow.h on Arrow's C++ library. Every entry point catches everything: a bad
// file is an error string, never a crash.
#include "lcm_arrow.h"

#include <algorithm>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <arrow/util/config.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/file_reader.h>

namespace {

thread_local std::string last_error;

// One line: Arrow's messages can span several.
void fail(const std::string& message) {
  last_error.clear();
  for (char c : message) {
    if (c == '\n') {
      if (!last_error.empty() && last_error.back() != ' ') last_error += "; ";
    } else {
      last_error += c;
    }
  }
  while (!last_error.empty() && (last_error.back() == ' ' || last_error.back() == ';')) last_error.pop_back();
}

enum class ImageKind { bytesAndPath, bytes, path };
enum class CaptionKind { text, list };

// A decoded slice of the file: a parquet row group or an IPC record batch.
struct Part {
  std::shared_ptr<arrow::Array> image, caption;
};

bool isBinaryLike(arrow::Type::type t) {
  return t == arrow::Type::BINARY || t == arrow::Type::LARGE_BINARY || t == arrow::Type::BINARY_VIEW;
}
bool isStringLike(arrow::Type::type t) {
  return t == arrow::Type::STRING || t == arrow::Type::LARGE_STRING || t == arrow::Type::STRING_VIEW;
}

// Element i of a binary or string array of any offset width.
std::string_view view(const arrow::Array& a, int64_t i) {
  switch (a.type_id()) {
    case arrow::Type::BINARY:
    case arrow::Type::STRING:
      return static_cast<const arrow::BinaryArray&>(a).GetView(i);
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::LARGE_STRING:
      return static_cast<const arrow::LargeBinaryArray&>(a).GetView(i);
    case arrow::Type::BINARY_VIEW:
    case arrow::Type::STRING_VIEW:
      return static_cast<const arrow::BinaryViewArray&>(a).GetView(i);
    default:
      return {};
  }
}

std::string columnList(const arrow::Schema& schema) {
  std::string s;
  for (const auto& f : schema.fields()) s += (s.empty() ? "" : ", ") + f->name();
  return s;
}

}  // namespace

struct lcm_arrow_file {
  std::string path;
  std::string imageColumn, captionColumn;
  ImageKind imageKind = ImageKind::bytes;
  CaptionKind captionKind = CaptionKind::text;
  std::vector<int64_t> starts;  // first row of each part, then the row count
  // Parquet: row groups decoded on demand, the most recent kept up to a byte budget.
  std::unique_ptr<parquet::arrow::FileReader> parquet;
  std::vector<int> parquetLeaves;
  struct Cached {
    size_t part;
    int64_t bytes;
    Part columns;
  };
  std::list<Cached> cache;
  int64_t cacheBytes = 0;
  // Arrow IPC: every record batch, zero-copy over the memory-mapped file.
  std::vector<Part> batches;
  std::string pathScratch;

  static constexpr int64_t cacheBudget = 256LL << 20;

  int64_t rows() const { return starts.empty() ? 0 : starts.back(); }

  arrow::Status check(const arrow::Schema& schema) {
    auto image = schema.GetFieldByName(imageColumn);
    auto caption = schema.GetFieldByName(captionColumn);
    if (!image || !caption) {
      return arrow::Status::Invalid("no column '", !image ? imageColumn : captionColumn, "' (columns: ", columnList(schema),
                                    "); set ", !image ? "--image_column" : "--caption_column");
    }
    auto it = image->type()->id();
    if (it == arrow::Type::STRUCT) {
      const auto& st = static_cast<const arrow::StructType&>(*image->type());
      auto bytes = st.GetFieldByName("bytes"), path = st.GetFieldByName("path");
      if (!bytes && !path) return arrow::Status::Invalid("image column '", imageColumn, "' is a struct without 'bytes' or 'path'");
      if (bytes && !isBinaryLike(bytes->type()->id()))
        return arrow::Status::Invalid("image column '", imageColumn, "': 'bytes' is ", bytes->type()->ToString());
      if (path && !isStringLike(path->type()->id()))
        return arrow::Status::Invalid("image column '", imageColumn, "': 'path' is ", path->type()->ToString());
      imageKind = ImageKind::bytesAndPath;
    } else if (isBinaryLike(it)) {
      imageKind = ImageKind::bytes;
    } else if (isStringLike(it)) {
      imageKind = ImageKind::path;
    } else {
      return arrow::Status::Invalid("image column '", imageColumn, "' is ", image->type()->ToString(),
                                    ", not an image (struct {bytes, path}, binary or a path)");
    }
    auto ct = caption->type();
    if (isStringLike(ct->id())) {
      captionKind = CaptionKind::text;
    } else if ((ct->id() == arrow::Type::LIST || ct->id() == arrow::Type::LARGE_LIST) &&
               isStringLike(ct->field(0)->type()->id())) {
      captionKind = CaptionKind::list;
    } else {
      return arrow::Status::Invalid("caption column '", captionColumn, "' is ", ct->ToString(),
                                    ", not text or a list of texts");
    }
    return arrow::Status::OK();
  }

  arrow::Status openParquet(std::shared_ptr<arrow::io::RandomAccessFile> input) {
    ARROW_ASSIGN_OR_RAISE(parquet, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
    std::shared_ptr<arrow::Schema> schema;
    ARROW_RETURN_NOT_OK(parquet->GetSchema(&schema));
    ARROW_RETURN_NOT_OK(check(*schema));
    // Only the two columns' leaves are decoded.
    const auto& fields = parquet->manifest().schema_fields;
    for (const auto& name : {imageColumn, captionColumn}) {
      int index = schema->GetFieldIndex(name);
      if (index < 0 || index >= static_cast<int>(fields.size())) return arrow::Status::Invalid("column '", name, "' not in the file");
      std::vector<const parquet::arrow::SchemaField*> stack{&fields[index]};
      while (!stack.empty()) {
        auto* f = stack.back();
        stack.pop_back();
        if (f->is_leaf()) parquetLeaves.push_back(f->column_index);
        for (const auto& c : f->children) stack.push_back(&c);
      }
    }
    std::sort(parquetLeaves.begin(), parquetLeaves.end());
    parquetLeaves.erase(std::unique(parquetLeaves.begin(), parquetLeaves.end()), parquetLeaves.end());
    auto meta = parquet->parquet_reader()->metadata();
    starts.push_back(0);
    for (int g = 0; g < meta->num_row_groups(); g++) {
      int64_t n = meta->RowGroup(g)->num_rows();
      if (n < 0) return arrow::Status::Invalid("row group ", g, " has a negative row count");
      starts.push_back(starts.back() + n);
    }
    return arrow::Status::OK();
  }

  arrow::Status addBatch(const std::shared_ptr<arrow::RecordBatch>& b) {
    ARROW_RETURN_NOT_OK(b->Validate());
    batches.push_back({b->GetColumnByName(imageColumn), b->GetColumnByName(captionColumn)});
    if (!batches.back().image || !batches.back().caption) return arrow::Status::Invalid("a record batch lacks the columns");
    // the offsets of the two columns read, checked against their buffers (as parquet row groups
    // are): a damaged IPC file must not point outside its data
    ARROW_RETURN_NOT_OK(batches.back().image->ValidateFull());
    ARROW_RETURN_NOT_OK(batches.back().caption->ValidateFull());
    starts.push_back(starts.back() + b->num_rows());
    return arrow::Status::OK();
  }

  arrow::Status openIPC(std::shared_ptr<arrow::io::RandomAccessFile> input) {
    starts.push_back(0);
    auto fileReader = arrow::ipc::RecordBatchFileReader::Open(input);
    if (fileReader.ok()) {
      auto reader = *fileReader;
      ARROW_RETURN_NOT_OK(check(*reader->schema()));
      for (int i = 0; i < reader->num_record_batches(); i++) {
        ARROW_ASSIGN_OR_RAISE(auto b, reader->ReadRecordBatch(i));
        ARROW_RETURN_NOT_OK(addBatch(b));
      }
      return arrow::Status::OK();
    }
    // datasets' save_to_disk and cache files are the stream format.
    ARROW_RETURN_NOT_OK(input->Seek(0));
    ARROW_ASSIGN_OR_RAISE(auto stream, arrow::io::RandomAccessFile::GetStream(input, 0, *input->GetSize()));
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(stream));
    ARROW_RETURN_NOT_OK(check(*reader->schema()));
    while (true) {
      std::shared_ptr<arrow::RecordBatch> b;
      ARROW_RETURN_NOT_OK(reader->ReadNext(&b));
      if (!b) break;
      ARROW_RETURN_NOT_OK(addBatch(b));
    }
    return arrow::Status::OK();
  }

  // The part holding `row` and the row's index inside it.
  arrow::Result<std::pair<const Part*, int64_t>> locate(int64_t row) {
    if (row < 0 || row >= rows()) return arrow::Status::IndexError("row ", row, " of ", rows());
    size_t p = std::upper_bound(starts.begin(), starts.end(), row) - starts.begin() - 1;
    int64_t local = row - starts[p];
    if (!parquet) return std::make_pair(&batches[p], local);
    for (auto it = cache.begin(); it != cache.end(); ++it) {
      if (it->part == p) {
        cache.splice(cache.begin(), cache, it);
        return std::make_pair(&cache.front().columns, local);
      }
    }
    std::shared_ptr<arrow::Table> table;
    ARROW_ASSIGN_OR_RAISE(table, parquet->ReadRowGroup(static_cast<int>(p), parquetLeaves));
    ARROW_ASSIGN_OR_RAISE(table, table->CombineChunks());
    auto image = table->GetColumnByName(imageColumn), caption = table->GetColumnByName(captionColumn);
    if (!image || !caption || image->num_chunks() != 1 || caption->num_chunks() != 1 ||
        image->length() != starts[p + 1] - starts[p] || caption->length() != image->length()) {
      return arrow::Status::Invalid("row group ", p, " does not hold its ", starts[p + 1] - starts[p], " rows");
    }
    Part part{image->chunk(0), caption->chunk(0)};
    ARROW_RETURN_NOT_OK(part.image->ValidateFull());
    ARROW_RETURN_NOT_OK(part.caption->ValidateFull());
    int64_t bytes = 0;
    for (const auto& c : {part.image, part.caption})
      for (const auto& b : c->data()->buffers) bytes += b ? b->size() : 0;
    while (!cache.empty() && cacheBytes + bytes > cacheBudget) {
      cacheBytes -= cache.back().bytes;
      cache.pop_back();
    }
    cache.push_front({p, bytes, part});
    cacheBytes += bytes;
    return std::make_pair(&cache.front().columns, local);
  }
};

namespace {

// The part and in-part index of `row`, or false with the error set.
bool located(lcm_arrow_file* f, int64_t row, const Part** part, int64_t* index) {
  auto r = f->locate(row);
  if (!r.ok()) {
    fail(f->path + ": " + r.status().message());
    return false;
  }
  std::tie(*part, *index) = *r;
  return true;
}

}  // namespace

extern "C" {


const char* lcm_arrow_last_error(void) { return last_error.c_str(); }

const char* lcm_arrow_version(void) { return ARROW_VERSION_STRING; }

lcm_arrow_file* lcm_arrow_open(const char* path, const char* image_column, const char* caption_column) {
  try {
    auto f = std::make_unique<lcm_arrow_file>();
    f->path = path;
    f->imageColumn = image_column;
    f->captionColumn = caption_column;
    auto opened = arrow::io::MemoryMappedFile::Open(f->path, arrow::io::FileMode::READ);
    if (!opened.ok()) {
      fail(f->path + ": " + opened.status().message());
      return nullptr;
    }
    std::shared_ptr<arrow::io::RandomAccessFile> input = *opened;
    auto size = input->GetSize();
    if (!size.ok() || *size < 8) {
      fail(f->path + ": too short for parquet or Arrow");
      return nullptr;
    }
    auto head = input->ReadAt(0, 4);
    bool isParquet = head.ok() && (*head)->ToString() == "PAR1";
    auto status = isParquet ? f->openParquet(input) : f->openIPC(input);
    if (!status.ok()) {
      fail(f->path + ": " + status.message());
      return nullptr;
    }
    return f.release();
  } catch (const std::exception& e) {
    fail(std::string(path) + ": " + e.what());
  } catch (...) {
    fail(std::string(path) + ": unknown error");
  }
  return nullptr;
}

void lcm_arrow_close(lcm_arrow_file* f) { delete f; }

int64_t lcm_arrow_num_rows(lcm_arrow_file* f) { return f->rows(); }

int lcm_arrow_image(lcm_arrow_file* f, int64_t row, const uint8_t** data, int64_t* size, const char** path,
                    int64_t* path_size) {
  try {
    *data = nullptr;
    *size = 0;
    *path = nullptr;
    *path_size = 0;
    const Part* part;
    int64_t i;
    if (!located(f, row, &part, &i)) return -1;
    const arrow::Array& a = *part->image;
    if (a.IsNull(i)) return 0;
    std::shared_ptr<arrow::Array> bytes, paths;
    switch (f->imageKind) {
      case ImageKind::bytesAndPath: {
        const auto& s = static_cast<const arrow::StructArray&>(a);
        bytes = s.GetFieldByName("bytes");
        paths = s.GetFieldByName("path");
        break;
      }
      case ImageKind::bytes: bytes = part->image; break;
      case ImageKind::path: paths = part->image; break;
    }
    if (bytes && !bytes->IsNull(i)) {
      auto v = view(*bytes, i);
      *data = reinterpret_cast<const uint8_t*>(v.data());
      *size = static_cast<int64_t>(v.size());
    }
    if (paths && !paths->IsNull(i)) {
      auto v = view(*paths, i);
      *path = v.data();
      *path_size = static_cast<int64_t>(v.size());
    }
    return 0;
  } catch (const std::exception& e) {
    fail(f->path + ": " + e.what());
  }
  return -1;
}

int64_t lcm_arrow_caption_count(lcm_arrow_file* f, int64_t row) {
  try {
    const Part* part;
    int64_t i;
    if (!located(f, row, &part, &i)) return -1;
    const arrow::Array& a = *part->caption;
    if (a.IsNull(i)) return 0;
    if (f->captionKind == CaptionKind::text) return 1;
    if (a.type_id() == arrow::Type::LIST) return static_cast<const arrow::ListArray&>(a).value_length(i);
    return static_cast<const arrow::LargeListArray&>(a).value_length(i);
  } catch (const std::exception& e) {
    fail(f->path + ": " + e.what());
  }
  return -1;
}

int lcm_arrow_caption(lcm_arrow_file* f, int64_t row, int64_t index, const char** text, int64_t* size) {
  try {
    *text = nullptr;
    *size = 0;
    const Part* part;
    int64_t i;
    if (!located(f, row, &part, &i)) return -1;
    const arrow::Array& a = *part->caption;
    if (a.IsNull(i)) {
      fail(f->path + ": row " + std::to_string(row) + " has no caption");
      return -1;
    }
    std::shared_ptr<arrow::Array> values;
    int64_t at = i;
    if (f->captionKind == CaptionKind::list) {
      int64_t n, offset;
      if (a.type_id() == arrow::Type::LIST) {
        const auto& l = static_cast<const arrow::ListArray&>(a);
        n = l.value_length(i), offset = l.value_offset(i), values = l.values();
      } else {
        const auto& l = static_cast<const arrow::LargeListArray&>(a);
        n = l.value_length(i), offset = l.value_offset(i), values = l.values();
      }
      if (index < 0 || index >= n) {
        fail(f->path + ": caption " + std::to_string(index) + " of " + std::to_string(n));
        return -1;
      }
      at = offset + index;
    } else {
      values = part->caption;
    }
    if (values->IsNull(at)) return 0;
    auto v = view(*values, at);
    *text = v.data();
    *size = static_cast<int64_t>(v.size());
    return 0;
  } catch (const std::exception& e) {
    fail(f->path + ": " + e.what());
  }
  return -1;
}

}  // extern "C"
