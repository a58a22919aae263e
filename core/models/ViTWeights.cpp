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

// Other names of our (timm's) parameters in files that are otherwise timm-named, by name prefix
// within a block: BEiT's and DeiT III's own layer scale, which timm itself renames on load
// (gamma_1 -> ls1.gamma).
constexpr Rename kTimmAliases[] = {
    {"ls1.gamma", "gamma_1"},
    {"ls2.gamma", "gamma_2"},
};

// Classifier heads and what feeds only them; the features are the heads' input.
constexpr const char* kTimmHeads[] = {"head.", "head_dist.", "pre_logits."};
constexpr const char* kTorchvisionHeads[] = {"heads."};
// Whole names of parameters that inference does not use: the token that replaces masked patches
// in masked-image-modelling training (DINOv2 [1, D], BEiT [1, 1, D]).
constexpr const char* kTimmUnused[] = {"mask_token"};

// Keys of ViT variants this loader does not implement (by a part of the name), and what they are.
constexpr std::pair<const char*, const char*> kUnsupported[] = {
    // DINOv2's SwiGLUFFNFused: w12 computes both halves of the gate, w3 projects back.
    {".mlp.w12.", "a SwiGLU MLP (mlp.w12, mlp.w3: DINOv2's ViT-g/14); this ViT's MLP is fc1, GELU, fc2"},
    {"norm_pre.", "a norm before the blocks (timm pre_norm=True: CLIP ViTs)"},
    {"attn_pool.", "attention pooling (timm global_pool='map': SigLIP ViTs)"},
    {".attn.q_norm.", "qk-norm (normed queries and keys)"},
    {"relative_position_bias", "relative position biases (BEiT)"},
    {".attn.q_bias", "separate query and value biases (BEiT)"},
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

// The file's names (without the layout prefix) of one of our parameters, the usual one first, e.g.
// torchvision: "blocks.3.mlp.fc1.weight" -> {"encoder.layers.encoder_layer_3.mlp.0.weight"};
// timm: "blocks.3.ls1.gamma" -> {"blocks.3.ls1.gamma", "blocks.3.gamma_1"}.
std::vector<std::string> fileNames(const std::string& ours, ViTNaming naming)
{
    // "blocks.3.mlp.fc1.weight" -> block "3", inBlock "mlp.fc1.weight"; top-level names have no block.
    std::string block, inBlock = ours;
    if (startsWith(ours, "blocks.")) {
        const std::size_t dot = ours.find('.', 7);
        block = ours.substr(7, dot - 7);
        inBlock = ours.substr(dot + 1);
    }
    auto inFile = [&](const std::string& name) {
        return block.empty() ? name : blockPrefix(naming) + block + "." + name;
    };
    if (naming == ViTNaming::Torchvision)
        return {block.empty() ? renamePrefix(ours, kTorchvisionTop) : inFile(renamePrefix(inBlock, kTorchvisionBlock))};
    std::vector<std::string> names{ours};
    if (const std::string alias = renamePrefix(inBlock, kTimmAliases); alias != inBlock)
        names.push_back(inFile(alias));
    return names;
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

// Classifier heads and parameters only training uses: left out, and reported as ignored.
bool isIgnored(const std::string& name, ViTNaming naming)
{
    auto isPrefix = [&](const char* p) { return startsWith(name, p); };
    if (naming == ViTNaming::Torchvision)
        return std::any_of(std::begin(kTorchvisionHeads), std::end(kTorchvisionHeads), isPrefix);
    return std::any_of(std::begin(kTimmHeads), std::end(kTimmHeads), isPrefix)
        || std::any_of(std::begin(kTimmUnused), std::end(kTimmUnused), [&](const char* n) { return name == n; });
}

// The dict's entries under the layout's prefix, by normalised name without the prefix; entries
// outside the prefix, classifier heads and training-only parameters go to `ignored`.
struct IndexedDict {
    std::map<std::string, const NamedTensor*> byName;
    std::vector<std::string> ignored;

    // The entry of one of our parameters: the first of its file names (fileNames) present, or nullptr.
    [[nodiscard]] const NamedTensor* find(const std::string& ours, ViTNaming naming) const
    {
        for (const std::string& name : fileNames(ours, naming))
            if (const auto it = byName.find(name); it != byName.end())
                return it->second;
        return nullptr;
    }
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
        if (isIgnored(name, layout.naming))
            index.ignored.push_back(t.name);
        else
            index.byName.emplace(name, &t);
    }
    return index;
}

// One of our parameters as a file would name it, for messages: "blocks.3.ls1.gamma or blocks.3.gamma_1".
std::string fileNamesText(const std::string& ours, const ViTLayout& layout)
{
    std::string text;
    for (const std::string& name : fileNames(ours, layout.naming))
        text += (text.empty() ? "" : " or ") + layout.prefix + name;
    return text;
}

// The variants of kUnsupported that `keys` (file names) use, with the keys that show each:
// "a SwiGLU MLP (...) (blocks.0.mlp.w12.weight, ...)".
std::vector<std::string> unsupportedVariants(const std::vector<std::string>& keys)
{
    std::vector<std::string> variants;
    for (const auto& [marker, what] : kUnsupported) {
        std::vector<std::string> hits;
        for (const std::string& key : keys)
            if (key.find(marker) != std::string::npos)
                hits.push_back(key);
        if (!hits.empty())
            variants.push_back(std::string(what) + " (" + joinCapped(hits, 4) + ")");
    }
    return variants;
}

// What pos_embed holds under `slots` (c gives the prefix tokens), for messages.
std::string slotsText(ViTConfig c, ViTPositionSlots slots)
{
    c.positionSlots = slots;
    const std::string n = std::to_string(c.prefixPositionSlots());
    switch (slots) {
    case ViTPositionSlots::AllTokens:
        return n + " prefix-token slots plus a square grid of patches";
    case ViTPositionSlots::PatchesOnly:
        return "a square grid of patches alone (timm no_embed_class)";
    case ViTPositionSlots::AllButRegisters:
        return n + " slots plus a square grid of patches (DINOv2's register_tokens have none)";
    }
    return n;
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
    std::vector<std::string> keys;
    for (const auto& [name, entry] : index.byName)
        keys.push_back(entry->name);
    if (const std::vector<std::string> variants = unsupportedVariants(keys); !variants.empty()) {
        std::string message = origin + ": this ViT variant is not supported; the file has";
        for (const std::string& v : variants)
            message += "\n  " + v;
        throw ModelError(message + "\n  Use the weights of a ViT without it (timm, torchvision, DeiT, DINO or DINOv2 "
                                   "ViT-S/B/L)");
    }
    const bool timm = layout.naming == ViTNaming::Timm; // the variants are timm's (and DINOv2's)
    auto find = [&](const std::string& ours) { return index.find(ours, layout.naming); };
    auto require = [&](const std::string& ours) -> const NamedTensor& {
        if (const NamedTensor* t = find(ours))
            return *t;
        throw ModelError(origin + ": missing key " + fileNamesText(ours, layout) + " (a " + toString(layout.naming)
                         + " ViT needs it to read its configuration)");
    };
    auto badShape = [&](const NamedTensor& t, const std::string& expected) {
        return ModelError(origin + ": " + t.name + " is " + shapeOf(t.value) + "; expected " + expected);
    };

    ViTConfig c;
    const NamedTensor& patch = require("patch_embed.proj.weight");
    if (patch.value.dim() != 4 || patch.value.size(2) != patch.value.size(3))
        throw badShape(patch, "[width, channels, patch, patch]");
    c.width = patch.value.size(0);
    c.channels = patch.value.size(1);
    c.patchSize = patch.value.size(2);
    const std::string width = std::to_string(c.width);

    c.classToken = find("cls_token") != nullptr;
    c.distillationToken = timm && find("dist_token") != nullptr;
    // timm's reg_token or DINOv2's register_tokens; a file with both has one left unexpected at load.
    const NamedTensor* timmRegisters = timm ? find("reg_token") : nullptr;
    const NamedTensor* dinov2Registers = timm && !timmRegisters ? find("register_tokens") : nullptr;
    const NamedTensor* registers = timmRegisters ? timmRegisters : dinov2Registers;
    if (registers) {
        const torch::Tensor& r = registers->value;
        if (r.dim() != 3 || r.size(0) != 1 || r.size(1) < 1 || r.size(2) != c.width)
            throw badShape(*registers, "[1, registers, " + width + "]");
        c.registerTokens = r.size(1);
    }

    // Which tokens have position-embedding slots, from the stored length: DINOv2's register_tokens
    // never have one; timm's reg_token have one when the class token has (no_embed_class=False).
    // Where two layouts leave a square grid (only grids of a few patches), the first is taken.
    const NamedTensor& pos = require("pos_embed");
    if (pos.value.dim() != 3 || pos.value.size(0) != 1 || pos.value.size(2) != c.width)
        throw badShape(pos, "[1, tokens, " + width + "]");
    std::vector<ViTPositionSlots> layouts{ViTPositionSlots::AllTokens};
    if (dinov2Registers)
        layouts = {ViTPositionSlots::AllButRegisters};
    else if (timm)
        layouts.push_back(ViTPositionSlots::PatchesOnly);
    const auto fits = std::find_if(layouts.begin(), layouts.end(), [&](ViTPositionSlots slots) {
        ViTConfig candidate = c;
        candidate.positionSlots = slots;
        return squareSide(pos.value.size(1) - candidate.prefixPositionSlots()) > 0;
    });
    if (fits == layouts.end()) {
        std::string expected;
        for (const ViTPositionSlots slots : layouts)
            expected += (expected.empty() ? "" : ", or ") + slotsText(c, slots);
        throw badShape(pos, expected);
    }
    c.positionSlots = *fits;
    c.imageSize = options.imageSize.value_or(squareSide(pos.value.size(1) - c.prefixPositionSlots()) * c.patchSize);

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
    c.mlpWidth = require("blocks.0.mlp.fc1.weight").value.size(0);
    c.qkvBias = find("blocks.0.attn.qkv.bias") != nullptr;
    c.layerScale = timm && find("blocks.0.ls1.gamma") != nullptr;
    c.normAfterPooling = timm && find("fc_norm.weight") != nullptr;
    if (c.normAfterPooling && find("norm.weight") != nullptr)
        throw ModelError(origin + ": has both " + layout.prefix + "norm.* (timm's norm of the tokens) and "
                         + layout.prefix + "fc_norm.* (its norm after average pooling); a timm ViT has one of them: "
                         + "save the weights of one model");

    if (options.heads)
        c.heads = *options.heads;
    else if (c.width % 64 == 0)
        c.heads = c.width / 64;
    else
        throw ModelError(origin + ": width " + width
                         + " is not a multiple of 64, so the heads count cannot be guessed (timm and "
                         + "torchvision ViTs have 64-wide heads); give heads explicitly");
    c.layerNormEps = options.layerNormEps.value_or(1e-6);
    // The pooling the model was trained with: fc_norm models average (timm global_pool='avg').
    c.pooling = options.pooling.value_or(c.classToken && !c.normAfterPooling ? ViTPooling::ClassToken
                                                                             : ViTPooling::MeanPatchTokens);
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
    const int64_t slots = config.prefixPositionSlots();
    std::vector<std::string> missing, mismatched;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> copies; // (our parameter, value to copy)
    std::set<const NamedTensor*> used;
    for (const auto& item : model.named_parameters()) {
        const NamedTensor* entry = index.find(item.key(), layout.naming);
        if (!entry) {
            missing.push_back(fileNamesText(item.key(), layout));
            continue;
        }
        used.insert(entry);
        const torch::Tensor& value = entry->value;
        const torch::Tensor& param = item.value();
        const std::string where = entry->name + " expected " + shapeOf(param) + ", found ";
        if (!value.is_floating_point()) {
            mismatched.push_back(where + c10::toString(value.scalar_type()) + " values");
            continue;
        }
        // Position embeddings of another square grid are resampled to ours (timm's load-time rule).
        const bool otherGrid = item.key() == "pos_embed" && value.dim() == 3 && value.size(0) == 1
            && value.size(2) == config.width && squareSide(value.size(1) - slots) > 0;
        if (otherGrid)
            copies.emplace_back(param, resamplePositionEmbedding(value, slots, config.gridSize(), config.gridSize()));
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
        for (const std::string& variant : unsupportedVariants(unexpected))
            message += "\n  not supported: " + variant;
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
