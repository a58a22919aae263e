// readTorchCheckpoint (declared in WeightsFile.h). A torch.save file is a zip archive:
//   <prefix>/data.pkl      the pickled object (TorchPickle.h reads it)
//   <prefix>/data/<key>    one raw little-endian storage per key, numel x element size bytes
//   <prefix>/version       the archive format; newer PyTorch also writes byteorder
// PyTorchStreamReader (LibTorch's own zip reader) lists and reads the records; the tensors are
// rebuilt from the storages with each one's offset, sizes and strides.

#include "core/models/ModelError.h"
#include "core/models/TorchPickle.h"
#include "core/models/WeightsFile.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <memory>
#include <unordered_map>

namespace labelprop::models {

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "readTorchCheckpoint uses the archive's little-endian storages as they are"
#endif

namespace {

constexpr const char* kRedownload = "the file is damaged: download or export it again";

// c10::Error's message on one line, without LibTorch's backtrace and "[enforce fail at file:line] . ".
std::string libtorchMessage(const c10::Error& e)
{
    std::string s = e.what_without_backtrace();
    s = s.substr(0, s.find('\n'));
    if (s.compare(0, 14, "[enforce fail ") == 0 && s.find("] ") != std::string::npos)
        s.erase(0, s.find("] ") + 2);
    if (s.compare(0, 2, ". ") == 0)
        s.erase(0, 2);
    return s;
}

// torch.save names a storage by its legacy typed class (torch.cuda.* for CUDA tensors before 1.13).
bool storageDtype(std::string type, at::ScalarType& out)
{
    static const std::unordered_map<std::string, at::ScalarType> kTypes = {
        {"FloatStorage", at::kFloat},          {"DoubleStorage", at::kDouble},
        {"HalfStorage", at::kHalf},            {"BFloat16Storage", at::kBFloat16},
        {"LongStorage", at::kLong},            {"IntStorage", at::kInt},
        {"ShortStorage", at::kShort},          {"CharStorage", at::kChar},
        {"ByteStorage", at::kByte},            {"BoolStorage", at::kBool},
        {"ComplexFloatStorage", at::kComplexFloat}, {"ComplexDoubleStorage", at::kComplexDouble},
    };
    for (const char* prefix : {"torch.cuda.", "torch."})
        if (type.compare(0, std::strlen(prefix), prefix) == 0) {
            const auto it = kTypes.find(type.substr(std::strlen(prefix)));
            if (it == kTypes.end())
                return false;
            out = it->second;
            return true;
        }
    return false;
}

std::string shapeText(const std::vector<std::int64_t>& v)
{
    std::string s = "[";
    for (std::size_t k = 0; k < v.size(); ++k)
        s += (k ? ", " : "") + std::to_string(v[k]);
    return s + "]";
}

// Rebuilds the named tensors of a checkpoint from its storage records. A storage is read once,
// however many tensors view it, and freed after its last one.
class StorageLoader {
public:
    StorageLoader(caffe2::serialize::PyTorchStreamReader& reader, const std::string& path,
                  const std::vector<std::pair<std::string, const PickledTensor*>>& tensors)
        : m_reader(reader), m_path(path)
    {
        for (const auto& t : tensors)
            ++m_uses[t.second->storageKey];
    }

    torch::Tensor load(const std::string& name, const PickledTensor& p)
    {
        const std::string where = m_path + ": tensor \"" + name + "\"";
        at::ScalarType dtype{};
        if (!storageDtype(p.storageType, dtype))
            throw ModelError(where + " is stored as " + p.storageType +
                             ", which Labelprop does not read (quantized or unknown); save float weights");
        const std::size_t elementBytes = c10::elementSize(dtype);

        // The view must lie inside the storage: offset + sum((size_i - 1) x stride_i) < numel.
        std::int64_t last = p.offset, numel = 1;
        bool overflow = p.offset < 0;
        for (std::size_t k = 0; k < p.sizes.size(); ++k) {
            if (p.sizes[k] < 0 || p.strides[k] < 0)
                throw ModelError(where + ": negative size or stride (sizes " + shapeText(p.sizes) + ", strides " +
                                 shapeText(p.strides) + "); " + kRedownload);
            std::int64_t reach = 0;
            overflow |= __builtin_mul_overflow(p.sizes[k], numel, &numel);
            if (p.sizes[k] > 0)
                overflow |= __builtin_mul_overflow(p.sizes[k] - 1, p.strides[k], &reach) ||
                            __builtin_add_overflow(last, reach, &last);
        }
        if (overflow || (numel > 0 && last >= p.storageNumel))
            throw ModelError(where + ": sizes " + shapeText(p.sizes) + ", strides " + shapeText(p.strides) +
                             " from offset " + std::to_string(p.offset) + " reach past its storage data/" +
                             p.storageKey + " of " + std::to_string(p.storageNumel) + " elements; " + kRedownload);

        const c10::Storage& storage = storageFor(where, p, dtype, elementBytes);
        torch::Tensor view = torch::empty({0}, torch::TensorOptions().dtype(dtype)).set_(storage, p.offset, p.sizes, p.strides);
        const bool whole = p.offset == 0 && numel == p.storageNumel && view.is_contiguous();
        // A tensor that is its storage alone is used as it is; a view (a slice, a transpose, one of
        // several tensors sharing a storage) is copied out so it owns exactly its own elements.
        torch::Tensor out = (whole && m_uses[p.storageKey] == 1) ? view : view.clone(at::MemoryFormat::Contiguous);
        if (--m_uses[p.storageKey] == 0)
            m_storages.erase(p.storageKey);
        return out;
    }

private:
    struct Loaded {
        c10::Storage storage;
        at::ScalarType dtype;
        std::int64_t numel;
    };

