#include "core/encoders/TorchModule.h"

#include <dlfcn.h>

#include <cstdlib>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace labelprop {

namespace {

namespace fs = std::filesystem;

constexpr const char* kModuleFile = "liblabelprop-torch.so";

std::vector<std::string> candidatePaths()
{
    std::vector<std::string> paths;
    if (const char* given = std::getenv("LABELPROP_TORCH_MODULE"); given && *given)
        paths.push_back(given);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        paths.push_back((exe.parent_path() / kModuleFile).string());
        paths.push_back((exe.parent_path().parent_path() / "lib" / "labelprop" / kModuleFile).string());
    }
    return paths;
}

struct LoadedModule {
    TorchEncoderFactory factory = nullptr;
    std::string error; // why it could not be loaded, when factory is null
};

LoadedModule loadModule()
{
    LoadedModule loaded;
    std::string tried;
    for (const auto& path : candidatePaths()) {
        std::error_code ec;
        if (!fs::exists(path, ec)) {
            tried += (tried.empty() ? "" : ", ") + path;
            continue;
        }
        void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            const char* why = ::dlerror();
            loaded.error = path + " cannot be loaded (" + std::string(why ? why : "unknown reason")
                           + "); is LibTorch (Debian package libtorch1.13) installed?";
            return loaded;
        }
        loaded.factory = reinterpret_cast<TorchEncoderFactory>(::dlsym(handle, kTorchEncoderFactorySymbol));
        if (!loaded.factory)
            loaded.error = path + " is not Labelprop's LibTorch module (it has no " + kTorchEncoderFactorySymbol + ")";
        return loaded; // never dlclose'd: encoders made by it may live until the program ends
    }
    loaded.error = std::string("the LibTorch encoders (") + kModuleFile + ") are not installed; looked for " + tried
                   + "; set LABELPROP_TORCH_MODULE to its path";
    return loaded;
}

} // namespace

Expected<std::unique_ptr<Encoder>> makeTorchEncoder(std::string_view spec)
{
    static const LoadedModule module = loadModule(); // once, thread-safe (magic statics)
    if (!module.factory)
        return fail("encoder '" + std::string(spec) + "': " + module.error);
    Expected<std::unique_ptr<Encoder>> out = fail("encoder '" + std::string(spec) + "': the LibTorch module gave no answer");
    module.factory(kTorchModuleAbi, spec, out);
    return out;
}

} // namespace labelprop
