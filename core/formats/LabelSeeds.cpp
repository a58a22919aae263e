#include "core/formats/LabelSeeds.h"

namespace labelprop {

LabelSeeds seedsFromLabels(const std::vector<LabelEntry>& entries, int64_t itemCount)
{
    std::vector<std::string> names;
    names.reserve(entries.size());
    for (const auto& e : entries)
        names.push_back(e.label);
    LabelSeeds out;
    out.classes = ClassIndex::fromNames(std::move(names));
    out.seeds.assign(size_t(itemCount), -1);
    for (const auto& e : entries) {
        out.seeds[size_t(e.index)] = out.classes.id(e.label);
        ++out.labelled;
    }
    return out;
}

} // namespace labelprop
