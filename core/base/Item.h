#pragma once
// One item of an image collection: where its image is and the label it came with.

#include <string>

namespace labelprop {

// `path` is as the source reports it (relative to the source's root for folders, as written in
// a CSV, or "<idx file>#<index>" for IDX data). `label` is empty for an unlabeled item.
struct Item {
    std::string path;
    std::string label;

    friend bool operator==(const Item&, const Item&) = default;
};

} // namespace labelprop
