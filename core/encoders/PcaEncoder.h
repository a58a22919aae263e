#pragma once
// The built-in encoder: principal component analysis of the raw pixels. No model file needed.
//
// Pipeline per item: decode -> gray (or BGR with `rgb`) -> resize to S x S with INTER_AREA (aspect
// ratio not kept) -> pixel values / 255 -> subtract the fitted mean -> project on the top DIMS
// principal components -> optionally whiten (divide component j by sqrt(variance_j) + 1e-6) ->
// scale the row to unit L2 norm.
// The PCA is fitted on a deterministic sample of items (fixed seed), so equal inputs and options
// give bit-identical embeddings.
//
// Thread-safety: PcaEncoder and PcaModel are immutable; their const members may run concurrently.

#include "core/encoders/Encoder.h"
#include "core/encoders/PcaModel.h" // the fit and the model, part of this API

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace labelprop {

struct PcaOptions {
    int dims = 64;              // number of principal components kept
    bool whiten = false;        // divide each component by its standard deviation
    bool rgb = false;           // 3 channels (BGR interleaved) instead of gray
    int size = 0;               // side in pixels; 0 = the source's fixed image size, else 32
    std::size_t sample = 20000; // items used to fit the PCA; 0 = all
    int threads = 0;            // worker threads; 0 = hardware threads, at least 2
};

// Parses "pca", "pca:DIMS" and comma-separated options after the dims: "whiten", "rgb", "gray",
// "size=S", "sample=N" (or "sample=all"), "threads=T". Options may come in any order.
[[nodiscard]] Expected<PcaOptions> parsePcaSpec(std::string_view spec);
// The canonical spec for `options` (defaults left out except the dims), e.g. "pca:64,whiten".
[[nodiscard]] std::string pcaSpec(const PcaOptions& options);
// A spec that can be fitted on `images` images: a PCA spec asking for DIMS >= images components
// (a fit needs DIMS + 1 readable images) comes back with DIMS = images / 2 (at least 1), leaving
// room for files found unreadable when decoded; any other spec, or one that fits, comes back
// unchanged. For a new project, checked before anything is encoded.
[[nodiscard]] std::string encoderSpecFittingImages(const std::string& spec, std::size_t images);

class PcaEncoder final : public Encoder {
public:
    explicit PcaEncoder(PcaOptions options);
    // A frozen encoder: projects with `frozen` instead of fitting; `stateId` (a hash of the stored
    // model) is appended to id() as ",model=<stateId>".
    PcaEncoder(PcaOptions options, std::shared_ptr<const PcaModel> frozen, std::string stateId);

    [[nodiscard]] std::string id() const override;
    [[nodiscard]] bool hasFittedState() const override { return !m_frozen; }
    [[nodiscard]] Expected<FittedEncoding> fitAndEncode(const ImageSource& source,
                                                        const ProgressCallback& progress = {}) const override;
    [[nodiscard]] Expected<std::unique_ptr<Encoder>> withState(std::string_view state) const override;
    [[nodiscard]] Expected<EncodedSet> encode(const ImageSource& source,
                                              const ProgressCallback& progress = {}) const override;
    [[nodiscard]] const PcaOptions& options() const { return m_options; }

    // Like encode(), and also returns the fitted model (for tests and diagnostics).
    [[nodiscard]] Expected<EncodedSet> encodeWithModel(const ImageSource& source, PcaModel* model,
                                                       const ProgressCallback& progress = {}) const;

private:
    PcaOptions m_options;
    std::shared_ptr<const PcaModel> m_frozen; // null: fit on each encode()
    std::string m_stateId;
};

} // namespace labelprop
