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

// One decoded batch: rows [begin, end) of the source, those that decoded packed at the front.
struct DecodedBatch {
    std::size_t begin = 0, end = 0;
    std::vector<float> pixels;              // kept x 3 x S x S
    std::vector<std::size_t> kept;          // source indices of the packed rows
    std::vector<std::string> skipped;       // "path: reason"
};

// Decode workers fill batches in order of claim; the network takes them in index order.
class BatchQueue {
public:
    BatchQueue(std::size_t batches)
        : m_batches(batches)
    {
    }
    // A worker's next batch index, or nullopt when all are claimed, the run stopped, or it must
    // wait because the network is kBatchesAhead behind (it then waits here).
    std::optional<std::size_t> claim()
    {
        std::unique_lock lock(m_mutex);
        m_space.wait(lock, [&] { return m_stop || m_next >= m_batches || m_next < m_taken + kBatchesAhead; });
        if (m_stop || m_next >= m_batches)
            return std::nullopt;
        return m_next++;
    }
    void put(std::size_t index, DecodedBatch batch)
    {
        {
            std::lock_guard lock(m_mutex);
            m_ready.emplace(index, std::move(batch));
        }
        m_filled.notify_all();
    }
    // Batch `index` once decoded (the network's thread); nullopt when the run stopped.
    std::optional<DecodedBatch> take(std::size_t index)
    {
        std::unique_lock lock(m_mutex);
        m_filled.wait(lock, [&] { return m_stop || m_ready.count(index) > 0; });
        if (m_stop)
            return std::nullopt;
        DecodedBatch b = std::move(m_ready.at(index));
        m_ready.erase(index);
        ++m_taken;
        m_space.notify_all();
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
    std::mutex m_mutex;
    std::condition_variable m_space, m_filled;
    std::map<std::size_t, DecodedBatch> m_ready;
    std::size_t m_batches = 0, m_next = 0, m_taken = 0;
    bool m_stop = false;
};

DecodedBatch decodeBatch(const ImageSource& source, const ModelInput& input, std::size_t begin, std::size_t end)
{
    DecodedBatch b;
    b.begin = begin;
    b.end = end;
    const std::size_t floats = 3 * std::size_t(input.size) * std::size_t(input.size);
    b.pixels.resize((end - begin) * floats);
    for (std::size_t i = begin; i < end; ++i) {
        const std::string& path = source.item(i).path;
        auto image = source.decode(i);
        if (!image) {
            b.skipped.push_back(image.error().message);
            continue;
        }
        if (auto ok = preprocessImage(*image, input, b.pixels.data() + b.kept.size() * floats, path); !ok) {
            b.skipped.push_back(ok.error().message);
            continue;
        }
        b.kept.push_back(i);
    }
    b.pixels.resize(b.kept.size() * floats);
    return b;
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
    BatchQueue queue(batches);
    std::exception_ptr decodeError;
    std::mutex errorMutex;
    std::vector<std::jthread> workers;
    const int decoders = std::max(1, std::min<int>(threads, int(batches)));
    for (int w = 0; w < decoders; ++w)
        workers.emplace_back([&] {
            try {
                while (const auto b = queue.claim())
                    queue.put(*b, decodeBatch(source, options.input, *b * batch, std::min(n, (*b + 1) * batch)));
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
            out.skipped.insert(out.skipped.end(), decoded->skipped.begin(), decoded->skipped.end());
            const auto kept = std::int64_t(decoded->kept.size());
            if (kept > 0) {
                torch::Tensor images = torch::from_blob(decoded->pixels.data(), {kept, 3, side, side}, torch::kFloat);
                images = images.to(options.placement.device, options.placement.dtype);
                torch::Tensor features = forward(images).to(torch::kCPU, torch::kFloat).contiguous();
                if (features.dim() != 2 || features.size(0) != kept)
                    throw std::runtime_error("the network returned a tensor of shape " + c10::str(features.sizes())
                                             + " for a batch of " + std::to_string(kept) + " images; expected ["
                                             + std::to_string(kept) + ", D]");
                if (dims == 0)
                    dims = features.size(1);
                features = torch::nn::functional::normalize(
                    features, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1).eps(1e-12));
                const float* f = features.data_ptr<float>();
                rows.insert(rows.end(), f, f + kept * dims);
                for (const auto i : decoded->kept) {
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
