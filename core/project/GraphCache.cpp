#include "core/project/GraphCache.h"

#include "core/base/AtomicFile.h"
#include "core/base/ContentHash.h"

#include <cstring>
#include <filesystem>
#include <fstream>

namespace labelprop {

namespace {

constexpr char kMagic[8] = {'L', 'P', 'K', 'N', 'N', '0', '1', '\n'};

std::string graphFile(const std::string& cacheFolder, const std::string& key)
{
    return (std::filesystem::path(cacheFolder) / "graphs" / (hashText(key).hex() + ".knn")).string();
}

template <class T>
bool readValue(std::istream& in, T& v)
{
    return bool(in.read(reinterpret_cast<char*>(&v), sizeof v));
}

} // namespace

std::string graphCacheKey(const std::string& embeddingVersion, const std::string& knnKey)
{
    return embeddingVersion + "|" + knnKey;
}

CachedGraph loadCachedGraph(const std::string& cacheFolder, const std::string& key, std::int64_t rows)
{
    CachedGraph out;
    const auto file = graphFile(cacheFolder, key);
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return out; // not cached yet
    auto reject = [&](const char* why) {
        out.warning = file + ": " + why + "; the kNN graph will be searched again";
        out.graph.reset();
        return out;
    };
    char magic[8];
    std::uint32_t keyLength = 0;
    if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0 || !readValue(in, keyLength) || keyLength > (1u << 20))
        return reject("not a kNN graph cache file");
    std::string stored(keyLength, '\0');
    if (!in.read(stored.data(), keyLength) || stored != key)
        return reject("made for other embeddings or settings");
    std::int64_t storedRows = 0;
    std::int32_t k = 0;
    if (!readValue(in, storedRows) || !readValue(in, k) || storedRows != rows || k < 1 || k >= std::max<std::int64_t>(rows, 2))
        return reject("damaged header");
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    const std::uint64_t cells = std::uint64_t(rows) * std::uint64_t(k);
    if (ec || size != 8 + 4 + keyLength + 8 + 4 + cells * 8)
        return reject("truncated or damaged");
    KnnGraph g;
    g.rows = rows;
    g.k = k;
    g.neighbours.resize(cells);
    g.similarities.resize(cells);
    if (!in.read(reinterpret_cast<char*>(g.neighbours.data()), std::streamsize(cells * 4))
        || !in.read(reinterpret_cast<char*>(g.similarities.data()), std::streamsize(cells * 4)))
        return reject("read error");
    for (const auto j : g.neighbours)
        if (j < 0 || j >= rows)
            return reject("a neighbour index is out of range");
    out.graph = std::move(g);
    return out;
}

Expected<void> saveCachedGraph(const std::string& cacheFolder, const std::string& key, const KnnGraph& graph)
{
    const auto file = graphFile(cacheFolder, key);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
    if (ec)
        return fail(file + ": cannot create the cache folder (" + ec.message() + "); check the permissions");
    AtomicFileWriter w(file);
    const auto keyLength = std::uint32_t(key.size());
    const auto k = std::int32_t(graph.k);
    for (auto [data, size] : {std::pair<const void*, std::size_t>{kMagic, 8}, {&keyLength, 4}, {key.data(), key.size()},
                              {&graph.rows, 8}, {&k, 4}, {graph.neighbours.data(), graph.neighbours.size() * 4},
                              {graph.similarities.data(), graph.similarities.size() * 4}})
        if (auto r = w.write(data, size); !r)
            return r;
    return w.commit();
}

} // namespace labelprop
