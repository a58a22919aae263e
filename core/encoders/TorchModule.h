#pragma once
// The LibTorch encoders (vit:, torchscript:) live in a module, liblabelprop-torch.so, that is
// loaded the first time one is asked for, so that every other run of labelprop-cli and of the app
// starts without LibTorch: loading libtorch_cpu runs its operator registrations, about 0.6 s of
// every start if it were linked in (bench/startup_bench.py: `labelprop-cli --help` 0.14-0.19 s, a
// command that loads the module 0.72-0.84 s on the 2-core AMD EPYC; README.md, "Encoders").
//
// Where the module is looked for, first match wins:
//   1. $LABELPROP_TORCH_MODULE (a path to the .so);
//   2. beside the running executable (the build tree: build/bin/);
//   3. ../lib/labelprop/ from the executable's folder (an installed tree: /usr/bin -> /usr/lib/labelprop).
// The module is built from the same sources as the program and checks that it was (kTorchModuleAbi).
//
// Thread-safety: makeTorchEncoder() may be called from any thread; the module is loaded once and
// never unloaded.

#include "core/encoders/Encoder.h"

#include <memory>
#include <string_view>

namespace labelprop {

// Bumped whenever a type that crosses the module boundary changes (Encoder, EncodedSet, Error,
// ImageSource, Expected's layout): a module built from other sources is then refused, not run.
inline constexpr int kTorchModuleAbi = 1;

// The module's one entry point, extern "C" so that dlsym finds it by this name. `out` receives the
// encoder or the error; `abi` must equal kTorchModuleAbi (the module fills `out` with an error
// otherwise).
using TorchEncoderFactory = void (*)(int abi, std::string_view spec, Expected<std::unique_ptr<Encoder>>& out);
inline constexpr const char* kTorchEncoderFactorySymbol = "labelprop_make_torch_encoder";

// "vit:..." or "torchscript:..." (the whole spec): loads the module on first use and asks it for
// the encoder (VitEncoder.h has the syntax). Fails with the places looked in and the loader's
// reason when the module cannot be loaded.
[[nodiscard]] Expected<std::unique_ptr<Encoder>> makeTorchEncoder(std::string_view spec);

} // namespace labelprop
