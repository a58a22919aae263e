// The entry point of liblabelprop-torch.so (TorchModule.h): the only symbol the module exports.

#include "core/encoders/TorchModule.h"
#include "core/encoders/VitEncoder.h"

#include "core/encoders/EncoderSpec.h"

extern "C" __attribute__((visibility("default"))) void
labelprop_make_torch_encoder(int abi, std::string_view spec, labelprop::Expected<std::unique_ptr<labelprop::Encoder>>& out)
{
    using namespace labelprop;
    if (abi != kTorchModuleAbi) {
        out = fail("encoder '" + std::string(spec) + "': the LibTorch module (interface " + std::to_string(kTorchModuleAbi)
                   + ") was built from other sources than this program (interface " + std::to_string(abi)
                   + "); reinstall Labelprop");
        return;
    }
    const auto parts = splitEncoderSpec(spec);
    if (!parts) {
        out = std::unexpected(parts.error());
        return;
    }
    if (parts->name == "vit")
        out = makeVitEncoder(parts->whole);
    else if (parts->name == "torchscript")
        out = makeTorchScriptEncoder(parts->whole);
    else
        out = fail("encoder '" + std::string(spec) + "': the LibTorch module makes vit: and torchscript: encoders");
}
