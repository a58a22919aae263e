#include "core/project/ProjectEmbeddings.h"

#include "core/project/EmbeddingCache.h"
#include "core/sources/ImageSource.h"
#include "core/project/ProjectImport.h"
#include "core/project/ProjectStore.h"
#include "core/sources/SubsetSource.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <numeric>
#include <set>

namespace labelprop {

namespace {
// Items encoded between two cache saves. A save appends only the chunk's rows (EmbeddingCache.h:
// 12 MB for 4096 x 768 floats), so a crash loses at most the chunk being encoded.
constexpr std::size_t kEncodeChunk = 4096;
} // namespace


Expected<ProjectEmbeddings> loadProjectEmbeddings(ProjectStore& store, const std::string& encoderSpec,
                                                  const ProgressCallback& progress)
{
    auto items = store.items();
    if (!items)
        return std::unexpected(items.error());
    return loadProjectEmbeddings(store, *items, encoderSpec, progress);
}

Expected<ProjectEmbeddings> loadProjectEmbeddings(ProjectStore& store, const std::vector<ProjectItem>& items,
                                                  const std::string& encoderSpec, const ProgressCallback& progress)
{
    auto info = store.sourceInfo();
    if (!info)
        return std::unexpected(info.error());
    ProjectEmbeddings out;
    // Candidates: items that are there, with a hash.
    struct Candidate {
        std::int64_t id;
        ContentHash hash;
        const std::string* path;
    };
    std::vector<Candidate> candidates;
    for (const auto& it : items)
        if ((it.status == ItemStatus::Present || it.status == ItemStatus::Changed) && !it.hash.isZero())
            candidates.push_back(Candidate{it.id, it.hash, &it.path});
    if (candidates.empty())
        return fail(store.path() + ": no item to embed (all missing or unreadable)");

    // The source is opened only when something must be encoded: a project whose embeddings are all
    // cached reopens without reading a single image.
    std::unique_ptr<ImageSource> source;
    std::unordered_map<std::string_view, std::size_t> sourceIndex;
    const auto openSource = [&]() -> Expected<void> {
        if (source)
            return {};
        auto opened = openProjectSource(*info);
        if (!opened)
            return std::unexpected(opened.error());
        source = std::move(*opened);
        for (std::size_t i = 0; i < source->size(); ++i)
            sourceIndex.emplace(source->item(i).path, i);
        return {};
    };
    // Source indices of `wanted` candidates (their positions in `candidates`); ones the source no
    // longer has are reported and left out of `found`.
    const auto locate = [&](const std::vector<std::size_t>& wanted, std::vector<std::size_t>& found,
                            std::vector<std::size_t>& indices) {
        for (const auto k : wanted) {
            const auto s = sourceIndex.find(*candidates[k].path);
            if (s == sourceIndex.end()) {
                out.skipped.push_back(*candidates[k].path
                                      + ": not in the source any more; run 'project import' to update the project");
                continue;
            }
            found.push_back(k);
            indices.push_back(s->second);
        }
    };

    auto encoder = makeEncoder(encoderSpec);
    if (!encoder)
        return std::unexpected(encoder.error());
    std::unique_ptr<Encoder> frozen;
    std::optional<FittedEncoding> fitted;
    std::vector<std::size_t> fittedOn; // candidate of each subset row when fitting now
    if ((*encoder)->hasFittedState()) {
        auto state = store.encoderState(encoderSpec);
        if (!state)
            return std::unexpected(state.error());
        if (!*state) {
            if (store.readOnly())
                return fail(store.path() + ": the encoder '" + encoderSpec + "' has not been fitted to this project yet; "
                            "run 'labelprop-cli project propagate " + store.path() + "' (it needs write access)");
            LP_TRY(openSource());
            std::vector<std::size_t> all(candidates.size()), indices;
            std::iota(all.begin(), all.end(), std::size_t(0));
            locate(all, fittedOn, indices);
            if (indices.empty())
                return fail(store.path() + ": none of the project's items is in its source any more");
            SubsetSource subset(*source, indices);
            auto f = (*encoder)->fitAndEncode(subset, progress);
            if (!f)
                return std::unexpected(f.error());
            if (auto r = store.saveEncoderState(encoderSpec, f->state); !r)
                return std::unexpected(r.error());
            fitted = std::move(*f);
            *state = fitted->state;
        }
        auto w = (*encoder)->withState(**state);
        if (!w)
            return std::unexpected(w.error());
        frozen = std::move(*w);
    } else {
        frozen = std::move(*encoder);
    }
    out.encoderId = frozen->id();

    EmbeddingCache cache = EmbeddingCache::load(store.cacheFolder(), out.encoderId);
    if (!cache.loadWarning().empty())
        out.warnings.push_back(cache.loadWarning());
    // A cache that cannot be written costs encoding again later, not this result: warned once.
    bool cacheWarned = false;
    const auto saveCache = [&] {
        if (auto r = cache.save(); !r && !cacheWarned) {
            cacheWarned = true;
            out.warnings.push_back("the embedding cache was not saved (" + r.error().message
                                   + "); what it lacks will be encoded again next time");
        }
    };
    // Items an encoder could not read are marked unreadable in the project (when it is writable).
    std::vector<ContentHash> failedHashes;
    if (fitted) {
        // Fitting embedded every located candidate already (subset row r is candidate fittedOn[r]).
        std::vector<ContentHash> hashes;
        std::vector<char> ok(fittedOn.size(), 0);
        for (const auto r : fitted->encoded.sourceIndices) {
            hashes.push_back(candidates[fittedOn[r]].hash);
            ok[r] = 1;
        }
        for (std::size_t r = 0; r < fittedOn.size(); ++r)
            if (!ok[r])
                failedHashes.push_back(candidates[fittedOn[r]].hash);
        if (auto r = cache.add(hashes, fitted->encoded.embeddings); !r)
            return std::unexpected(r.error());
        out.encodedNow = std::int64_t(hashes.size());
        out.skipped.insert(out.skipped.end(), fitted->encoded.skipped.begin(), fitted->encoded.skipped.end());
    } else {
        std::vector<std::size_t> wanted; // candidates, one per hash the cache lacks
        std::set<ContentHash, ContentHashLess> queued;
        for (std::size_t k = 0; k < candidates.size(); ++k)
            if (!cache.contains(candidates[k].hash) && queued.insert(candidates[k].hash).second)
                wanted.push_back(k);
        std::vector<std::size_t> located, missing; // candidates found in the source, their source indices
        if (!wanted.empty()) {
            LP_TRY(openSource());
            locate(wanted, located, missing);
        }
        std::vector<ContentHash> missingHashes;
        for (const auto k : located)
            missingHashes.push_back(candidates[k].hash);
        // In chunks, each added to the cache and saved as it finishes, and the cache saved
        // whenever encoding stops (done, cancelled or failed): an encode of a large set with a ViT
        // takes hours on a CPU, and a cancel or a crash near its end must not throw the finished
        // part away. The next run encodes only what is missing.
        for (std::size_t begin = 0; begin < missing.size(); begin += kEncodeChunk) {
            const std::size_t end = std::min(missing.size(), begin + kEncodeChunk);
            SubsetSource subset(*source, std::vector<std::size_t>(missing.begin() + std::ptrdiff_t(begin),
                                                                  missing.begin() + std::ptrdiff_t(end)));
            const ProgressCallback chunkProgress = [&](std::size_t done, std::size_t) {
                return !progress || progress(begin + done, missing.size());
            };
            auto encoded = frozen->encode(subset, chunkProgress);
            if (!encoded) {
                saveCache();
                return std::unexpected(encoded.error());
            }
            std::vector<ContentHash> hashes;
            std::vector<char> ok(end - begin, 0);
            for (const auto k : encoded->sourceIndices) {
                hashes.push_back(missingHashes[begin + k]);
                ok[k] = 1;
            }
            for (std::size_t k = 0; k < end - begin; ++k)
                if (!ok[k])
                    failedHashes.push_back(missingHashes[begin + k]);
            if (auto r = cache.add(hashes, encoded->embeddings); !r)
                return std::unexpected(r.error());
            out.encodedNow += std::int64_t(hashes.size());
            out.skipped.insert(out.skipped.end(), encoded->skipped.begin(), encoded->skipped.end());
            saveCache();
        }
    }
    saveCache();

    if (!failedHashes.empty() && !store.readOnly()) {
        std::set<ContentHash, ContentHashLess> failed(failedHashes.begin(), failedHashes.end());
        std::vector<ProjectItem> marked;
        for (const auto& it : items)
            if (failed.contains(it.hash) && it.status != ItemStatus::Unreadable) {
                marked.push_back(it);
                marked.back().status = ItemStatus::Unreadable;
            }
        if (auto r = store.updateItems(marked); !r)
            return std::unexpected(r.error());
        out.markedUnreadable = std::int64_t(marked.size());
    }

    const int dims = cache.dims();
    std::size_t rows = 0;
    for (const auto& c : candidates)
        rows += cache.contains(c.hash) ? 1 : 0;
    out.x.resize(Eigen::Index(rows), dims);
    out.itemIds.reserve(rows);
    std::string identity; // (item id, content hash) of every row, hashed into the version
    identity.reserve(rows * 24);
    for (const auto& c : candidates) {
        const auto r = cache.row(c.hash);
        if (r.empty())
            continue;
        std::copy(r.begin(), r.end(), out.x.row(Eigen::Index(out.itemIds.size())).data());
        out.itemIds.push_back(c.id);
        identity.append(reinterpret_cast<const char*>(&c.id), sizeof c.id);
        identity.append(reinterpret_cast<const char*>(c.hash.bytes.data()), c.hash.bytes.size());
    }
    out.fromCache = std::int64_t(rows) - out.encodedNow;
    out.version = out.encoderId + "#" + hashText(identity).hex().substr(0, 16);
    return out;
}

} // namespace labelprop
