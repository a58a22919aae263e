#include "core/models/StateDict.h"

#include <algorithm>

namespace labelprop::models {

const NamedTensor* findTensor(const StateDict& dict, const std::string& name)
{
    const auto it = std::find_if(dict.begin(), dict.end(), [&](const NamedTensor& t) { return t.name == name; });
    return it == dict.end() ? nullptr : &*it;
}

} // namespace labelprop::models
