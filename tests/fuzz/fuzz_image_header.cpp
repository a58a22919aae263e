// libFuzzer target: readImageDimensions, the header sniffer that decides whether an image is
// small enough to decode (PNG IHDR, JPEG SOF, BMP, WebP, TIFF IFD). It reads untrusted offsets
// from the file, so every prefix and every lie must stay in bounds.
// Oracle: a JPEG answer comes only from input that starts with the JPEG magic.

#include "core/sources/ImageSource.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

using namespace labelprop;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto dims = readImageDimensions(std::span(data, size));
    if (dims && (dims->width < 0 || dims->height < 0 || (dims->isJpeg && (size < 2 || data[0] != 0xff))))
        std::abort();
    return 0;
}
