// Debian's image libraries (libturbojpeg0-dev, libpng-dev, libwebp-dev).
#include <turbojpeg.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

// libpng reports errors by longjmp, which Swift cannot catch, so the whole libpng read lives here
// in C. It decodes to 8-bit RGB with PIL's `.convert("RGB")` semantics: alpha dropped (not
// composited), 16-bit samples keep their high byte, 16-bit gray saturates at 255 (PIL's I;16 → RGB),
// palette and 1/2/4-bit gray expanded, gAMA/sBIT ignored.

typedef struct {
  const unsigned char *data;
  size_t size;
  size_t offset;
} lcm_png_reader;

typedef struct {
  jmp_buf jump;
  char message[200];
} lcm_png_error;

static void lcm_png_read_fn(png_structp png, png_bytep out, png_size_t length) {
  lcm_png_reader *r = (lcm_png_reader *)png_get_io_ptr(png);
  if (r->size - r->offset < length) png_error(png, "truncated PNG data");
  memcpy(out, r->data + r->offset, length);
  r->offset += length;
}

static void lcm_png_error_fn(png_structp png, png_const_charp msg) {
  lcm_png_error *e = (lcm_png_error *)png_get_error_ptr(png);
  strncpy(e->message, msg ? msg : "PNG error", sizeof(e->message) - 1);
  e->message[sizeof(e->message) - 1] = 0;
  longjmp(e->jump, 1);
}

static void lcm_png_warning_fn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/// Returns 0 and a malloc'd RGB buffer in *out (caller frees), or -1 with a message in err
/// (-2: over max_pixels, with width/height set).
static inline int lcm_png_decode_rgb(const unsigned char *data, size_t size, long long max_pixels,
                                     unsigned char **out, int *width, int *height, char *err, size_t errlen) {
  lcm_png_reader reader = {data, size, 0};
  lcm_png_error perr;
  perr.message[0] = 0;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &perr, lcm_png_error_fn, lcm_png_warning_fn);
  if (!png) { strncpy(err, "out of memory", errlen); return -1; }
  png_infop info = png_create_info_struct(png);
  unsigned char *volatile rows16 = NULL;
  unsigned char *volatile rgb = NULL;
  png_bytep *volatile rowptrs = NULL;
  if (!info) { png_destroy_read_struct(&png, NULL, NULL); strncpy(err, "out of memory", errlen); return -1; }
  if (setjmp(perr.jump)) {
    png_destroy_read_struct(&png, &info, NULL);
    free(rows16); free(rgb); free(rowptrs);
    strncpy(err, perr.message, errlen - 1);
    err[errlen - 1] = 0;
    return -1;
  }
  png_set_read_fn(png, &reader, lcm_png_read_fn);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
  *width = (int)w; *height = (int)h;
  if (max_pixels > 0 && (long long)w * (long long)h > max_pixels) {
    png_destroy_read_struct(&png, &info, NULL);
    return -2;
  }
  int gray16 = (ctype == PNG_COLOR_TYPE_GRAY && depth == 16);
  if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16 && !gray16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int channels = png_get_channels(png, info);
  size_t rowbytes = png_get_rowbytes(png, info);
  rows16 = (unsigned char *)malloc(rowbytes * h);
  rowptrs = (png_bytep *)malloc(sizeof(png_bytep) * h);
  rgb = (unsigned char *)malloc((size_t)w * h * 3);
  if (!rows16 || !rowptrs || !rgb) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < h; y++) rowptrs[y] = rows16 + rowbytes * y;
  png_read_image(png, rowptrs);
  for (png_uint_32 y = 0; y < h; y++) {
    const unsigned char *src = rowptrs[y];
    unsigned char *dst = rgb + (size_t)y * w * 3;
    for (png_uint_32 x = 0; x < w; x++) {
      unsigned char r, g, b;
      if (gray16) {
        unsigned v = ((unsigned)src[2 * x] << 8) | src[2 * x + 1];
        r = g = b = v > 255 ? 255 : (unsigned char)v;
      } else if (channels <= 2) {
        r = g = b = src[x * channels];
      } else {
        r = src[x * channels]; g = src[x * channels + 1]; b = src[x * channels + 2];
      }
      dst[3 * x] = r; dst[3 * x + 1] = g; dst[3 * x + 2] = b;
    }
  }
  // No png_read_end: like PIL, chunks after the image data (even a missing IEND) do not matter.
  png_destroy_read_struct(&png, &info, NULL);
  free(rows16); free(rowptrs);
  *out = rgb;
  return 0;
}
