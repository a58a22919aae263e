#include "core/encoders/VitEncoder.h"

#include "core/base/ContentHash.h"
#include "core/encoders/EncoderSpec.h"
#include "core/encoders/TorchRunner.h"
#include "core/models/ModelError.h"
#include "core/models/ViTWeights.h"
#include "core/models/WeightsFile.h"

#include <torch/script.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

namespace labelprop {

namespace {

std::optional<int> parseInt(std::string_view text, int lo, int hi)
{
    const auto v = parseUnsigned(text);
    if (!v || *v < std::uint64_t(lo) || *v > std::uint64_t(hi))
        return std::nullopt;
    return int(*v);
}

// What vit: and torchscript: share: the file, the preprocessing and where it runs.
struct TorchSpec {
    EncoderSpecParts parts;
    std::string file;
    ContentHash fileHash;
    TorchRunOptions run;
    bool sizeGiven = false;
    std::string device, dtype;
    // vit: only
    std::optional<models::ViTPooling> pooling;
    std::optional<int> heads;
};

// The content hash of a weights file, remembered by path, size and modification time: one open
// of a project makes its encoder several times (checking the settings, embedding, showing where it
// runs), and a ViT-B file is 350 MB to read each time.
Expected<ContentHash> hashWeightsFile(const std::string& path)
{
    struct Known {
        std::int64_t size = 0, mtimeNs = 0;
        ContentHash hash;
    };
    static std::mutex mutex;
    static std::map<std::string, Known> known;
    std::error_code ec;
    const auto size = std::int64_t(std::filesystem::file_size(path, ec));
    const auto mtime = ec ? std::int64_t(0)
                          : std::int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::filesystem::last_write_time(path, ec).time_since_epoch())
                                             .count());
    if (!ec) {
        std::lock_guard lock(mutex);
        if (const auto it = known.find(path); it != known.end() && it->second.size == size && it->second.mtimeNs == mtime)
            return it->second.hash;
    }
    auto hashed = hashFile(path); // errors name the file: missing, a folder, unreadable
    if (!hashed)
        return std::unexpected(hashed.error());
    if (!ec) {
        std::lock_guard lock(mutex);
        known[path] = Known{size, mtime, hashed->hash};
    }
    return hashed->hash;
}

// Parses the options common to both and hands the others to `extra` (true: known).
Expected<TorchSpec> parseTorchSpec(std::string_view spec, const std::string& usage,
                                   const std::function<Expected<bool>(const std::string&, const std::string&, TorchSpec&)>& extra)
{
    auto parts = splitEncoderSpec(spec);
    if (!parts)
        return std::unexpected(parts.error());
    TorchSpec s;
    s.parts = std::move(*parts);
    const std::string& whole = s.parts.whole;
    if (s.parts.head.empty())
        return fail("encoder '" + whole + "': no file; expected " + usage);
    s.file = s.parts.head;
    for (const auto& [key, value] : s.parts.options) {
        auto input = parseModelInputOption(key, value, s.run.input, whole);
        if (!input)
            return std::unexpected(input.error());
        if (*input) {
            s.sizeGiven = s.sizeGiven || key == "size";
            continue;
        }
        if (key == "batch") {
            const auto b = parseInt(value, 1, 4096);
            if (!b)
                return fail("encoder '" + whole + "': batch=" + value + "; expected an integer from 1 to 4096");
            s.run.batch = *b;
        } else if (key == "threads") {
            const auto t = parseInt(value, 0, 1024);
            if (!t)
                return fail("encoder '" + whole + "': threads=" + value + "; expected an integer from 0 (all cores) to 1024");
            s.run.threads = *t;
        } else if (key == "device") {
            s.device = value;
        } else if (key == "dtype") {
            s.dtype = value;
        } else {
            auto known = extra(key, value, s);
            if (!known)
                return std::unexpected(known.error());
            if (!*known)
                return fail("encoder '" + whole + "': unknown option '" + key + "'; expected " + usage
                            + " (a file name cannot contain a comma)");
        }
    }
    auto placement = choosePlacement(s.device, s.dtype, whole);
    if (!placement)
        return std::unexpected(placement.error());
    s.run.placement = *placement;
    auto hashed = hashWeightsFile(s.file);
    if (!hashed)
        return fail("encoder '" + whole + "': " + hashed.error().message);
    s.fileHash = *hashed;
    return s;
}

// Runs a module over a source; loads it once (std::call_once) on the first encode().
template <class Model>
class LazyModel {
public:
    template <class Load>
    Expected<Model*> get(Load&& load) const
    {
        std::call_once(m_once, [&] {
            try {
                m_model = load();
            } catch (const std::exception& e) {
                m_error = e.what();
            }
        });
        if (!m_error.empty())
            return fail(m_error);
        return &*m_model;
    }

private:
    mutable std::once_flag m_once;
    mutable std::optional<Model> m_model;
    mutable std::string m_error;
};

constexpr const char* kVitUsage =
    "vit:WEIGHTS[,size=S][,pool=cls|mean][,heads=H][,crop=F][,interp=bicubic|bilinear][,norm=imagenet|clip|half|none]"
    "[,mean=R:G:B][,std=R:G:B][,batch=B][,threads=T][,device=auto|cpu|cuda][,dtype=auto|fp32|bf16|fp16]";
