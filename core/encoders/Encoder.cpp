#include "core/encoders/Encoder.h"

#include "core/encoders/EncoderSpec.h"
#include "core/encoders/PcaEncoder.h"
#ifdef LABELPROP_WITH_TORCH
#include "core/encoders/TorchModule.h"
#endif

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
    auto parts = splitEncoderSpec(spec);
    if (!parts)
        return std::unexpected(parts.error());
    spec = parts->whole; // trimmed
    const std::string& name = parts->name;
    if (name == "pca") {
        auto options = parsePcaSpec(spec);
        if (!options)
            return std::unexpected(options.error());
        return std::make_unique<PcaEncoder>(*options);
    }
#ifdef LABELPROP_WITH_TORCH
    if (name == "vit" || name == "torchscript")
        return makeTorchEncoder(spec);
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
