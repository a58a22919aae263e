#include "core/encoders/Encoder.h"

#include "core/encoders/PcaEncoder.h"
#ifdef LABELPROP_WITH_TORCH
#include "core/encoders/VitEncoder.h"
#endif

#include <algorithm>

namespace labelprop {

Expected<FittedEncoding> Encoder::fitAndEncode(const ImageSource&, const ProgressCallback&) const
{
    return fail(id() + ": this encoder has no state to fit");
}

Expected<std::unique_ptr<Encoder>> Encoder::withState(std::string_view) const
{
    return fail(id() + ": this encoder has no state to load");
}

Expected<std::unique_ptr<Encoder>> makeEncoder(std::string_view spec)
{
    while (!spec.empty() && spec.front() == ' ')
        spec.remove_prefix(1);
    while (!spec.empty() && spec.back() == ' ')
        spec.remove_suffix(1);
    std::string name(spec.substr(0, spec.find(':')));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; });
    if (name == "pca") {
        auto options = parsePcaSpec(spec);
        if (!options)
            return std::unexpected(options.error());
        return std::make_unique<PcaEncoder>(*options);
    }
#ifdef LABELPROP_WITH_TORCH
    if (name == "vit")
        return makeVitEncoder(spec);
    if (name == "torchscript")
        return makeTorchScriptEncoder(spec);
    constexpr const char* kAvailable =
        "pca[:DIMS][,whiten][,rgb][,size=S][,sample=N], vit:WEIGHTS[,...], torchscript:FILE,size=S[,...]";
#else
    if (name == "vit" || name == "torchscript")
        return fail("encoder '" + std::string(spec) + "': this Labelprop was built without LibTorch "
                    "(-DLABELPROP_WITH_TORCH=OFF); rebuild with it for vit: and torchscript: encoders");
    constexpr const char* kAvailable = "pca[:DIMS][,whiten][,rgb][,size=S][,sample=N]";
#endif
    return fail("encoder '" + std::string(spec) + "': unknown encoder '" + name + "'; available: " + kAvailable);
}

} // namespace labelprop
