#include "core/models/ViTWeights.h"

#include "core/models/ModelError.h"
#include "core/models/TensorShape.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <utility>

namespace labelprop::models {
namespace {

using detail::shapeOf;
using detail::squareSide;

struct Rename {
    const char* from; // a name prefix in timm's (our) naming
    const char* to;   // the same in the file's naming
};

// torchvision's names for our (timm's) parameter names, by name prefix.
constexpr Rename kTorchvisionTop[] = {
    {"cls_token", "class_token"},
    {"pos_embed", "encoder.pos_embedding"},
    {"patch_embed.proj.", "conv_proj."},
    {"norm.", "encoder.ln."},
};
constexpr Rename kTorchvisionBlock[] = {
    {"norm1.", "ln_1."},
    {"attn.qkv.weight", "self_attention.in_proj_weight"}, // same row order: q, k, v; heads within each
    {"attn.qkv.bias", "self_attention.in_proj_bias"},
    {"attn.proj.", "self_attention.out_proj."},
    {"norm2.", "ln_2."},
    {"mlp.fc1.", "mlp.0."},
    {"mlp.fc2.", "mlp.3."},
};
// torchvision before 0.13 called the MLP layers linear_1 and linear_2; torchvision itself renames
// them on load (MLPBlock._load_from_state_dict), and so do we.
constexpr Rename kTorchvisionLegacy[] = {
    {".mlp.linear_1.", ".mlp.0."},
    {".mlp.linear_2.", ".mlp.3."},
};

// Classifier heads and what feeds only them; the features are the heads' input.
constexpr const char* kTimmHeads[] = {"head.", "head_dist.", "pre_logits."};
constexpr const char* kTorchvisionHeads[] = {"heads."};

// Keys of ViT variants this loader does not implement, and what they mean.
constexpr std::pair<const char*, const char*> kUnsupportedHints[] = {
    {"fc_norm.", "fc_norm is timm's norm after average pooling (global_pool='avg', e.g. MAE/BEiT fine-tunes), "
                 "which this ViT does not implement"},
    {"reg_token", "register tokens (ViT-reg, DINOv2) are not supported"},
    {".ls1.", "layer scale (DeiT III, DINOv2) is not supported"},
    {"norm_pre.", "a norm before the blocks (CLIP ViTs) is not supported"},
};

bool startsWith(const std::string& s, const std::string& prefix)
{
    return s.compare(0, prefix.size(), prefix) == 0;
}

bool endsWith(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "a, b, c" with at most `cap` names, then "... and N more".
std::string joinCapped(const std::vector<std::string>& names, std::size_t cap = 30)
{
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < cap; ++i)
        out += (i ? ", " : "") + names[i];
    if (names.size() > cap)
        out += ", ... and " + std::to_string(names.size() - cap) + " more";
    return out;
}

template <std::size_t N>
std::string renamePrefix(const std::string& name, const Rename (&table)[N])
{
    for (const Rename& r : table)
        if (startsWith(name, r.from))
            return r.to + name.substr(std::char_traits<char>::length(r.from));
    return name;
}

const char* blockPrefix(ViTNaming naming)
{
    return naming == ViTNaming::Timm ? "blocks." : "encoder.layers.encoder_layer_";
}

// The file's name (without the layout prefix) of one of our parameters, e.g. torchvision:
// "blocks.3.mlp.fc1.weight" -> "encoder.layers.encoder_layer_3.mlp.0.weight".
std::string fileName(const std::string& ours, ViTNaming naming)
{
    if (naming == ViTNaming::Timm)
        return ours;
    if (!startsWith(ours, "blocks."))
        return renamePrefix(ours, kTorchvisionTop);
    const std::size_t dot = ours.find('.', 7);
    return blockPrefix(naming) + ours.substr(7, dot - 7) + "." + renamePrefix(ours.substr(dot + 1), kTorchvisionBlock);
}

// A file key as we match it: the legacy torchvision MLP names made current.
std::string normalisedKey(const std::string& key, ViTNaming naming)
{
    if (naming != ViTNaming::Torchvision)
        return key;
    std::string k = key;
    for (const Rename& r : kTorchvisionLegacy)
        if (const auto at = k.find(r.from); at != std::string::npos)
            k.replace(at, std::char_traits<char>::length(r.from), r.to);
    return k;
}

bool isHead(const std::string& name, ViTNaming naming)
{
    if (naming == ViTNaming::Timm)
        return std::any_of(std::begin(kTimmHeads), std::end(kTimmHeads), [&](const char* p) { return startsWith(name, p); });
    return std::any_of(std::begin(kTorchvisionHeads), std::end(kTorchvisionHeads),
                       [&](const char* p) { return startsWith(name, p); });
}

// The dict's entries under the layout's prefix, by normalised name without the prefix; entries
// outside the prefix and classifier heads go to `ignored`.
struct IndexedDict {
    std::map<std::string, const NamedTensor*> byName;
    std::vector<std::string> ignored;
};

IndexedDict indexDict(const StateDict& weights, const ViTLayout& layout)
{
    IndexedDict index;
    for (const NamedTensor& t : weights) {
        if (!startsWith(t.name, layout.prefix)) {
            index.ignored.push_back(t.name);
            continue;
        }
        const std::string name = normalisedKey(t.name.substr(layout.prefix.size()), layout.naming);
        if (isHead(name, layout.naming))
            index.ignored.push_back(t.name);
        else
            index.byName.emplace(name, &t);
    }
    return index;
}

} // namespace

const char* toString(ViTNaming naming)
{
    return naming == ViTNaming::Timm ? "timm" : "torchvision";
}

ViTLayout detectViTLayout(const StateDict& weights, const std::string& origin)
{
    const std::pair<ViTNaming, std::string> markers[] = {
        {ViTNaming::Timm, "patch_embed.proj.weight"},
        {ViTNaming::Torchvision, "conv_proj.weight"},
    };
    std::vector<ViTLayout> found;
    for (const NamedTensor& t : weights)
        for (const auto& [naming, marker] : markers)
            if (endsWith(t.name, marker)) {
                const std::string prefix = t.name.substr(0, t.name.size() - marker.size());
                if (prefix.empty() || prefix.back() == '.')
                    found.push_back({naming, prefix});
            }
    if (found.empty()) {
        std::vector<std::string> names;
        for (const NamedTensor& t : weights)
            names.push_back(t.name);
        throw ModelError(origin + ": not a ViT state dict: no patch_embed.proj.weight (timm, DINO, DeiT) or "
                         + "conv_proj.weight (torchvision) among its " + std::to_string(weights.size())
                         + " keys: " + (names.empty() ? std::string("(none)") : joinCapped(names, 20))
                         + "; give the weights of a timm or torchvision VisionTransformer");
    }
    if (found.size() > 1) {
        std::vector<std::string> where;
        for (const ViTLayout& l : found)
            where.push_back(std::string(toString(l.naming)) + " at '" + l.prefix + "'");
        throw ModelError(origin + ": holds " + std::to_string(found.size()) + " ViTs (" + joinCapped(where)
                         + "); save the one to use on its own");
    }
    return found.front();
}

ViTConfig inferViTConfig(const StateDict& weights, const ViTLayout& layout, const std::string& origin,
                         const ViTLoadOptions& options)
{
    const IndexedDict index = indexDict(weights, layout);
    auto find = [&](const std::string& ours) -> const torch::Tensor* {
        const auto it = index.byName.find(fileName(ours, layout.naming));
        return it == index.byName.end() ? nullptr : &it->second->value;
    };
    auto require = [&](const std::string& ours) -> const torch::Tensor& {
        if (const torch::Tensor* t = find(ours))
            return *t;
        throw ModelError(origin + ": missing key " + layout.prefix + fileName(ours, layout.naming) + " (a "
                         + toString(layout.naming) + " ViT needs it to read its configuration)");
    };
    auto badShape = [&](const std::string& ours, const torch::Tensor& t, const std::string& expected) {
        return ModelError(origin + ": " + layout.prefix + fileName(ours, layout.naming) + " is " + shapeOf(t)
                          + "; expected " + expected);
    };

    ViTConfig c;
    const torch::Tensor& patch = require("patch_embed.proj.weight");
    if (patch.dim() != 4 || patch.size(2) != patch.size(3))
        throw badShape("patch_embed.proj.weight", patch, "[width, channels, patch, patch]");
    c.width = patch.size(0);
    c.channels = patch.size(1);
    c.patchSize = patch.size(2);

    c.classToken = find("cls_token") != nullptr;
    c.distillationToken = layout.naming == ViTNaming::Timm && find("dist_token") != nullptr;
    const torch::Tensor& pos = require("pos_embed");
    if (pos.dim() != 3 || pos.size(0) != 1 || pos.size(2) != c.width)
        throw badShape("pos_embed", pos, "[1, tokens, " + std::to_string(c.width) + "]");
    const int64_t grid = squareSide(pos.size(1) - c.prefixTokens());
    if (grid < 0)
        throw badShape("pos_embed", pos,
                       std::to_string(c.prefixTokens()) + " prefix tokens plus a square grid of patches (timm "
                           + "models whose position embeddings leave out the class token are not supported)");
    c.imageSize = options.imageSize.value_or(grid * c.patchSize);

    const std::string blocks = blockPrefix(layout.naming);
    int64_t depth = 0;
    for (const auto& [name, entry] : index.byName) {
        if (!startsWith(name, blocks))
            continue;
        std::size_t end = blocks.size();
        while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end])))
            ++end;
        if (end > blocks.size() && end < name.size() && name[end] == '.')
            depth = std::max<int64_t>(depth, std::stoll(name.substr(blocks.size(), end - blocks.size())) + 1);
    }
    if (depth == 0)
        throw ModelError(origin + ": no transformer blocks (" + layout.prefix + blocks + "0.* and on)");
    c.depth = depth;
    c.mlpWidth = require("blocks.0.mlp.fc1.weight").size(0);
    c.qkvBias = find("blocks.0.attn.qkv.bias") != nullptr;

    if (options.heads)
        c.heads = *options.heads;
    else if (c.width % 64 == 0)
        c.heads = c.width / 64;
    else
        throw ModelError(origin + ": width " + std::to_string(c.width)
                         + " is not a multiple of 64, so the heads count cannot be guessed (timm and "
                         + "torchvision ViTs have 64-wide heads); give heads explicitly");
    c.layerNormEps = options.layerNormEps.value_or(1e-6);
    c.pooling = options.pooling.value_or(c.classToken ? ViTPooling::ClassToken : ViTPooling::MeanPatchTokens);
    try {
        validate(c);
    } catch (const ModelError& e) {
        throw ModelError(origin + ": " + e.what());
    }
    return c;
}

