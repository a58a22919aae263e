#include "core/project/EmbeddingCache.h"

#include "core/base/AtomicFile.h"

#include <cstring>
#include <filesystem>
#include <fstream>

namespace labelprop {

namespace {

constexpr char kMagic[8] = {'L', 'P', 'E', 'M', 'B', '0', '1', '\n'};

template <class T>
bool readValue(std::istream& in, T& v)
{
    return bool(in.read(reinterpret_cast<char*>(&v), sizeof v));
}

} // namespace

EmbeddingCache EmbeddingCache::load(const std::string& folder, const std::string& encoderId)
{
    EmbeddingCache cache;
    cache.m_encoderId = encoderId;
    cache.m_file = (std::filesystem::path(folder) / "embeddings" / (hashText(encoderId).hex() + ".emb")).string();
    std::ifstream in(cache.m_file, std::ios::binary);
    if (!in)
        return cache; // no cache yet
    auto reject = [&](const char* why) {
        cache.m_warning = cache.m_file + ": " + why + "; it will be rebuilt";
        cache.m_hashes.clear();
        cache.m_data.clear();
        cache.m_rows.clear();
        cache.m_dims = 0;
        return std::move(cache);
    };
    char magic[8];
    std::uint32_t idLength = 0, dims = 0;
    std::uint64_t count = 0;
    if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0 || !readValue(in, idLength) || idLength > 65536)
        return reject("not an embedding cache file");
    std::string id(idLength, '\0');
    if (!in.read(id.data(), idLength) || id != encoderId)
        return reject("made by another encoder");
    if (!readValue(in, dims) || !readValue(in, count) || dims == 0 || dims > 65536)
        return reject("damaged header");
    std::error_code ec;
    const auto fileSize = std::filesystem::file_size(cache.m_file, ec);
    const std::uint64_t expected = 8 + 4 + idLength + 4 + 8 + count * 16 + count * dims * 4;
    if (ec || fileSize != expected || count > (std::uint64_t(1) << 40) / (16 + 4ull * dims))
        return reject("truncated or damaged");
    cache.m_dims = int(dims);
    cache.m_hashes.resize(count);
    cache.m_data.resize(count * dims);
    if (!in.read(reinterpret_cast<char*>(cache.m_hashes.data()), std::streamsize(count * 16))
        || !in.read(reinterpret_cast<char*>(cache.m_data.data()), std::streamsize(count * dims * 4)))
        return reject("read error");
    cache.m_rows.reserve(count);
    for (std::size_t i = 0; i < count; ++i)
        cache.m_rows.emplace(cache.m_hashes[i], i);
    return cache;
}

std::span<const float> EmbeddingCache::row(const ContentHash& hash) const
{
    const auto it = m_rows.find(hash);
    if (it == m_rows.end())
        return {};
    return {m_data.data() + it->second * std::size_t(m_dims), std::size_t(m_dims)};
}

Expected<void> EmbeddingCache::add(std::span<const ContentHash> hashes, const EmbeddingMatrix& rows)
{
    if (std::size_t(rows.rows()) != hashes.size())
        return fail("internal error: " + std::to_string(hashes.size()) + " hashes for " + std::to_string(rows.rows())
                    + " embedding rows");
    if (hashes.empty())
        return {};
    if (m_dims == 0)
        m_dims = int(rows.cols());
    if (rows.cols() != m_dims)
        return fail(m_file + ": the encoder gave " + std::to_string(rows.cols()) + " dims, the cache holds "
                    + std::to_string(m_dims));
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        if (m_rows.contains(hashes[i]))
            continue;
        m_rows.emplace(hashes[i], m_hashes.size());
        m_hashes.push_back(hashes[i]);
        const float* r = rows.row(Eigen::Index(i)).data();
        m_data.insert(m_data.end(), r, r + m_dims);
        m_dirty = true;
    }
    return {};
}

Expected<void> EmbeddingCache::save()
{
    if (!m_dirty)
        return {};
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(m_file).parent_path(), ec);
    if (ec)
        return fail(std::filesystem::path(m_file).parent_path().string() + ": cannot create the cache folder ("
                    + ec.message() + ")");
    AtomicFileWriter w(m_file);
    const auto idLength = std::uint32_t(m_encoderId.size());
    const auto dims = std::uint32_t(m_dims);
    const auto count = std::uint64_t(m_hashes.size());
    for (auto [p, n] : {std::pair<const void*, std::size_t>{kMagic, 8}, {&idLength, 4}, {m_encoderId.data(), idLength},
                        {&dims, 4}, {&count, 8}, {m_hashes.data(), m_hashes.size() * 16},
                        {m_data.data(), m_data.size() * 4}}) {
        if (auto r = w.write(p, n); !r)
            return r;
    }
    if (auto r = w.commit(); !r)
        return r;
    m_dirty = false;
    return {};
}

} // namespace labelprop
