#pragma once
// The part of Python's pickle format that torch.save writes into a checkpoint's data.pkl, read
// without LibTorch and without running anything (so the fuzz build can link it alone).
//
// Why our own: LibTorch 1.13's torch::pickle_load turns collections.OrderedDict, the type of every
// model.state_dict(), into None. This reader builds plain values instead:
//   - the opcodes protocols 2 to 5 use for dicts, lists, tuples, strings, numbers and globals
//     (protocol 2 is what torch.save writes by default; another when asked); the text opcodes of
//     protocols 0/1 and protocol 5's out-of-band buffers are refused with the opcode and byte;
//   - collections.OrderedDict becomes a dict; torch._utils._rebuild_tensor_v2 (and v1,
//     _rebuild_parameter[_with_state], torch._tensor._rebuild_from_type_v2) a tensor reference
//     into the archive's storage records (persistent ids ('storage', torch.FloatStorage, key,
//     location, numel));
//   - any other global (e.g. argparse.Namespace in a checkpoint's "args") is called by nobody: the
//     call gives an opaque object that records its class, so the rest of the file still reads;
//   - torch.storage._load_from_bytes (a storage pickled inside the pickle) is refused.
//
// Thread-safety: reentrant; a parsed PickleDocument is immutable and may be read from any thread.

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labelprop::models {

// A tensor as a checkpoint describes it: a strided view of the storage record data/<storageKey>.
// Counts and offsets are in elements of the storage's type.
struct PickledTensor {
    std::string storageType;          // the persistent id's class, e.g. "torch.FloatStorage"
    std::string storageKey;           // its record in the archive is <prefix>/data/<storageKey>
    std::string location;             // where it was saved from ("cpu", "cuda:0"); it is read to the CPU
    std::int64_t storageNumel = 0;    // elements in the whole storage
    std::int64_t offset = 0;          // first element of the view
    std::vector<std::int64_t> sizes;  // the view's shape
    std::vector<std::int64_t> strides;
};

struct PickleValue {
    enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, Tuple, List, Set, Dict, Global, Object, Storage, Tensor };
    Kind kind = Kind::None;
    bool boolean = false;
    std::int64_t integer = 0;      // Int
    double real = 0;               // Float
    std::string text;              // String, Bytes: the value; Global: "module.name"; Object: its class
    std::vector<const PickleValue*> items;                                   // Tuple, List, Set; Object: appended items
    std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;  // Dict; Object: set items (a dict subclass)
    PickledTensor tensor;          // Storage (the storage fields) and Tensor
    std::size_t offset = 0;        // byte of data.pkl where the value was made
};

class PickleDocument {
public:
    // Parses a whole pickle. `where` names it in errors, e.g. "/w/vit.pth (data.pkl)". Throws
    // ModelError naming `where`, the byte offset and the opcode at fault.
    [[nodiscard]] static PickleDocument parse(std::string_view bytes, const std::string& where);

    [[nodiscard]] const PickleValue& root() const { return *m_root; }

private:
    std::deque<PickleValue> m_values;  // owns every value; the pointers between them stay valid on a move
    const PickleValue* m_root = nullptr;
};

// "a tensor", "an int", "a dict of 3 entries", "an object of class argparse.Namespace", ...
[[nodiscard]] std::string describePickleValue(const PickleValue& v);

// The state dict a checkpoint holds, names flattened ("backbone" -> {"fc.weight"} gives
// "backbone.fc.weight") and one leading "module." (DataParallel) stripped, in file order.
struct PickledStateDict {
    std::string under;  // "" when the top level is the state dict, else the keys that lead to it, e.g. "model"
    std::vector<std::pair<std::string, const PickledTensor*>> tensors;  // pointers into the document
};

// Where findStateDict looks, in this order, after the top level itself: the keys used by
// timm/torchvision training scripts ("state_dict"), the PyTorch tutorial ("model_state_dict"),
// DeiT/MAE/BEiT ("model", then their EMA copy "model_ema"), DataParallel wrappers saved as a dict
// ("module") and DINO ("teacher", the copy its authors evaluate; "student" is not looked at).
inline constexpr const char* kStateDictKeys[] = {"state_dict", "model_state_dict", "model", "model_ema", "module",
                                                 "teacher"};

// A state dict is a dict (or dict subclass) with string keys whose values are tensors or, nested,
// such dicts. Looks for a flat one at `root`, then under each of kStateDictKeys (and again one
// level further down), then takes `root` as a nested one, so {"model": sd} gives sd's names, not
// "model.<name>", while {"backbone": {...}, "head": {...}} gives "backbone.<name>", "head.<name>". Throws ModelError naming `path`, listing the top-level keys and their kinds, when there
// is none, and when stripping "module." makes two names equal.
[[nodiscard]] PickledStateDict findStateDict(const PickleValue& root, const std::string& path);

} // namespace labelprop::models
