// Debian's image libraries (libturbojpeg0-dev, libpng-dev, libwebp-dev).
#include <turbojpeg.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>
