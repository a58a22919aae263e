#include "core/encoders/TorchRunner.h"

#include "core/base/BlasThreads.h"
#include "core/base/Parallel.h"
#include "core/sources/ImageSource.h"

#include <torch/cuda.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace labelprop {

namespace {

constexpr int kBatchesAhead = 3;

const char* dtypeName(torch::ScalarType t)
{
    switch (t) {
    case torch::kBFloat16:
        return "bf16";
    case torch::kHalf:
        return "fp16";
    default:
        return "fp32";
    }
}

// One batch on its way to the network: rows [begin, end) of the source, decoded in place by any
// number of workers (one image each at a time), so that 16 cores can fill one batch of 128.
struct BatchSlot {
    std::size_t begin = 0, end = 0;
    // [end - begin, 3, S, S] float32 planar RGB; in page-locked memory when the network runs on a
    // GPU, so that the copy to it is one DMA transfer that need not be staged by the driver.
    torch::Tensor pixels;
    std::vector<std::uint8_t> decoded;                     // per row: 1 when its pixels are valid
    std::vector<std::pair<std::size_t, std::string>> skipped; // (row, "path: reason")
    std::size_t pending = 0;                               // rows not finished yet
};

// Hands out the source's rows to decode workers in order, at most kBatchesAhead batches ahead of
// the network, and gives the network each batch once all its rows are finished.
class DecodeQueue {
public:
    DecodeQueue(std::size_t rows, std::size_t batch, int side, bool pinned)
        : m_rows(rows)
        , m_batch(batch)
        , m_side(side)
        , m_pinned(pinned)
    {
    }
    struct Claim {
        BatchSlot* slot; // stays valid until the network takes the batch, which waits for this row
        std::size_t row; // source index
    };
    // A worker's next row, or nullopt when all are claimed or the run stopped; waits while the
    // row's batch is kBatchesAhead ahead of the network.
    std::optional<Claim> claim()
    {
        std::unique_lock lock(m_mutex);
        m_space.wait(lock, [&] { return m_stop || m_next >= m_rows || m_next / m_batch < m_taken + kBatchesAhead; });
        if (m_stop || m_next >= m_rows)
            return std::nullopt;
        const std::size_t b = m_next / m_batch;
        auto& slot = m_slots[b];
        if (!slot) {
            slot = std::make_unique<BatchSlot>();
            slot->begin = b * m_batch;
            slot->end = std::min(m_rows, slot->begin + m_batch);
            const auto count = std::int64_t(slot->end - slot->begin);
            slot->pixels = torch::empty({count, 3, m_side, m_side},
                                        torch::TensorOptions().dtype(torch::kFloat).pinned_memory(m_pinned));
            slot->decoded.assign(std::size_t(count), 0);
            slot->pending = std::size_t(count);
        }
        return Claim{slot.get(), m_next++};
    }
    // A worker is done with `claim`'s row: decoded, or skipped for `error`.
    void finish(const Claim& claim, std::optional<std::string> error)
    {
        {
            std::lock_guard lock(m_mutex);
            const std::size_t r = claim.row - claim.slot->begin;
            if (error)
                claim.slot->skipped.emplace_back(r, std::move(*error));
            else
                claim.slot->decoded[r] = 1;
            if (--claim.slot->pending > 0)
                return;
        }
        m_filled.notify_all();
    }
    // Batch `index` once all its rows are finished (the network's thread); nullopt when the run stopped.
    std::optional<BatchSlot> take(std::size_t index)
    {
        std::unique_lock lock(m_mutex);
        m_filled.wait(lock, [&] {
            if (m_stop)
                return true;
            const auto found = m_slots.find(index);
            return found != m_slots.end() && found->second->pending == 0;
        });
        if (m_stop)
            return std::nullopt;
        BatchSlot b = std::move(*m_slots.at(index));
        m_slots.erase(index);
        ++m_taken;
        m_space.notify_all();
        std::sort(b.skipped.begin(), b.skipped.end()); // source order, whichever worker finished first
        return b;
    }
    void stop()
    {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_space.notify_all();
        m_filled.notify_all();
    }

private:
    const std::size_t m_rows, m_batch;
    const int m_side;
    const bool m_pinned;
    std::mutex m_mutex;
    std::condition_variable m_space, m_filled;
    std::map<std::size_t, std::unique_ptr<BatchSlot>> m_slots; // claimed, not yet taken
    std::size_t m_next = 0, m_taken = 0;
    bool m_stop = false;
};

// Decodes and preprocesses one row into its slot; the error ("path: reason") when it cannot.
std::optional<std::string> decodeRow(const ImageSource& source, const ModelInput& input, BatchSlot& slot,
                                     std::size_t row)
{
    auto image = source.decodeForSize(row, input.decodeMinSide());
    if (!image)
        return image.error().message;
    const std::size_t floats = 3 * std::size_t(input.size) * std::size_t(input.size);
    float* out = slot.pixels.data_ptr<float>() + (row - slot.begin) * floats;
    if (auto ok = preprocessImage(*image, input, out, source.item(row).path); !ok)
        return ok.error().message;
    return std::nullopt;
}

} // namespace

