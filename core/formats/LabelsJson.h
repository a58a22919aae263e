#pragma once
// The JSON labels format written by `project export --format json` (see ProjectExport.h), read
// back by `project import --labels FILE.json`. Only "items"[].path and .label are needed; other
// keys are ignored, so hand-written files work too.
//
// Thread-safety: reentrant.

#include "core/base/Error.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labelprop {

// (path, label) per item in file order; a null label reads as "" (unlabeled). Errors name `file`
// and the item index; never throws, whatever the input.
[[nodiscard]] Expected<std::vector<std::pair<std::string, std::string>>> parseLabelsJson(std::string_view text,
                                                                                         const std::string& file);

} // namespace labelprop
