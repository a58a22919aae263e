#include "core/formats/LabelsJson.h"

#include <nlohmann/json.hpp>

namespace labelprop {

Expected<std::vector<std::pair<std::string, std::string>>> parseLabelsJson(std::string_view text, const std::string& file)
{
    nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded())
        return fail(file + ": not valid JSON");
    if (!doc.is_object() || !doc.contains("items") || !doc["items"].is_array())
        return fail(file + ": expected an object with an \"items\" array (the format 'project export --format json' "
                           "writes)");
    std::vector<std::pair<std::string, std::string>> rows;
    const auto& list = doc["items"];
    rows.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto& it = list[i];
        if (!it.is_object() || !it.contains("path") || !it["path"].is_string())
            return fail(file + ": items[" + std::to_string(i) + "] needs a string \"path\"");
        if (!it.contains("label") || !(it["label"].is_string() || it["label"].is_null()))
            return fail(file + ": items[" + std::to_string(i) + "] needs a string \"label\" (or null)");
        rows.emplace_back(it["path"].get<std::string>(), it["label"].is_null() ? std::string()
                                                                               : it["label"].get<std::string>());
    }
    return rows;
}

} // namespace labelprop
