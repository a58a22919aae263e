#include "core/models/TorchPickle.h"

#include "core/models/ModelError.h"

#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace labelprop::models {

namespace {

using Kind = PickleValue::Kind;

// Opcodes by their byte (Python's Lib/pickletools.py has the reference list).
enum Op : unsigned char {
    MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', BINFLOAT = 'G', BININT = 'J', BININT1 = 'K',
    BININT2 = 'M', NONE = 'N', BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T', SHORT_BINSTRING = 'U',
    BINUNICODE = 'X', BINBYTES = 'B', SHORT_BINBYTES = 'C', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd',
    EMPTY_DICT = '}', APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']',
    BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u',
    PROTO = 0x80, NEWOBJ = 0x81, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89,
    LONG1 = 0x8a, LONG4 = 0x8b, SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f,
    ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
};

// Opcodes that are valid pickle but not what torch.save writes; named in the error.
const char* refusedOpcodeName(unsigned char op)
{
    switch (op) {
    case 'I': return "INT (protocol 0)";
    case 'L': return "LONG (protocol 0)";
    case 'S': return "STRING (protocol 0)";
    case 'V': return "UNICODE (protocol 0)";
    case 'F': return "FLOAT (protocol 0)";
    case 'P': return "PERSID (protocol 0)";
    case 'g': return "GET (protocol 0)";
    case 'p': return "PUT (protocol 0)";
    case 'i': return "INST (protocol 0)";
    case 'o': return "OBJ (protocol 1)";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x96: return "BYTEARRAY8 (protocol 5)";
    case 0x97: return "NEXT_BUFFER (protocol 5)";
    case 0x98: return "READONLY_BUFFER (protocol 5)";
    default: return nullptr;
    }
}

class Unpickler {
public:
    Unpickler(std::string_view bytes, const std::string& where, std::deque<PickleValue>& arena)
        : m_data(bytes), m_where(where), m_arena(arena)
    {
    }

