#pragma once
// The text of an encoder spec taken apart: "NAME:HEAD,key=value,flag,...", e.g.
// "vit:/models/dino_vits16.pth,size=224,pool=mean". HEAD is the first item after the colon (a
// file for vit: and torchscript:, the dimension for pca:); the rest are options in order.
// A file name cannot contain a comma here (the error for an unknown option says so).
//
// Thread-safety: pure functions.

#include "core/base/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labelprop {

struct EncoderSpecParts {
    std::string whole;                                        // the spec as given, trimmed
    std::string name;                                         // lower case, e.g. "vit"
    std::string head;                                         // may be empty
    std::vector<std::pair<std::string, std::string>> options; // (key, value); value empty for a flag
};

// Fails on an empty name or an empty option ("a,,b").
[[nodiscard]] Expected<EncoderSpecParts> splitEncoderSpec(std::string_view spec);

// A whole-text decimal integer >= 0 ("64", not "64x", "-1" or ""), for option values.
[[nodiscard]] std::optional<std::uint64_t> parseUnsigned(std::string_view text);

} // namespace labelprop
