// readSafetensors (declared in WeightsFile.h): the checked header (SafetensorsHeader.h), then
// each tensor's bytes read straight into a tensor of the file's dtype.

#include "core/models/ModelError.h"
#include "core/models/SafetensorsHeader.h"
#include "core/models/WeightsFile.h"

#include <fstream>

namespace labelprop::models {

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "readSafetensors copies the file's little-endian data into tensors as it is"
#endif

namespace {

torch::Dtype torchDtype(SafetensorsDtype d)
{
    switch (d) {
    case SafetensorsDtype::Bool: return torch::kBool;
    case SafetensorsDtype::U8: return torch::kUInt8;
    case SafetensorsDtype::I8: return torch::kInt8;
    case SafetensorsDtype::I16: return torch::kInt16;
    case SafetensorsDtype::I32: return torch::kInt32;
    case SafetensorsDtype::I64: return torch::kInt64;
    case SafetensorsDtype::F16: return torch::kFloat16;
    case SafetensorsDtype::BF16: return torch::kBFloat16;
    case SafetensorsDtype::F32: return torch::kFloat32;
    case SafetensorsDtype::F64: return torch::kFloat64;
    }
    return torch::kFloat32;
}

} // namespace

StateDict readSafetensors(const std::string& path)
{
    const std::uint64_t fileSize = detail::weightsFileSize(path);
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw ModelError(path + ": cannot open it for reading; check its permissions");
    const auto readExactly = [&](char* dst, std::uint64_t n, const std::string& what) {
        in.read(dst, std::streamsize(n));
        if (std::uint64_t(in.gcount()) != n)
            throw ModelError(path + ": the file ended while reading " + what +
                             " (it is shorter than its size said: is it still being written?)");
    };

    std::string first8(std::size_t(std::min<std::uint64_t>(fileSize, 8)), '\0');
    readExactly(first8.data(), first8.size(), "the header length");
    const std::uint64_t headerBytes = safetensorsHeaderLength(first8, fileSize, path);
    std::string json(std::size_t(headerBytes), '\0');
    readExactly(json.data(), headerBytes, "the header");
    const SafetensorsHeader header = parseSafetensorsHeader(json, fileSize, path);

    // The tensors tile the data in order, so this is one sequential pass over the file.
    StateDict out;
    out.reserve(header.tensors.size());
    for (const SafetensorsEntry& e : header.tensors) {
        torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(torchDtype(e.dtype)));
        if (e.end > e.begin)
            readExactly(static_cast<char*>(t.data_ptr()), e.end - e.begin, "tensor \"" + e.name + "\"");
        out.push_back({e.name, std::move(t)});
    }
    return out;
}

} // namespace labelprop::models