    const PickleValue* run()
    {
        for (;;) {
            m_opAt = m_pos;
            const unsigned char op = u8();
            switch (op) {
            case PROTO: {
                const unsigned version = u8();
                if (version < 2 || version > 5)
                    fail("pickle protocol " + std::to_string(version) + "; torch.save writes protocols 2 to 5");
                break;
            }
            case FRAME: take(8); break;  // a hint for buffered readers; the frame's bytes follow inline
            case STOP: {
                const PickleValue* result = pop();
                return result;
            }
            case MARK: m_marks.push_back(m_stack.size()); break;
            case POP:
                if (m_stack.size() > markBase())
                    m_stack.pop_back();
                else
                    popMark();
                break;
            case POP_MARK: popMark(); break;
            case DUP: push(top()); break;
            case NONE: push(make(Kind::None)); break;
            case NEWTRUE:
            case NEWFALSE: {
                PickleValue* v = make(Kind::Bool);
                v->boolean = op == NEWTRUE;
                push(v);
                break;
            }
            case BININT: pushInt(std::int32_t(le(4))); break;
            case BININT1: pushInt(le(1)); break;
            case BININT2: pushInt(le(2)); break;
            case LONG1: pushLong(le(1)); break;
            case LONG4: pushLong(signedLength()); break;
            case BINFLOAT: {
                std::uint64_t bits = 0;
                for (const char c : take(8))  // big-endian
                    bits = (bits << 8) | static_cast<unsigned char>(c);
                PickleValue* v = make(Kind::Float);
                std::memcpy(&v->real, &bits, sizeof bits);
                push(v);
                break;
            }
            case SHORT_BINUNICODE: pushText(Kind::String, le(1)); break;
            case BINUNICODE: pushText(Kind::String, le(4)); break;
            case BINUNICODE8: pushText(Kind::String, le(8)); break;
            case SHORT_BINSTRING: pushText(Kind::String, le(1)); break;
            case BINSTRING: pushText(Kind::String, signedLength()); break;
            case SHORT_BINBYTES: pushText(Kind::Bytes, le(1)); break;
            case BINBYTES: pushText(Kind::Bytes, le(4)); break;
            case BINBYTES8: pushText(Kind::Bytes, le(8)); break;
            case EMPTY_TUPLE: push(make(Kind::Tuple)); break;
            case TUPLE1:
            case TUPLE2:
            case TUPLE3: {
                const std::size_t n = std::size_t(op - TUPLE1 + 1);
                if (m_stack.size() < markBase() + n)
                    fail("TUPLE" + std::to_string(n) + " needs " + std::to_string(n) + " values on the stack");
                PickleValue* v = make(Kind::Tuple);
                v->items.assign(m_stack.end() - std::ptrdiff_t(n), m_stack.end());
                m_stack.resize(m_stack.size() - n);
                push(v);
                break;
            }
            case TUPLE: pushSequence(Kind::Tuple); break;
            case EMPTY_LIST: push(make(Kind::List)); break;
            case LIST: pushSequence(Kind::List); break;
            case EMPTY_SET: push(make(Kind::Set)); break;
            case FROZENSET: pushSequence(Kind::Set); break;
            case EMPTY_DICT: push(make(Kind::Dict)); break;
            case DICT: {
                PickleValue* v = make(Kind::Dict);
                const std::vector<const PickleValue*> kv = popMark();
                if (kv.size() % 2 != 0)
                    fail("DICT with an odd number of keys and values");
                for (std::size_t k = 0; k < kv.size(); k += 2)
                    v->entries.emplace_back(kv[k], kv[k + 1]);
                push(v);
                break;
            }
            case APPEND: {
                const PickleValue* item = pop();
                appendTo(top(), {item});
                break;
            }
            case APPENDS:
            case ADDITEMS: {
                const std::vector<const PickleValue*> items = popMark();
                appendTo(top(), items);
                break;
            }
            case SETITEM: {
                const PickleValue* value = pop();
                const PickleValue* key = pop();
                setItems(top(), {key, value});
                break;
            }
            case SETITEMS: {
                const std::vector<const PickleValue*> kv = popMark();
                if (kv.size() % 2 != 0)
                    fail("SETITEMS with an odd number of keys and values");
                setItems(top(), kv);
                break;
            }
            case GLOBAL: {
                const std::string module = line();
                const std::string name = line();
                pushGlobal(module, name);
                break;
            }
            case STACK_GLOBAL: {
                const PickleValue* name = pop();
                const PickleValue* module = pop();
                if (module->kind != Kind::String || name->kind != Kind::String)
                    fail("STACK_GLOBAL needs a module and a name string");
                pushGlobal(module->text, name->text);
                break;
            }
            case REDUCE: {
                const PickleValue* args = pop();
                const PickleValue* callable = pop();
                push(call(*callable, *args));
                break;
            }
            case NEWOBJ: {
                const PickleValue* args = pop();
                const PickleValue* cls = pop();
                push(newObject(*cls, *args));
                break;
            }
            case NEWOBJ_EX: {
                pop();  // keyword arguments
                const PickleValue* args = pop();
                const PickleValue* cls = pop();
                push(newObject(*cls, *args));
                break;
            }
            case BUILD:
                // __setstate__: an OrderedDict's _metadata, an object's attributes. Nothing we read.
                pop();
                top();
                break;
            case BINPERSID: push(storage(*pop())); break;
            case BINPUT: memoize(le(1)); break;
            case LONG_BINPUT: memoize(le(4)); break;
            case MEMOIZE: memoize(m_memo.size()); break;
            case BINGET: push(memoized(le(1))); break;
            case LONG_BINGET: push(memoized(le(4))); break;
            default: {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", op);
                const char* name = refusedOpcodeName(op);
                fail(std::string("opcode ") + hex + (name ? std::string(" (") + name + ")" : std::string(", unknown,")) +
                     " is not one torch.save writes");
            }
            }
        }
    }

private:
    [[noreturn]] void fail(const std::string& what) const
    {
        throw ModelError(m_where + " byte " + std::to_string(m_opAt) + ": " + what +
                         "; the file is damaged or was not written by torch.save: download or export it again");
    }