std::string TorchPlacement::describe() const
{
    std::string d = device.is_cuda() ? "cuda:" + std::to_string(device.has_index() ? device.index() : 0) : "cpu";
    return d + " " + dtypeName(dtype);
}

Expected<TorchPlacement> choosePlacement(std::string_view device, std::string_view dtype, const std::string& spec)
{
    TorchPlacement p;
    const bool cuda = torch::cuda::is_available();
    if (device.empty() || device == "auto") {
        p.device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    } else if (device == "cpu") {
        p.device = torch::kCPU;
    } else if (device.starts_with("cuda")) {
        if (!cuda)
            return fail("encoder '" + spec + "': device=" + std::string(device)
                        + " but this LibTorch sees no CUDA GPU (built without CUDA, or no driver); use device=cpu");
        int index = 0;
        if (device.size() > 4) {
            if (device[4] != ':' || device.size() == 5)
                return fail("encoder '" + spec + "': device=" + std::string(device) + "; expected cuda or cuda:N");
            index = std::atoi(std::string(device.substr(5)).c_str());
        }
        if (index < 0 || index >= int(torch::cuda::device_count()))
            return fail("encoder '" + spec + "': device=" + std::string(device) + " but there are "
                        + std::to_string(torch::cuda::device_count()) + " CUDA devices");
        p.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    } else {
        return fail("encoder '" + spec + "': device=" + std::string(device) + "; expected auto, cpu, cuda or cuda:N");
    }
    if (dtype.empty() || dtype == "auto") {
        p.dtype = p.device.is_cuda() ? torch::kBFloat16 : torch::kFloat;
    } else if (dtype == "fp32" || dtype == "float32") {
        p.dtype = torch::kFloat;
    } else if (dtype == "bf16" || dtype == "bfloat16") {
        p.dtype = torch::kBFloat16;
    } else if (dtype == "fp16" || dtype == "float16") {
        p.dtype = torch::kHalf;
    } else {
        return fail("encoder '" + spec + "': dtype=" + std::string(dtype) + "; expected auto, fp32, bf16 or fp16");
    }
    if (!p.device.is_cuda() && p.dtype != torch::kFloat)
        return fail("encoder '" + spec + "': dtype=" + std::string(dtype)
                    + " on the CPU; half precision is for GPUs (on the CPU it is slower than fp32 and less exact): "
                      "use dtype=fp32 or device=cuda");
    return p;
}

