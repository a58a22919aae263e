// libFuzzer target: the checkpoint unpickler and the state-dict search (PickleDocument::parse +
// findStateDict, the LibTorch-free half of readTorchCheckpoint), on the input taken as data.pkl.
// Oracle: a state dict that is found has unique names and tensors with as many strides as sizes;
// a failure is a ModelError, never a crash, a hang, a leak or undefined behaviour.

#include "core/models/ModelError.h"
#include "core/models/TorchPickle.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

using namespace labelprop::models;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    try {
        const PickleDocument doc =
            PickleDocument::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.pt (data.pkl)");
        (void)describePickleValue(doc.root());
        const PickledStateDict sd = findStateDict(doc.root(), "fuzz.pt");
        std::set<std::string> names;
        for (const auto& [name, tensor] : sd.tensors)
            if (!names.insert(name).second || tensor->sizes.size() != tensor->strides.size())
                std::abort();
    } catch (const ModelError&) {
    }
    return 0;
}