    PickleValue* make(Kind kind)
    {
        m_arena.emplace_back();
        PickleValue* v = &m_arena.back();
        v->kind = kind;
        v->offset = m_opAt;
        return v;
    }

    std::string_view take(std::uint64_t n)
    {
        if (n > m_data.size() - m_pos)
            fail("an opcode needs " + std::to_string(n) + " more bytes, the pickle has " +
                 std::to_string(m_data.size() - m_pos) + " (it is truncated)");
        const std::string_view s = m_data.substr(m_pos, std::size_t(n));
        m_pos += std::size_t(n);
        return s;
    }

    unsigned u8()
    {
        if (m_pos >= m_data.size())
            fail("the pickle ends without a STOP opcode (it is truncated)");
        return static_cast<unsigned char>(m_data[m_pos++]);
    }

    // An unsigned little-endian integer of `n` bytes (n <= 8).
    std::uint64_t le(int n)
    {
        std::uint64_t v = 0;
        const std::string_view b = take(std::uint64_t(n));
        for (int k = n - 1; k >= 0; --k)
            v = (v << 8) | static_cast<unsigned char>(b[std::size_t(k)]);
        return v;
    }

    std::uint64_t signedLength()
    {
        const std::int32_t n = std::int32_t(le(4));
        if (n < 0)
            fail("a negative length " + std::to_string(n));
        return std::uint64_t(n);
    }

    std::string line()
    {
        const std::size_t end = m_data.find('\n', m_pos);
        if (end == std::string_view::npos)
            fail("GLOBAL's name is not ended by a newline (the pickle is truncated)");
        std::string s(m_data.substr(m_pos, end - m_pos));
        m_pos = end + 1;
        return s;
    }

    std::size_t markBase() const { return m_marks.empty() ? 0 : m_marks.back(); }

    void push(const PickleValue* v) { m_stack.push_back(v); }

    const PickleValue* pop()
    {
        if (m_stack.size() <= markBase())
            fail("an opcode needs a value, but the stack" + std::string(m_marks.empty() ? "" : " above the last MARK") +
                 " is empty");
        const PickleValue* v = m_stack.back();
        m_stack.pop_back();
        return v;
    }

    const PickleValue* top()
    {
        if (m_stack.size() <= markBase())
            fail("an opcode needs a value, but the stack" + std::string(m_marks.empty() ? "" : " above the last MARK") +
                 " is empty");
        return m_stack.back();
    }

    std::vector<const PickleValue*> popMark()
    {
        if (m_marks.empty())
            fail("an opcode needs a MARK, but there is none");
        const std::size_t base = m_marks.back();
        m_marks.pop_back();
        std::vector<const PickleValue*> items(m_stack.begin() + std::ptrdiff_t(base), m_stack.end());
        m_stack.resize(base);
        return items;
    }

    void pushInt(std::int64_t x)
    {
        PickleValue* v = make(Kind::Int);
        v->integer = x;
        push(v);
    }

