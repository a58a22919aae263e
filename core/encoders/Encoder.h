#pragma once
// Encoders turn every image of an ImageSource into one embedding row. The built-in one is PCA on
// pixels (PcaEncoder, needs no model file); learned encoders (ViT, BYOL) plug in behind the same
// interface.
//
// Thread-safety: encode() is const and keeps no state between calls, so one encoder may encode
// several sources concurrently. It runs its own worker threads and calls `progress` only on the
// thread that called encode().

#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/base/Item.h"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace labelprop {

class ImageSource;

// Reports (items processed, items in the source). Return false to cancel; encode() then stops
// after the batches in flight and returns an error. Calls are throttled (a few per second).
using ProgressCallback = std::function<bool(std::size_t done, std::size_t total)>;

// The result of encoding a source. Items that could not be decoded are left out of
// `embeddings`, `items` and `sourceIndices` (which stay row-aligned) and listed in `skipped`.
struct EncodedSet {
    EmbeddingMatrix embeddings;             // kept items x dims, row-major, rows L2-normalised
    std::vector<Item> items;                // item of each row, in source order
    std::vector<std::size_t> sourceIndices; // source index of each row
    std::vector<std::string> skipped;       // "path: reason", in source order
};

// The output of fitting an encoder: its state as bytes and the embeddings of the data it was
// fitted on (fitting reads the data anyway, so the first encoding comes with it).
struct FittedEncoding {
    std::string state;
    EncodedSet encoded;
};

class Encoder {
public:
    virtual ~Encoder() = default;

    // The canonical spec this encoder was made from, e.g. "pca:64,whiten"; equal ids mean equal
    // embeddings for the same source, so the id can key an embedding cache.
    [[nodiscard]] virtual std::string id() const = 0;
    // Where it runs, for people: "cpu", "cpu fp32", "cuda:0 bf16".
    [[nodiscard]] virtual std::string placement() const { return "cpu"; }
    // Encodes every item of `source`. Fails when nothing could be encoded, on cancellation, or
    // when the options do not fit the source (e.g. more PCA dims than pixels).
    [[nodiscard]] virtual Expected<EncodedSet> encode(const ImageSource& source,
                                                      const ProgressCallback& progress = {}) const = 0;

    // Encoders whose embeddings depend on the data they are fitted to (PCA) can be frozen, so that
    // items added to a project later embed exactly like the first ones: fitAndEncode() fits on
    // `source` and returns the state with the embeddings; withState() makes an encoder that uses a
    // stored state and never refits (its id() names the state, so it can key a cache).
    [[nodiscard]] virtual bool hasFittedState() const { return false; }
    [[nodiscard]] virtual Expected<FittedEncoding> fitAndEncode(const ImageSource& source,
                                                                const ProgressCallback& progress = {}) const;
    [[nodiscard]] virtual Expected<std::unique_ptr<Encoder>> withState(std::string_view state) const;
};

// Makes an encoder from a spec string. Known: "pca[:DIMS][,whiten][,rgb][,size=S][,sample=N][,threads=T]",
// and in a build with LibTorch "vit:WEIGHTS[,...]" and "torchscript:FILE,size=S[,...]" (VitEncoder.h).
[[nodiscard]] Expected<std::unique_ptr<Encoder>> makeEncoder(std::string_view spec);

} // namespace labelprop