constexpr const char* kTorchScriptUsage =
    "torchscript:FILE,size=S[,crop=F][,interp=bicubic|bilinear][,norm=imagenet|clip|half|none][,mean=R:G:B][,std=R:G:B]"
    "[,batch=B][,threads=T][,device=auto|cpu|cuda][,dtype=auto|fp32|bf16|fp16]";

class VitEncoder final : public Encoder {
public:
    explicit VitEncoder(TorchSpec spec)
        : m_spec(std::move(spec))
    {
    }

    std::string id() const override
    {
        // The configuration is the weights' (hashed), with the options that change it.
        std::string id = "vit:weights=" + m_spec.fileHash.hex();
        if (m_spec.heads)
            id += ",heads=" + std::to_string(*m_spec.heads);
        id += "," + m_spec.run.input.describe(m_spec.sizeGiven ? "" : "native") + ",pool=" + (m_spec.pooling ? models::toString(*m_spec.pooling) : "cls");
        return id;
    }

    std::string placement() const override { return m_spec.run.placement.describe(); }

    Expected<EncodedSet> encode(const ImageSource& source, const ProgressCallback& progress) const override
    {
        auto model = m_model.get([&] { return load(); });
        if (!model)
            return std::unexpected(model.error());
        models::VisionTransformer vit = **model;
        TorchRunOptions run = m_spec.run;
        run.input.size = int(vit->config().imageSize); // size= or the weights' own
        return runImageModel(source, run, [&](const torch::Tensor& images) { return vit->forward(images); },
                             progress, "encoder '" + m_spec.parts.whole + "'");
    }

private:
    models::VisionTransformer load() const
    {
        const models::StateDict weights = models::readWeights(m_spec.file);
        models::ViTLoadOptions options;
        if (m_spec.heads)
            options.heads = *m_spec.heads;
        options.pooling = m_spec.pooling;
        if (m_spec.sizeGiven)
            options.imageSize = m_spec.run.input.size;
        models::LoadedViT loaded = models::loadViT(weights, m_spec.file, options);
        loaded.model->to(m_spec.run.placement.device, m_spec.run.placement.dtype);
        loaded.model->eval();
        return loaded.model;
    }

    TorchSpec m_spec;
    LazyModel<models::VisionTransformer> m_model;
};

class TorchScriptEncoder final : public Encoder {
public:
    explicit TorchScriptEncoder(TorchSpec spec)
        : m_spec(std::move(spec))
    {
    }

    std::string id() const override
    {
        return "torchscript:module=" + m_spec.fileHash.hex() + "," + m_spec.run.input.describe();
    }

    std::string placement() const override { return m_spec.run.placement.describe(); }

    Expected<EncodedSet> encode(const ImageSource& source, const ProgressCallback& progress) const override
    {
        auto module = m_module.get([&] {
            torch::jit::Module m = torch::jit::load(m_spec.file, m_spec.run.placement.device);
            m.eval();
            m.to(m_spec.run.placement.dtype);
            return m;
        });
        if (!module)
            return fail("encoder '" + m_spec.parts.whole + "': " + m_spec.file + " is not a TorchScript module LibTorch "
                        + TORCH_VERSION + " can load (" + module.error().message.substr(0, 300)
                        + "); save one with torch.jit.script(model).save(...) or torch.jit.trace, or use vit:WEIGHTS "
                          "for a ViT state dict");
        torch::jit::Module m = **module;
        return runImageModel(source, m_spec.run,
                             [&](const torch::Tensor& images) {
                                 torch::Tensor out = m.forward({images}).toTensor();
                                 return out.flatten(1);
                             },
                             progress, "encoder '" + m_spec.parts.whole + "'");
    }

private:
    TorchSpec m_spec;
    LazyModel<torch::jit::Module> m_module;
};

} // namespace

Expected<std::unique_ptr<Encoder>> makeVitEncoder(std::string_view spec)
{
    auto parsed = parseTorchSpec(spec, kVitUsage, [](const std::string& key, const std::string& value, TorchSpec& s) -> Expected<bool> {
        if (key == "pool") {
            if (value == "cls" || value == "token")
                s.pooling = models::ViTPooling::ClassToken;
            else if (value == "mean" || value == "avg")
                s.pooling = models::ViTPooling::MeanPatchTokens;
            else
                return fail("encoder '" + s.parts.whole + "': pool=" + value + "; expected cls or mean");
            return true;
        }
        if (key == "heads") {
            const auto h = parseInt(value, 1, 1024);
            if (!h)
                return fail("encoder '" + s.parts.whole + "': heads=" + value + "; expected an integer from 1 to 1024");
            s.heads = *h;
            return true;
        }
        return false;
    });
    if (!parsed)
        return std::unexpected(parsed.error());
    return std::make_unique<VitEncoder>(std::move(*parsed));
}

Expected<std::unique_ptr<Encoder>> makeTorchScriptEncoder(std::string_view spec)
{
    auto parsed = parseTorchSpec(spec, kTorchScriptUsage,
                                 [](const std::string&, const std::string&, TorchSpec&) -> Expected<bool> { return false; });
    if (!parsed)
        return std::unexpected(parsed.error());
    if (!parsed->sizeGiven)
        return fail("encoder '" + parsed->parts.whole + "': a TorchScript module does not say its input size; add size=S, e.g. "
                    + parsed->parts.whole + ",size=224");
    return std::make_unique<TorchScriptEncoder>(std::move(*parsed));
}

} // namespace labelprop