    // LONG1/LONG4: `n` bytes of little-endian two's complement. Up to 8 bytes fit an int64; longer
    // ones (never a size or an offset) are kept as an opaque big integer.
    void pushLong(std::uint64_t n)
    {
        const std::string_view b = take(n);
        if (n > 8) {
            push(make(Kind::BigInt));
            return;
        }
        std::uint64_t x = 0;
        for (std::size_t k = n; k-- > 0;)
            x = (x << 8) | static_cast<unsigned char>(b[k]);
        if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80))
            x |= ~std::uint64_t(0) << (8 * n);  // sign-extend
        pushInt(std::int64_t(x));
    }

    void pushText(Kind kind, std::uint64_t n)
    {
        const std::string_view s = take(n);
        PickleValue* v = make(kind);
        v->text.assign(s.data(), s.size());
        push(v);
    }

    void pushSequence(Kind kind)
    {
        PickleValue* v = make(kind);
        v->items = popMark();
        push(v);
    }

    void pushGlobal(const std::string& module, const std::string& name)
    {
        PickleValue* v = make(Kind::Global);
        v->text = module + "." + name;
        push(v);
    }

    // The memo is written by the values' makers only; APPEND and SETITEM change a value in place,
    // and every reference to it (a BINGET) sees the change, as in Python.
    void memoize(std::uint64_t id) { m_memo[id] = top(); }

    const PickleValue* memoized(std::uint64_t id)
    {
        const auto it = m_memo.find(id);
        if (it == m_memo.end())
            fail("BINGET of memo " + std::to_string(id) + ", which was never stored");
        return it->second;
    }

    PickleValue* mutableValue(const PickleValue* v) { return const_cast<PickleValue*>(v); }

    void appendTo(const PickleValue* target, const std::vector<const PickleValue*>& items)
    {
        if (target->kind != Kind::List && target->kind != Kind::Set && target->kind != Kind::Object)
            fail("APPEND to " + describePickleValue(*target) + ", not a list");
        auto& dst = mutableValue(target)->items;
        dst.insert(dst.end(), items.begin(), items.end());
    }

    void setItems(const PickleValue* target, const std::vector<const PickleValue*>& kv)
    {
        if (target->kind != Kind::Dict && target->kind != Kind::Object)
            fail("SETITEM on " + describePickleValue(*target) + ", not a dict");
        // Kept as written: pickle writes each key of a dict once, and findStateDict refuses a name
        // that comes twice (a crafted file), so no lookup per key is needed here.
        auto& dst = mutableValue(target)->entries;
        for (std::size_t k = 0; k < kv.size(); k += 2)
            dst.emplace_back(kv[k], kv[k + 1]);
    }

    static const PickleValue* arg(const PickleValue& args, std::size_t k) { return args.items[k]; }

    std::vector<std::int64_t> intTuple(const PickleValue& v, const char* what)
    {
        if (v.kind != Kind::Tuple)
            fail(std::string("a tensor's ") + what + " is " + describePickleValue(v) + ", not a tuple of ints");
        std::vector<std::int64_t> out;
        for (const PickleValue* x : v.items) {
            if (x->kind != Kind::Int)
                fail(std::string("a tensor's ") + what + " holds " + describePickleValue(*x) + ", not an int");
            out.push_back(x->integer);
        }
        return out;
    }

    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    // and _rebuild_tensor(storage, storage_offset, size, stride).
    const PickleValue* rebuildTensor(const PickleValue& args, const std::string& function, std::size_t minArgs)
    {
        if (args.kind != Kind::Tuple || args.items.size() < minArgs)
            fail(function + " needs " + std::to_string(minArgs) + " arguments, got " + describePickleValue(args));
        if (arg(args, 0)->kind != Kind::Storage)
            fail(function + "'s storage is " + describePickleValue(*arg(args, 0)) + ", not a storage");
        if (arg(args, 1)->kind != Kind::Int)
            fail(function + "'s storage offset is " + describePickleValue(*arg(args, 1)) + ", not an int");
        PickleValue* t = make(Kind::Tensor);
        t->tensor = arg(args, 0)->tensor;
        t->tensor.offset = arg(args, 1)->integer;
        t->tensor.sizes = intTuple(*arg(args, 2), "size");
        t->tensor.strides = intTuple(*arg(args, 3), "stride");
        if (t->tensor.sizes.size() != t->tensor.strides.size())
            fail(function + " with " + std::to_string(t->tensor.sizes.size()) + " sizes but " +
                 std::to_string(t->tensor.strides.size()) + " strides");
        return t;
    }

    const PickleValue* call(const PickleValue& callable, const PickleValue& args, int depth = 0)
    {
        if (depth > 4)
            fail("_rebuild_from_type_v2 nested more than 4 deep");
        if (callable.kind != Kind::Global && callable.kind != Kind::Object)
            fail("REDUCE calls " + describePickleValue(callable) + ", which is not callable");
        if (args.kind != Kind::Tuple)
            fail("REDUCE with arguments " + describePickleValue(args) + ", not a tuple");
        const std::string& f = callable.text;
        if (callable.kind == Kind::Global) {
            if (f == "collections.OrderedDict")
                return orderedDict(args);
            if (f == "torch._utils._rebuild_tensor_v2")
                return rebuildTensor(args, f, 6);
            if (f == "torch._utils._rebuild_tensor")
                return rebuildTensor(args, f, 4);
            if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
                if (args.items.empty() || arg(args, 0)->kind != Kind::Tensor)
                    fail(f + " needs a tensor, got " + describePickleValue(args));
                return arg(args, 0);
            }
            if (f == "torch._tensor._rebuild_from_type_v2") {
                // (func, type, args, state): a tensor whose subclass or attributes we drop.
                if (args.items.size() < 3)
                    fail(f + " needs (func, type, args, state), got " + describePickleValue(args));
                return call(*arg(args, 0), *arg(args, 2), depth + 1);
            }
            if (f == "torch.storage._load_from_bytes")
                throw ModelError(m_where + " byte " + std::to_string(m_opAt) +
                                 ": a storage pickled with torch.storage._load_from_bytes (the legacy format, "
                                 "inside the checkpoint), which Labelprop does not read; load the file in Python "
                                 "and save model.state_dict() with torch.save");
        }
        // Any other callable is not run: its result is an opaque object of that class.
        PickleValue* v = make(Kind::Object);
        v->text = f;
        return v;
    }

    const PickleValue* newObject(const PickleValue& cls, const PickleValue& args)
    {
        if (cls.kind == Kind::Global && cls.text == "collections.OrderedDict")
            return orderedDict(args);
        if (cls.kind != Kind::Global && cls.kind != Kind::Object)
            fail("NEWOBJ of " + describePickleValue(cls) + ", which is not a class");
        PickleValue* v = make(Kind::Object);
        v->text = cls.text;
        return v;
    }

    // OrderedDict() or OrderedDict([(key, value), ...]).
    const PickleValue* orderedDict(const PickleValue& args)
    {
        PickleValue* d = make(Kind::Dict);
        if (args.kind == Kind::Tuple && args.items.size() == 1 &&
            (arg(args, 0)->kind == Kind::List || arg(args, 0)->kind == Kind::Tuple)) {
            for (const PickleValue* pair : arg(args, 0)->items) {
                if (pair->kind != Kind::Tuple || pair->items.size() != 2)
                    fail("OrderedDict of " + describePickleValue(*pair) + ", not of (key, value) pairs");
                d->entries.emplace_back(pair->items[0], pair->items[1]);
            }
        } else if (args.kind != Kind::Tuple || !args.items.empty()) {
            fail("OrderedDict with arguments " + describePickleValue(args));
        }
        return d;
    }

    // BINPERSID's id: ('storage', torch.FloatStorage, key, location, numel).
    const PickleValue* storage(const PickleValue& pid)
    {
        const auto& i = pid.items;
        if (pid.kind != Kind::Tuple || i.size() != 5 || i[0]->kind != Kind::String || i[0]->text != "storage" ||
            i[1]->kind != Kind::Global || i[2]->kind != Kind::String || i[3]->kind != Kind::String ||
            i[4]->kind != Kind::Int)
            fail("a persistent id " + describePickleValue(pid) +
                 " that is not ('storage', type, key, location, numel) as torch.save writes");
        if (i[4]->integer < 0)
            fail("a storage of " + std::to_string(i[4]->integer) + " elements");
        PickleValue* s = make(Kind::Storage);
        s->tensor.storageType = i[1]->text;
        s->tensor.storageKey = i[2]->text;
        s->tensor.location = i[3]->text;
        s->tensor.storageNumel = i[4]->integer;
        return s;
    }

    std::string_view m_data;
    const std::string& m_where;
    std::deque<PickleValue>& m_arena;
    std::size_t m_pos = 0;
    std::size_t m_opAt = 0;
    std::vector<const PickleValue*> m_stack;
    std::vector<std::size_t> m_marks;
    std::unordered_map<std::uint64_t, const PickleValue*> m_memo;
};

