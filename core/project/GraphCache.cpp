#include "core/project/GraphCache.h"

#include "core/base/AtomicFile.h"
#include "core/base/ContentHash.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>

namespace labelprop {

namespace {

constexpr char kMagic[8] = {'L', 'P', 'K', 'N', 'N', '0', '1', '\n'};
constexpr char kAffinityMagic[8] = {'L', 'P', 'A', 'F', 'F', '0', '1', '\n'};

std::string graphFile(const std::string& cacheFolder, const std::string& key, const char* extension = ".knn")
{
    return (std::filesystem::path(cacheFolder) / "graphs" / (hashText(key).hex() + extension)).string();
}

// One CSR matrix of n rows; false on a short read or an inconsistent one (sizes, offsets, columns).
bool readCsr(std::istream& in, std::int64_t n, CsrMatrix& m)
{
    std::int64_t nnz = 0;
    if (!in.read(reinterpret_cast<char*>(&nnz), 8) || nnz < 0 || nnz > n * 100000)
        return false;
    m.rowStart.resize(std::size_t(n + 1));
    m.columns.resize(std::size_t(nnz));
    m.weights.resize(std::size_t(nnz));
    if (!in.read(reinterpret_cast<char*>(m.rowStart.data()), std::streamsize(8 * (n + 1)))
        || !in.read(reinterpret_cast<char*>(m.columns.data()), std::streamsize(4 * nnz))
        || !in.read(reinterpret_cast<char*>(m.weights.data()), std::streamsize(4 * nnz)))
        return false;
    if (m.rowStart.front() != 0 || m.rowStart.back() != nnz)
        return false;
    for (std::int64_t r = 0; r < n; ++r)
        if (m.rowStart[std::size_t(r + 1)] < m.rowStart[std::size_t(r)])
            return false;
    for (const auto c : m.columns)
        if (c < 0 || c >= n)
            return false;
    return true;
}

using Chunks = std::initializer_list<std::pair<const void*, std::size_t>>; // (bytes, size) in file order

Expected<void> writeChunks(AtomicFileWriter& w, Chunks chunks)
{
    for (auto [data, size] : chunks)
        if (auto r = w.write(data, size); !r)
            return r;
    return {};
}

Expected<void> writeCsr(AtomicFileWriter& w, const CsrMatrix& m)
{
    const auto nnz = std::int64_t(m.columns.size());
    return writeChunks(w, {{&nnz, 8}, {m.rowStart.data(), m.rowStart.size() * 8}, {m.columns.data(), m.columns.size() * 4},
                           {m.weights.data(), m.weights.size() * 4}});
}

template <class T>
bool readValue(std::istream& in, T& v)
{
    return bool(in.read(reinterpret_cast<char*>(&v), sizeof v));
}

// Both cache files start with an 8-byte magic and their key (uint32 length + bytes). Returns why
// the file does not fit (nullptr when it does); `keyLength` is the stored key's length.
const char* checkHeader(std::istream& in, const char (&magic)[8], const std::string& key, const char* notThisKind,
                        std::uint32_t& keyLength)
{
    char stored[8];
    keyLength = 0;
    if (!in.read(stored, 8) || std::memcmp(stored, magic, 8) != 0 || !readValue(in, keyLength) || keyLength > (1u << 20))
        return notThisKind;
    std::string storedKey(keyLength, '\0');
    if (!in.read(storedKey.data(), keyLength) || storedKey != key)
        return "made for other embeddings or settings";
    return nullptr;
}

// Creates the folder of `file` and writes the header; the caller writes the rest and commits.
Expected<void> startFile(AtomicFileWriter& w, const std::string& file, const char (&magic)[8], const std::string& key)
{
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
    if (ec)
        return fail(file + ": cannot create the cache folder (" + ec.message() + "); check the permissions");
    const auto keyLength = std::uint32_t(key.size());
    return writeChunks(w, {{magic, 8}, {&keyLength, 4}, {key.data(), key.size()}});
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
    std::uint32_t keyLength = 0;
    if (const char* why = checkHeader(in, kMagic, key, "not a kNN graph cache file", keyLength))
        return reject(why);
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
    AtomicFileWriter w(file);
    if (auto r = startFile(w, file, kMagic, key); !r)
        return r;
    const auto k = std::int32_t(graph.k);
    if (auto r = writeChunks(w, {{&graph.rows, 8}, {&k, 4}, {graph.neighbours.data(), graph.neighbours.size() * 4},
                                 {graph.similarities.data(), graph.similarities.size() * 4}});
        !r)
        return r;
    return w.commit();
}

std::string affinityCacheKey(const std::string& graphKey, float temperature)
{
    std::uint32_t bits = 0;
    std::memcpy(&bits, &temperature, 4);
    return graphKey + "|T=" + std::to_string(bits);
}

std::optional<SparseGraph> loadCachedAffinity(const std::string& cacheFolder, const std::string& key, std::int64_t n,
                                              std::string* warning)
{
    const auto file = graphFile(cacheFolder, key, ".aff");
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return std::nullopt;
    const auto reject = [&](const char* why) -> std::optional<SparseGraph> {
        if (warning)
            *warning = file + ": " + why + "; the affinity will be built again";
        return std::nullopt;
    };
    std::uint32_t keyLength = 0;
    if (const char* why = checkHeader(in, kAffinityMagic, key, "not an affinity cache file", keyLength))
        return reject(why);
    SparseGraph s;
    if (!readValue(in, s.n) || s.n != n)
        return reject("damaged header");
    if (!readCsr(in, n, s))
        return reject("damaged or truncated");
    s.localOrder.resize(std::size_t(n));
    if (!in.read(reinterpret_cast<char*>(s.localOrder.data()), std::streamsize(4 * n)) || !readCsr(in, n, s.local))
        return reject("damaged or truncated");
    s.localPosition.assign(std::size_t(n), -1);
    for (std::int64_t p = 0; p < n; ++p) {
        const auto item = s.localOrder[std::size_t(p)];
        if (item < 0 || item >= n || s.localPosition[std::size_t(item)] >= 0)
            return reject("its local layout is not a permutation");
        s.localPosition[std::size_t(item)] = std::int32_t(p);
    }
    if (in.peek() != std::char_traits<char>::eof())
        return reject("longer than it should be");
    return s;
}

Expected<void> saveCachedAffinity(const std::string& cacheFolder, const std::string& key, const SparseGraph& s)
{
    if (!s.hasLocalLayout())
        return fail("saveCachedAffinity: the graph has no local layout (built by buildNormalisedAffinity?)");
    const auto file = graphFile(cacheFolder, key, ".aff");
    AtomicFileWriter w(file);
    if (auto r = startFile(w, file, kAffinityMagic, key); !r)
        return r;
    if (auto r = w.write(&s.n, 8); !r)
        return r;
    if (auto r = writeCsr(w, s); !r)
        return r;
    if (auto r = w.write(s.localOrder.data(), s.localOrder.size() * 4); !r)
        return r;
    if (auto r = writeCsr(w, s.local); !r)
        return r;
    return w.commit();
}

} // namespace labelprop
