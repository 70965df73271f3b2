// A small C API over Apache Arrow's C++ library (the one pyarrow's wheel ships) for the
// `--dataset_name` datasets: parquet files and Arrow IPC files (file or stream format, as
// `datasets` writes them). Built as libLCMArrow.so, which lcm-core opens only when a dataset
// needs it; errors are thread-local strings read right after a call that failed.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lcm_arrow_file lcm_arrow_file;

/// The message of this thread's last failed call.
const char* lcm_arrow_last_error(void);
/// Arrow's version string ("26.0.1").
const char* lcm_arrow_version(void);

/// Opens `path` (parquet, or Arrow IPC) and checks that the columns exist with usable types: the
/// image column is a struct {bytes, path} (datasets' Image feature), binary or a string path; the
/// caption column a string or a list of strings. NULL on error.
lcm_arrow_file* lcm_arrow_open(const char* path, const char* image_column, const char* caption_column);
void lcm_arrow_close(lcm_arrow_file* f);
int64_t lcm_arrow_num_rows(lcm_arrow_file* f);

/// Row `row`'s image: its bytes (`*data`, `*size`; NULL when the bytes are null) and its path
/// (NULL when none). The pointers stay valid until the next call on `f`. 0, or -1 on error.
int lcm_arrow_image(lcm_arrow_file* f, int64_t row, const uint8_t** data, int64_t* size, const char** path,
                    int64_t* path_size);
/// Row `row`'s captions: how many (0 for null), or -1 on error.
int64_t lcm_arrow_caption_count(lcm_arrow_file* f, int64_t row);
/// Caption `index` of row `row` (call after lcm_arrow_caption_count for that row). 0, or -1.
int lcm_arrow_caption(lcm_arrow_file* f, int64_t row, int64_t index, const char** text, int64_t* size);

#ifdef __cplusplus
}
#endif
