#include "core/project/EmbeddingCache.h"

#include "core/base/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace labelprop {

namespace {

constexpr char kMagicV1[8] = {'L', 'P', 'E', 'M', 'B', '0', '1', '\n'};
constexpr char kMagic[8] = {'L', 'P', 'E', 'M', 'B', '0', '2', '\n'};
constexpr std::uint64_t kCheckBytes = 32; // XXH3-128 of a segment's hashes, then of its rows

template <class T>
bool readValue(std::istream& in, T& v)
{
    return bool(in.read(reinterpret_cast<char*>(&v), sizeof v));
}

std::uint64_t segmentBytes(std::uint64_t count, std::uint64_t dims)
{
    return 8 + count * 16 + count * dims * 4 + kCheckBytes;
}

ContentHash hashOf(const void* data, std::size_t bytes)
{
    return hashBytes(std::span(static_cast<const std::uint8_t*>(data), bytes));
}

// Reads segments from `in`, positioned at `pos` of a file of `fileSize` bytes, appending their
// hashes and rows to `hashes` and `rows` while they are complete and their checks hold. Returns
// the offset just past the last good segment (`pos` when there is none).
std::uint64_t readSegments(std::istream& in, std::uint64_t pos, std::uint64_t fileSize, std::uint32_t dims,
                           std::vector<ContentHash>& hashes, std::vector<float>& rows)
{
    while (pos < fileSize) {
        std::uint64_t count = 0;
        if (!readValue(in, count) || count == 0 || count > (fileSize - pos) / (16 + 4ull * dims)
            || pos + segmentBytes(count, dims) > fileSize)
            break;
        const std::size_t h0 = hashes.size(), r0 = rows.size();
        hashes.resize(h0 + count);
        rows.resize(r0 + count * dims);
        ContentHash check[2];
        const bool ok = in.read(reinterpret_cast<char*>(hashes.data() + h0), std::streamsize(count * 16))
                        && in.read(reinterpret_cast<char*>(rows.data() + r0), std::streamsize(count * dims * 4))
                        && in.read(reinterpret_cast<char*>(check), std::streamsize(kCheckBytes))
                        && check[0] == hashOf(hashes.data() + h0, count * 16)
                        && check[1] == hashOf(rows.data() + r0, count * dims * 4);
        if (!ok) {
            hashes.resize(h0);
            rows.resize(r0);
            break;
        }
        pos += segmentBytes(count, dims);
    }
    return pos;
}

std::string systemError(int err)
{
    return std::system_category().message(err);
}

std::uint64_t inodeOf(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? std::uint64_t(st.st_ino) : 0;
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
        cache.m_saved = 0;
        cache.m_fileBytes = 0;
        return std::move(cache);
    };
    std::error_code ec;
    const std::uint64_t fileSize = std::filesystem::file_size(cache.m_file, ec);
    if (ec)
        return reject("cannot read its size");
    char magic[8];
    std::uint32_t idLength = 0, dims = 0;
    if (!in.read(magic, 8) || (std::memcmp(magic, kMagic, 8) != 0 && std::memcmp(magic, kMagicV1, 8) != 0)
        || !readValue(in, idLength) || idLength > 65536)
        return reject("not an embedding cache file");
    const bool v1 = std::memcmp(magic, kMagicV1, 8) == 0;
    std::string id(idLength, '\0');
    if (!in.read(id.data(), idLength) || id != encoderId)
        return reject("made by another encoder");
    if (!readValue(in, dims) || dims == 0 || dims > 65536)
        return reject("damaged header");
    cache.m_dims = int(dims);
    const std::uint64_t header = 8 + 4 + idLength + 4;
    if (v1) {
        // The older layout: uint64 count, all hashes, all rows, no checks. It loads; the next
        // save rewrites it in the current layout (m_fileBytes stays 0).
        std::uint64_t count = 0;
        if (!readValue(in, count) || count > (std::uint64_t(1) << 40) / (16 + 4ull * dims)
            || fileSize != header + 8 + count * 16 + count * dims * 4)
            return reject("truncated or damaged");
        cache.m_hashes.resize(count);
        cache.m_data.resize(count * dims);
        if (!in.read(reinterpret_cast<char*>(cache.m_hashes.data()), std::streamsize(count * 16))
            || !in.read(reinterpret_cast<char*>(cache.m_data.data()), std::streamsize(count * dims * 4)))
            return reject("read error");
    } else {
        cache.m_fileBytes = readSegments(in, header, fileSize, dims, cache.m_hashes, cache.m_data);
        if (cache.m_fileBytes < fileSize)
            cache.m_warning = cache.m_file + ": the last " + std::to_string(fileSize - cache.m_fileBytes)
                              + " bytes are an unfinished or damaged save and were dropped; "
                              + std::to_string(cache.m_hashes.size())
                              + " embeddings before them were kept, the images after them will be encoded again";
    }
    cache.m_saved = cache.m_hashes.size();
    cache.m_fileInode = inodeOf(cache.m_file);
    cache.m_rows.reserve(cache.m_hashes.size());
    for (std::size_t i = 0; i < cache.m_hashes.size(); ++i)
        cache.m_rows.emplace(cache.m_hashes[i], i); // a hash in two segments (two writers): the first row
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
    }
    return {};
}