constexpr int kMaxNesting = 32;  // state dicts nest a level or two; this stops a self-referencing dict

bool isDictLike(const PickleValue& v)
{
    return v.kind == Kind::Dict || (v.kind == Kind::Object && !v.entries.empty());
}

std::string label(const std::string& name)
{
    return name.empty() ? "the top level" : "\"" + name + "\"";
}

// "" when `v` is a state dict, else why not (the first entry that is not a tensor). `seen` holds
// the dicts visited so far: a state dict never holds one dict twice, and refusing that keeps the
// walk linear in the file's size (memo references could otherwise make it exponential).
std::string whyNotStateDict(const PickleValue& v, const std::string& name, int depth,
                            std::unordered_set<const PickleValue*>& seen)
{
    if (!isDictLike(v))
        return label(name) + " is " + describePickleValue(v);
    if (v.entries.empty())
        return label(name) + " is an empty dict";
    if (depth > kMaxNesting)
        return label(name) + " nests dicts deeper than " + std::to_string(kMaxNesting) + " levels";
    if (!seen.insert(&v).second)
        return label(name) + " is a dict met twice (shared or holding itself)";
    for (const auto& [key, value] : v.entries) {
        if (key->kind != Kind::String)
            return label(name) + " has a key that is " + describePickleValue(*key) + ", not a string";
        if (value->kind == Kind::Tensor)
            continue;
        const std::string inner = name.empty() ? key->text : name + "." + key->text;
        if (!isDictLike(*value))
            return "\"" + inner + "\" is " + describePickleValue(*value) + ", not a tensor";
        const std::string why = whyNotStateDict(*value, inner, depth + 1, seen);
        if (!why.empty())
            return why;
    }
    return {};
}