Expected<EncodedSet> runImageModel(const ImageSource& source, const TorchRunOptions& options,
                                   const BatchForward& forward, const ProgressCallback& progress,
                                   const std::string& what)
{
    const std::size_t n = source.size();
    const int threads = resolveThreadCount(options.threads);
    // One LibTorch (OpenMP) thread and `threads` OpenBLAS threads: the GEMMs, ~90% of a ViT, run in
    // OpenBLAS, and both pools spin while they wait, so 2 + 2 threads on 2 cores take the cores
    // from each other; 1 + 2 ran ViT-S/16 1.6x faster here (bench/README.md, "Threads").
    torch::set_num_threads(options.placement.device.is_cuda() ? threads : 1);
    const ScopedBlasThreads blas(threads);
    const std::size_t batch =
        std::size_t(options.batch > 0 ? options.batch : (options.placement.device.is_cuda() ? 128 : 16));
    const std::size_t batches = (n + batch - 1) / batch;
    const int side = options.input.size;
    const bool cuda = options.placement.device.is_cuda();
    DecodeQueue queue(n, batch, side, /*pinned=*/cuda);
    std::exception_ptr decodeError;
    std::mutex errorMutex;
    std::vector<std::jthread> workers;
    const int decoders = int(std::max<std::size_t>(1, std::min<std::size_t>(std::size_t(threads), n)));
    for (int w = 0; w < decoders; ++w)
        workers.emplace_back([&] {
            try {
                while (const auto claim = queue.claim())
                    queue.finish(*claim, decodeRow(source, options.input, *claim->slot, claim->row));
            } catch (...) {
                std::lock_guard lock(errorMutex);
                decodeError = std::current_exception();
                queue.stop();
            }
        });
    const auto stopAll = [&] {
        queue.stop();
        workers.clear(); // joins
    };

    EncodedSet out;
    std::vector<float> rows; // kept x D, grown as batches arrive
    std::int64_t dims = 0;
    std::size_t done = 0;
    auto lastReport = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    if (progress && !progress(0, n)) {
        stopAll();
        return fail(what + ": cancelled");
    }
    try {
        torch::InferenceMode inference;
        for (std::size_t b = 0; b < batches; ++b) {
            auto decoded = queue.take(b);
            if (!decoded)
                break; // a decode worker failed: reported below
            for (auto& [row, why] : decoded->skipped)
                out.skipped.push_back(std::move(why));
            std::vector<std::int64_t> kept;
            for (std::size_t r = 0; r < decoded->decoded.size(); ++r)
                if (decoded->decoded[r])
                    kept.push_back(std::int64_t(r));
            if (!kept.empty()) {
                torch::Tensor images = decoded->pixels;
                if (kept.size() < decoded->decoded.size()) {
                    images = images.index_select(0, torch::tensor(kept, torch::kLong));
                    if (cuda)
                        images = images.pin_memory();
                }
                // non_blocking: from page-locked memory the copy is asynchronous; the features'
                // copy back below waits for it (and `decoded` outlives that).
                images = images.to(options.placement.device, torch::kFloat, /*non_blocking=*/cuda)
                             .to(options.placement.dtype);
                torch::Tensor features = forward(images).to(torch::kCPU, torch::kFloat).contiguous();
                const auto count = std::int64_t(kept.size());
                if (features.dim() != 2 || features.size(0) != count)
                    throw std::runtime_error("the network returned a tensor of shape " + c10::str(features.sizes())
                                             + " for a batch of " + std::to_string(count) + " images; expected ["
                                             + std::to_string(count) + ", D]");
                if (dims == 0)
                    dims = features.size(1);
                features = torch::nn::functional::normalize(
                    features, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1).eps(1e-12));
                const float* f = features.data_ptr<float>();
                rows.insert(rows.end(), f, f + count * dims);
                for (const auto r : kept) {
                    const std::size_t i = decoded->begin + std::size_t(r);
                    out.items.push_back(source.item(i));
                    out.sourceIndices.push_back(i);
                }
            }
            done = decoded->end;
            const auto now = std::chrono::steady_clock::now();
            if (progress && (done == n || now - lastReport >= std::chrono::milliseconds(100))) {
                lastReport = now;
                if (!progress(done, n)) {
                    stopAll();
                    return fail(what + ": cancelled after " + std::to_string(done) + " of " + std::to_string(n)
                                + " images");
                }
            }
        }
    } catch (const std::exception& e) {
        stopAll();
        return fail(what + ": " + e.what());
    }
    stopAll();
    if (decodeError) {
        try {
            std::rethrow_exception(decodeError);
        } catch (const std::exception& e) {
            return fail(what + ": decoding: " + e.what());
        }
    }
    if (out.items.empty())
        return fail(what + ": no image could be encoded"
                    + (out.skipped.empty() ? std::string(" (the source is empty)") : "; first problem: " + out.skipped.front()));
    out.embeddings = Eigen::Map<EmbeddingMatrix>(rows.data(), std::int64_t(out.items.size()), dims);
    return out;
}

} // namespace labelprop