ViTLoadReport loadViTWeights(VisionTransformerImpl& model, const StateDict& weights, const std::string& origin)
{
    ViTLoadReport report;
    report.layout = detectViTLayout(weights, origin);
    const ViTLayout& layout = report.layout;
    IndexedDict index = indexDict(weights, layout);
    report.ignoredKeys = std::move(index.ignored);

    const ViTConfig& config = model.config();
    std::vector<std::string> missing, mismatched;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> copies; // (our parameter, value to copy)
    std::set<const NamedTensor*> used;
    for (const auto& item : model.named_parameters()) {
        const std::string theirs = fileName(item.key(), layout.naming);
        const auto it = index.byName.find(theirs);
        if (it == index.byName.end()) {
            missing.push_back(layout.prefix + theirs);
            continue;
        }
        used.insert(it->second);
        const torch::Tensor& value = it->second->value;
        const torch::Tensor& param = item.value();
        const std::string where = it->second->name + " expected " + shapeOf(param) + ", found ";
        if (!value.is_floating_point()) {
            mismatched.push_back(where + c10::toString(value.scalar_type()) + " values");
            continue;
        }
        // Position embeddings of another square grid are resampled to ours (timm's load-time rule).
        const bool otherGrid = item.key() == "pos_embed" && value.dim() == 3 && value.size(0) == 1
            && value.size(2) == config.width && squareSide(value.size(1) - config.prefixTokens()) > 0;
        if (otherGrid)
            copies.emplace_back(param, resamplePositionEmbedding(value, config.prefixTokens(), config.gridSize(),
                                                                 config.gridSize()));
        else if (value.sizes() == param.sizes())
            copies.emplace_back(param, value);
        else
            mismatched.push_back(where + shapeOf(value));
    }
    std::vector<std::string> unexpected;
    for (const auto& [name, entry] : index.byName)
        if (used.count(entry) == 0)
            unexpected.push_back(entry->name);

    if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
        std::string message = origin + ": these weights do not fit a " + toString(layout.naming) + " ViT ("
            + config.describe() + ")";
        if (!missing.empty())
            message += "\n  missing keys (" + std::to_string(missing.size()) + "): " + joinCapped(missing);
        if (!unexpected.empty())
            message += "\n  unexpected keys (" + std::to_string(unexpected.size()) + "): " + joinCapped(unexpected);
        if (!mismatched.empty())
            message += "\n  shape mismatches (" + std::to_string(mismatched.size()) + "): " + joinCapped(mismatched);
        for (const auto& [marker, hint] : kUnsupportedHints)
            if (std::any_of(unexpected.begin(), unexpected.end(),
                            [&](const std::string& k) { return k.find(marker) != std::string::npos; }))
                message += std::string("\n  ") + hint;
        message += "\n  Use the weights of a timm or torchvision ViT whose sizes match the configuration "
                   "(heads and image size are options; everything else comes from the file)";
        throw ModelError(message);
    }

    torch::NoGradGuard noGrad;
    for (auto& [param, value] : copies)
        param.copy_(value);
    return report;
}

LoadedViT loadViT(const StateDict& weights, const std::string& origin, const ViTLoadOptions& options)
{
    const ViTLayout layout = detectViTLayout(weights, origin);
    LoadedViT loaded;
    loaded.model = VisionTransformer(inferViTConfig(weights, layout, origin, options));
    loaded.report = loadViTWeights(*loaded.model, weights, origin);
    loaded.model->eval();
    return loaded;
}

} // namespace labelprop::models