void flatten(const PickleValue& v, const std::string& prefix, PickledStateDict& out)
{
    for (const auto& [key, value] : v.entries) {
        const std::string name = prefix + key->text;
        if (value->kind == Kind::Tensor)
            out.tensors.emplace_back(name, &value->tensor);
        else
            flatten(*value, name + ".", out);
    }
}

const PickleValue* member(const PickleValue& dict, const char* key)
{
    if (!isDictLike(dict))
        return nullptr;
    for (const auto& [k, v] : dict.entries)
        if (k->kind == Kind::String && k->text == key)
            return v;
    return nullptr;
}

bool isFlatStateDict(const PickleValue& v)
{
    if (!isDictLike(v) || v.entries.empty())
        return false;
    for (const auto& [key, value] : v.entries)
        if (key->kind != Kind::String || value->kind != Kind::Tensor)
            return false;
    return true;
}

// The state dict at `v`, `levels` deep: a flat dict of tensors first, then what is under
// kStateDictKeys, then `v` as a nested dict of tensors. So {"model": sd} gives sd, not
// "model."-prefixed names, while {"backbone": {...}, "head": {...}} is flattened. `why`
// collects the reasons the candidates were passed over.
const PickleValue* searchStateDict(const PickleValue& v, const std::string& at, int levels, std::string& under,
                                   std::vector<std::string>& why)
{
    if (isFlatStateDict(v)) {
        under = at;
        return &v;
    }
    if (levels > 0)
        for (const char* key : kStateDictKeys)
            if (const PickleValue* inner = member(v, key))
                if (const PickleValue* found =
                        searchStateDict(*inner, at.empty() ? key : at + "." + key, levels - 1, under, why))
                    return found;
    std::unordered_set<const PickleValue*> seen;
    const std::string reason = whyNotStateDict(v, at, 0, seen);
    if (reason.empty()) {
        under = at;
        return &v;
    }
    if (!at.empty() || isDictLike(v))
        why.push_back(reason);
    return nullptr;
}

} // namespace