    const c10::Storage& storageFor(const std::string& where, const PickledTensor& p, at::ScalarType dtype,
                                   std::size_t elementBytes)
    {
        const auto it = m_storages.find(p.storageKey);
        if (it != m_storages.end()) {
            if (it->second.dtype != dtype || it->second.numel != p.storageNumel)
                throw ModelError(where + " views storage data/" + p.storageKey + " as " + p.storageType + " of " +
                                 std::to_string(p.storageNumel) + " elements, but another tensor views it with " +
                                 "another type or size; " + kRedownload);
            return it->second.storage;
        }
        const std::string record = "data/" + p.storageKey;
        if (!m_reader.hasRecord(record))
            throw ModelError(where + ": its storage " + record + " is missing from the archive; " + kRedownload);
        at::DataPtr data;
        std::size_t bytes = 0;
        try {
            std::tie(data, bytes) = m_reader.getRecord(record);
        } catch (const c10::Error& e) {
            throw ModelError(where + ": cannot read its storage " + record + " (" + libtorchMessage(e) + "); " +
                             kRedownload);
        }
        std::uint64_t expected = 0;
        if (__builtin_mul_overflow(std::uint64_t(p.storageNumel), std::uint64_t(elementBytes), &expected) ||
            expected != bytes)
            throw ModelError(where + ": its storage " + record + " holds " + std::to_string(bytes) +
                             " bytes, but the checkpoint says " + std::to_string(p.storageNumel) + " elements of " +
                             p.storageType + " (" + std::to_string(p.storageNumel) + " x " +
                             std::to_string(elementBytes) + " bytes); " + kRedownload);
        c10::Storage storage(c10::Storage::use_byte_size_t(), std::int64_t(bytes), std::move(data), nullptr, false);
        return m_storages.emplace(p.storageKey, Loaded{std::move(storage), dtype, p.storageNumel}).first->second.storage;
    }

    caffe2::serialize::PyTorchStreamReader& m_reader;
    const std::string& m_path;
    std::unordered_map<std::string, std::size_t> m_uses;  // tensors still to load, per storage key
    std::unordered_map<std::string, Loaded> m_storages;
};

} // namespace

StateDict readTorchCheckpoint(const std::string& path)
{
    (void)detail::weightsFileSize(path);  // refuses a folder or a FIFO before the zip reader opens it
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
    try {
        reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    } catch (const c10::Error& e) {
        throw ModelError(path + ": a zip archive that LibTorch cannot open as a PyTorch checkpoint (" +
                         libtorchMessage(e) + "); if it is one, it is truncated or damaged: download or export it "
                         "again");
    }
    try {
        if (reader->hasRecord("constants.pkl"))
            throw ModelError(path + ": a TorchScript module (torch.jit.save), not a state dict; use it as a "
                                    "TorchScript encoder (torchscript:" + path + "), or save its state_dict() with torch.save");
        if (!reader->hasRecord("data.pkl")) {
            std::string records;
            const std::vector<std::string> all = reader->getAllRecords();
            for (std::size_t k = 0; k < all.size() && k < 5; ++k)
                records += (k ? ", " : "") + all[k];
            throw ModelError(path + ": a zip archive without data.pkl, so not a torch.save checkpoint (it holds " +
                             std::to_string(all.size()) + " records" + (records.empty() ? "" : ": " + records) +
                             (all.size() > 5 ? ", ..." : "") + "); pass a .pt/.pth file written by torch.save");
        }
        if (reader->hasRecord("byteorder")) {
            const auto [data, size] = reader->getRecord("byteorder");
            const std::string order(static_cast<const char*>(data.get()), size);
            if (order != "little")
                throw ModelError(path + ": its tensors are stored " + order +
                                 "-endian; re-save it on a little-endian machine (x86, ARM)");
        }
        const auto [pickle, pickleBytes] = reader->getRecord("data.pkl");
        const PickleDocument doc = PickleDocument::parse(
            std::string_view(static_cast<const char*>(pickle.get()), pickleBytes), path + " (data.pkl)");
        const PickledStateDict found = findStateDict(doc.root(), path);

        StorageLoader loader(*reader, path, found.tensors);
        StateDict out;
        out.reserve(found.tensors.size());
        for (const auto& [name, tensor] : found.tensors)
            out.push_back({name, loader.load(name, *tensor)});
        return out;
    } catch (const c10::Error& e) {
        throw ModelError(path + ": cannot read the archive (" + libtorchMessage(e) + "); " + kRedownload);
    }
}

} // namespace labelprop::models
