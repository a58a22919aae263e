#include "core/models/WeightsFile.h"

#include "core/models/ModelError.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>

namespace labelprop::models {

namespace {

bool startsWith(std::string_view s, std::string_view prefix)
{
    return s.substr(0, prefix.size()) == prefix;
}

// The legacy torch.save format starts with a protocol-2 pickle of its magic number
// 0x1950a86a20f9469cfc6c (LONG1, 10 bytes little-endian).
constexpr std::string_view kLegacyTorchMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14);

bool looksLikeText(std::string_view head)
{
    for (const char ch : head) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            return false;
    }
    return true;
}

std::string quotedStart(std::string_view head)
{
    std::string s;
    for (const char c : head.substr(0, 40))
        s += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    while (!s.empty() && s.back() == ' ')
        s.pop_back();
    return "\"" + s + (head.size() > 40 ? "...\"" : "\"");
}

std::string hexStart(std::string_view head)
{
    std::string s;
    char buf[4];
    for (const char c : head.substr(0, 8)) {
        std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(c));
        s += (s.empty() ? "" : " ") + std::string(buf);
    }
    return s;
}

bool containsNoCase(std::string_view s, std::string_view word)
{
    for (std::size_t i = 0; i + word.size() <= s.size(); ++i) {
        std::size_t k = 0;
        while (k < word.size() && std::tolower(static_cast<unsigned char>(s[i + k])) == word[k])
            ++k;
        if (k == word.size())
            return true;
    }
    return false;
}

// What a file that is neither format looks like, with what to do.
std::string describeOther(std::string_view head)
{
    if (startsWith(head, kLegacyTorchMagic))
        return "a PyTorch checkpoint in the legacy format (torch.save before PyTorch 1.6, or with "
               "_use_new_zipfile_serialization=False), which Labelprop does not read; re-save it with "
               "PyTorch >= 1.6: torch.save(torch.load(file), new_file)";
    if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80)
        return "a Python pickle that torch.save did not write (torch.save writes a zip archive); save the "
               "weights with torch.save(model.state_dict(), file)";
    if (startsWith(head, "\x93NUMPY"))
        return "a NumPy .npy array, not a weights file; save the model with torch.save(model.state_dict(), file)";
    if (startsWith(head, "\x89HDF\r\n\x1a\n"))
        return "an HDF5 file (Keras or TensorFlow weights), which Labelprop does not read; export PyTorch "
               "weights (safetensors or torch.save)";
    if (startsWith(head, "\x1f\x8b"))
        return "gzip-compressed; decompress it first (gunzip)";
    if (startsWith(head, "PK\x05\x06"))
        return "an empty zip archive, not a PyTorch checkpoint; download or export the weights again";
    if (looksLikeText(head)) {
        if (startsWith(head, "version https://git-lfs"))
            return "a Git LFS pointer, not the weights themselves; run git lfs pull in its repository, or "
                   "download the file itself";
        if (containsNoCase(head.substr(0, 512), "<html") || containsNoCase(head.substr(0, 512), "<!doctype html"))
            return "an HTML page, not a weights file (on Hugging Face, download with the \"resolve\" link, not "
                   "\"blob\")";
        return "a text file (it starts " + quotedStart(head) + "), not a weights file";
    }
    return "neither a safetensors file (an 8-byte length, then '{') nor a PyTorch checkpoint (a zip archive, "
           "\"PK\\3\\4\"): it starts with the bytes " + hexStart(head) + "; pass a .safetensors or a torch.save file";
}

} // namespace

namespace detail {

std::uint64_t weightsFileSize(const std::string& path)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st))
        throw ModelError(path + ": no such file; check the weights path");
    if (fs::is_directory(st))
        throw ModelError(path + ": a folder, not a weights file; pass the .safetensors or .pt file inside it");
    if (!fs::is_regular_file(st))
        throw ModelError(path + ": not a regular file (a FIFO, socket or device); pass a weights file");
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec)
        throw ModelError(path + ": cannot read its size (" + ec.message() + ")");
    return size;
}

} // namespace detail

StateDict readWeights(const std::string& path)
{
    const std::uint64_t size = detail::weightsFileSize(path);
    if (size == 0)
        throw ModelError(path + ": the file is empty (0 bytes); download or export the weights again");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw ModelError(path + ": cannot open it for reading; check its permissions");
    std::string head(std::size_t(std::min<std::uint64_t>(size, 512)), '\0');
    in.read(head.data(), std::streamsize(head.size()));
    head.resize(std::size_t(in.gcount()));
    in.close();

    if (startsWith(head, "PK\x03\x04"))
        return readTorchCheckpoint(path);
    if (head.size() > 8 && head[8] == '{')
        return readSafetensors(path);
    throw ModelError(path + ": " + describeOther(head));
}

} // namespace labelprop::models