PickleDocument PickleDocument::parse(std::string_view bytes, const std::string& where)
{
    PickleDocument doc;
    doc.m_root = Unpickler(bytes, where, doc.m_values).run();
    return doc;
}

std::string describePickleValue(const PickleValue& v)
{
    const auto count = [](std::size_t n, const char* one, const char* many) {
        return std::to_string(n) + " " + (n == 1 ? one : many);
    };
    switch (v.kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "a bool";
    case Kind::Int: return "an int";
    case Kind::BigInt: return "an int";
    case Kind::Float: return "a float";
    case Kind::String: return "a string";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "a tuple of " + count(v.items.size(), "item", "items");
    case Kind::List: return "a list of " + count(v.items.size(), "item", "items");
    case Kind::Set: return "a set of " + count(v.items.size(), "item", "items");
    case Kind::Dict: return "a dict of " + count(v.entries.size(), "entry", "entries");
    case Kind::Global: return "the global " + v.text;
    case Kind::Object:
        if (v.text.compare(0, 21, "torch._utils._rebuild") == 0)  // _rebuild_qtensor, _rebuild_sparse_tensor, ...
            return "a tensor of a kind Labelprop does not read (made by " + v.text + ": quantized, sparse or without data)";
        return "an object of class " + v.text;
    case Kind::Storage: return "a storage";
    case Kind::Tensor: return "a tensor";
    }
    return "?";
}

PickledStateDict findStateDict(const PickleValue& root, const std::string& path)
{
    PickledStateDict out;
    std::vector<std::string> why;
    const PickleValue* dict = searchStateDict(root, "", 2, out.under, why);
    if (!dict) {
        std::string keys;
        if (isDictLike(root)) {
            std::size_t shown = 0;
            for (const auto& [key, value] : root.entries) {
                if (shown == 20) {
                    keys += ", and " + std::to_string(root.entries.size() - shown) + " more";
                    break;
                }
                keys += (shown++ ? ", " : "") +
                        (key->kind == Kind::String ? "\"" + key->text + "\"" : describePickleValue(*key)) + " (" +
                        describePickleValue(*value) + ")";
            }
        }
        std::string looked;
        for (const char* key : kStateDictKeys)
            looked += std::string(looked.empty() ? "" : ", ") + "\"" + key + "\"";
        std::string reasons;
        for (const auto& r : why)
            reasons += "; " + r;
        throw ModelError(path + ": no state dict (a dict of tensors) at the top level or under " + looked + reasons +
                         "; the top level is " + describePickleValue(root) +
                         (keys.empty() ? std::string() : " with keys " + keys) +
                         ". Save the model's weights with torch.save(model.state_dict(), file)");
    }
    flatten(*dict, "", out);

    // DataParallel / DistributedDataParallel prefix every name with "module.".
    const std::string kModule = "module.";
    std::unordered_map<std::string, std::string> original;  // stripped name -> name in the file
    for (auto& entry : out.tensors) {
        std::string& name = entry.first;
        const std::string inFile = name;
        if (name.compare(0, kModule.size(), kModule) == 0)
            name.erase(0, kModule.size());
        const auto [it, inserted] = original.emplace(name, inFile);
        if (!inserted && it->second == inFile)
            throw ModelError(path + ": the state dict" + (out.under.empty() ? "" : " under \"" + out.under + "\"") +
                             " has \"" + inFile + "\" twice; the file is damaged or was not written by torch.save: "
                             "download or export it again");
        if (!inserted)
            throw ModelError(path + ": the state dict" + (out.under.empty() ? "" : " under \"" + out.under + "\"") +
                             " has both \"" + it->second + "\" and \"" + inFile + "\", the same name once a leading \"" +
                             kModule + "\" is removed; save one model's state_dict() only");
    }
    return out;
}

} // namespace labelprop::models