Expected<void> EmbeddingCache::save()
{
    if (m_saved == m_hashes.size())
        return {};
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(m_file).parent_path(), ec);
    if (ec)
        return fail(std::filesystem::path(m_file).parent_path().string() + ": cannot create the cache folder ("
                    + ec.message() + ")");
    return m_fileBytes > 0 ? append() : rewrite();
}

Expected<void> EmbeddingCache::rewrite()
{
    AtomicFileWriter w(m_file);
    const auto idLength = std::uint32_t(m_encoderId.size());
    const auto dims = std::uint32_t(m_dims);
    const auto count = std::uint64_t(m_hashes.size());
    const ContentHash check[2] = {hashOf(m_hashes.data(), m_hashes.size() * 16), hashOf(m_data.data(), m_data.size() * 4)};
    for (auto [p, n] : {std::pair<const void*, std::size_t>{kMagic, 8}, {&idLength, 4}, {m_encoderId.data(), idLength},
                        {&dims, 4}, {&count, 8}, {m_hashes.data(), m_hashes.size() * 16},
                        {m_data.data(), m_data.size() * 4}, {check, kCheckBytes}}) {
        if (auto r = w.write(p, n); !r)
            return r;
    }
    if (auto r = w.commit(); !r)
        return r;
    m_saved = m_hashes.size();
    m_fileBytes = 8 + 4 + idLength + 4 + segmentBytes(count, dims);
    m_fileInode = inodeOf(m_file);
    return {};
}

Expected<void> EmbeddingCache::append()
{
    const int fd = ::open(m_file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) { // deleted since it was loaded (the cache is disposable): start it again
            m_fileBytes = 0;
            m_saved = 0;
            return rewrite();
        }
        return fail(m_file + ": cannot open the embedding cache to add to it (" + systemError(errno) + ")");
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    // Two sessions of one project (the second read-only) may both encode and save: appends take
    // turns, and each appends after whatever intact segments the other added.
    if (::flock(fd, LOCK_EX) != 0)
        return fail(m_file + ": cannot lock the embedding cache (" + systemError(errno) + ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        return fail(m_file + ": cannot read its size (" + systemError(errno) + ")");
    std::uint64_t end = m_fileBytes;
    const auto size = std::uint64_t(st.st_size);
    if (size < end || std::uint64_t(st.st_ino) != m_fileInode) { // replaced since it was loaded: write a whole one
        m_fileBytes = 0;
        m_saved = 0;
        return rewrite();
    }
    if (size > end) { // another session's segments, or an unfinished save to cut off
        std::ifstream in(m_file, std::ios::binary);
        in.seekg(std::streamoff(end));
        std::vector<ContentHash> theirHashes;
        std::vector<float> theirRows;
        end = readSegments(in, end, size, std::uint32_t(m_dims), theirHashes, theirRows);
        if (end < size && ::ftruncate(fd, off_t(end)) != 0)
            return fail(m_file + ": cannot cut off an unfinished save (" + systemError(errno) + ")");
    }
    const std::uint64_t count = m_hashes.size() - m_saved;
    const std::size_t dims = std::size_t(m_dims);
    const ContentHash check[2] = {hashOf(m_hashes.data() + m_saved, count * 16),
                                  hashOf(m_data.data() + m_saved * dims, count * dims * 4)};
    std::uint64_t at = end;
    for (auto [p, n] : {std::pair<const void*, std::size_t>{&count, 8}, {m_hashes.data() + m_saved, count * 16},
                        {m_data.data() + m_saved * dims, count * dims * 4}, {check, kCheckBytes}}) {
        for (std::size_t written = 0; written < n;) {
            const ssize_t k = ::pwrite(fd, static_cast<const char*>(p) + written, n - written, off_t(at));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                const int err = k < 0 ? errno : ENOSPC;
                (void)!::ftruncate(fd, off_t(end)); // leave the file as it was; failing that, load drops the tail
                return fail(m_file + ": cannot add to the embedding cache (" + systemError(err)
                            + "); the embeddings will be encoded again next time");
            }
            written += std::size_t(k);
            at += std::uint64_t(k);
        }
    }
    if (::fdatasync(fd) != 0)
        return fail(m_file + ": cannot flush the embedding cache to disk (" + systemError(errno) + ")");
    m_fileBytes = at;
    m_saved = m_hashes.size();
    return {};
}

} // namespace labelprop
