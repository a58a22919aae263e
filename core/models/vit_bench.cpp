// vit_bench: model-only throughput of the native ViT (core/models/VisionTransformer) over
// synthetic input: no decode, no resize, no weights file (LibTorch's default initialisation; the
// speed does not depend on the values). Each run is --iters forward passes of one --batch under
// torch::InferenceMode with the module in eval(); it prints images/s per run and the median.
// bench/vit_python_bench.py times torchvision's VisionTransformer with the same options, so the
// two can be run side by side on one machine. Each run also prints how many cores other processes
// kept busy meanwhile ("others"): on a shared 2-core machine one busy neighbour halves a 2-thread
// timing, so a run with others above --max-others is taken again (at most 2 x --runs extra runs),
// and the median is over the least disturbed --runs runs.
//
// Needs only LibTorch, so it also builds with core/models alone (see CMakeLists.txt there).

#include "core/models/ModelError.h"
#include "core/models/VisionTransformer.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace labelprop::models;

namespace {

constexpr const char* kUsage =
    "usage: vit_bench [--arch tiny|small|base] [--patch P] [--size S] [--batch N] [--iters N] [--runs N]\n"
    "                 [--warmup N] [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--threads N]\n"
    "                 [--blas-threads N] [--pooling cls|mean] [--max-others CORES]\n"
    "  defaults: --arch small --patch 16 --size 224 --batch 16 --iters 2 --runs 5 --warmup 1 --device cpu\n"
    "            --dtype fp32 --max-others 0.25 --threads: LibTorch's default. --threads sets LibTorch's (OpenMP) threads and\n"
    "            OpenBLAS's, when the GEMMs run there (--blas-threads sets OpenBLAS's alone). Prints images/s per run and their median.\n";

struct Options {
    std::string arch = "small";
    int64_t patch = 16;
    int64_t size = 224;
    int64_t batch = 16;
    int iters = 2;
    int runs = 5;
    int warmup = 1;
    std::string device = "cpu";
    std::string dtype = "fp32";
    int threads = 0;     // 0: LibTorch's default
    int blasThreads = 0; // 0: as --threads
    std::string pooling = "cls";
    double maxOthers = 0.25; // cores other processes may use during a kept run
};

[[noreturn]] void usageError(const std::string& what)
{
    std::cerr << "vit_bench: " << what << "\n" << kUsage;
    std::exit(2);
}

long long positive(const std::string& flag, const std::string& text)
{
    try {
        std::size_t used = 0;
        const long long v = std::stoll(text, &used);
        if (used == text.size() && v > 0)
            return v;
    } catch (const std::exception&) {
    }
    usageError(flag + " wants a positive whole number, got '" + text + "'");
}

Options parse(int argc, char** argv)
{
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            std::exit(0);
        }
        if (i + 1 >= argc)
            usageError(flag + " needs a value (or is unknown)");
        const std::string value = argv[++i];
        if (flag == "--arch") o.arch = value;
        else if (flag == "--patch") o.patch = positive(flag, value);
        else if (flag == "--size") o.size = positive(flag, value);
        else if (flag == "--batch") o.batch = positive(flag, value);
        else if (flag == "--iters") o.iters = static_cast<int>(positive(flag, value));
        else if (flag == "--runs") o.runs = static_cast<int>(positive(flag, value));
        else if (flag == "--warmup") o.warmup = value == "0" ? 0 : static_cast<int>(positive(flag, value));
        else if (flag == "--device") o.device = value;
        else if (flag == "--dtype") o.dtype = value;
        else if (flag == "--threads") o.threads = static_cast<int>(positive(flag, value));
        else if (flag == "--blas-threads") o.blasThreads = static_cast<int>(positive(flag, value));
        else if (flag == "--pooling") o.pooling = value;
        else if (flag == "--max-others") o.maxOthers = std::atof(value.c_str());
        else usageError("unknown option " + flag);
    }
    if (o.device != "cpu" && o.device != "cuda")
        usageError("--device is cpu or cuda, got '" + o.device + "'");
    if (o.dtype != "fp32" && o.dtype != "bf16" && o.dtype != "fp16")
        usageError("--dtype is fp32, bf16 or fp16, got '" + o.dtype + "'");
    if (o.pooling != "cls" && o.pooling != "mean")
        usageError("--pooling is cls or mean, got '" + o.pooling + "'");
    return o;
}

std::string cpuModel()
{
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0)
            return line.substr(line.find(':') + 2);
    return "unknown CPU";
}

// Busy CPU seconds of the whole machine since boot: /proc/stat's first line (every CPU, in clock
// ticks) without idle and iowait. NaN where /proc/stat cannot be read.
double machineBusySeconds()
{
    std::ifstream stat("/proc/stat");
    std::string label;
    stat >> label;
    double busyTicks = 0.0;
    for (int field = 0; field < 8; ++field) { // user nice system idle iowait irq softirq steal
        long long ticks = 0;
        stat >> ticks;
        if (field != 3 && field != 4)
            busyTicks += static_cast<double>(ticks);
    }
    return stat && label == "cpu" ? busyTicks / static_cast<double>(sysconf(_SC_CLK_TCK)) : std::nan("");
}

// CPU seconds of this process, every thread (std::clock on Linux).
double ownCpuSeconds()
{
    return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

// Debian's LibTorch runs its GEMMs in OpenBLAS, whose threads torch::set_num_threads does not set
// (it sets OpenMP's and MKL's). Found at run time, so the benchmark links nothing but LibTorch;
// -1 where this process has no OpenBLAS (a pip LibTorch uses MKL, which set_num_threads sets).
int setOpenBlasThreads(int threads)
{
    using Setter = void (*)(int);
    using Getter = int (*)();
    const auto set = reinterpret_cast<Setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    const auto get = reinterpret_cast<Getter>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (set && threads > 0)
        set(threads);
    return get ? get() : -1;
}

} // namespace

int main(int argc, char** argv)
{
    const Options o = parse(argc, argv);
    try {
        if (o.threads > 0)
            torch::set_num_threads(o.threads);
        const int blasThreads = setOpenBlasThreads(o.blasThreads > 0 ? o.blasThreads : o.threads);
        if (o.device == "cuda" && !torch::cuda::is_available())
            usageError("--device cuda: this LibTorch has no CUDA or sees no GPU");
        const torch::Device device = o.device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
        const torch::ScalarType dtype = o.dtype == "bf16" ? torch::kBFloat16
            : o.dtype == "fp16"                           ? torch::kHalf
                                                          : torch::kFloat;

        ViTConfig config = vitPreset(o.arch, o.patch, o.size);
        config.pooling = o.pooling == "cls" ? ViTPooling::ClassToken : ViTPooling::MeanPatchTokens;
        VisionTransformer model(config);
        model->to(device, dtype);
        model->eval();
        // Normalised images look like unit-variance noise; the values do not change the work.
        const torch::Tensor input = torch::randn({o.batch, config.channels, o.size, o.size},
                                                 torch::TensorOptions().device(device).dtype(dtype));

        std::printf("vit_bench: ViT-%s/%lld at %lld px (%s), batch %lld, %d iters x %d runs (+%d warm-up)\n",
                    o.arch.c_str(), static_cast<long long>(o.patch), static_cast<long long>(o.size),
                    config.describe().c_str(), static_cast<long long>(o.batch), o.iters, o.runs, o.warmup);
        std::printf("device %s, dtype %s, torch threads %d, OpenBLAS threads %s, LibTorch %s, CPU %s\n",
                    o.device.c_str(), o.dtype.c_str(), torch::get_num_threads(),
                    blasThreads < 0 ? "n/a" : std::to_string(blasThreads).c_str(), TORCH_VERSION, cpuModel().c_str());

        torch::InferenceMode inference;
        // Reading one number back waits for the device, so CUDA timings cover the whole work.
        auto pass = [&] { return model->forward(input).sum().item<float>(); };
        for (int i = 0; i < o.warmup; ++i)
            pass();
        struct Run {
            double rate;   // images/s
            double others; // cores other processes used meanwhile
        };
        std::vector<Run> kept;
        int disturbed = 0;
        for (int attempt = 1; static_cast<int>(kept.size()) < o.runs && attempt <= 3 * o.runs; ++attempt) {
            const double busy0 = machineBusySeconds(), own0 = ownCpuSeconds();
            const auto start = std::chrono::steady_clock::now();
            for (int i = 0; i < o.iters; ++i)
                pass();
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            const Run run{static_cast<double>(o.batch) * o.iters / seconds,
                          std::max(0.0, (machineBusySeconds() - busy0 - (ownCpuSeconds() - own0)) / seconds)};
            // The last attempts keep what they get, so that a busy machine still gives a figure.
            const bool retake = run.others > o.maxOthers && attempt + (o.runs - static_cast<int>(kept.size())) <= 3 * o.runs;
            std::printf("run %d: %.2f images/s (others %.2f cores)%s\n", attempt, run.rate, run.others,
                        retake ? ", disturbed: taken again" : "");
            std::fflush(stdout);
            if (retake)
                ++disturbed;
            else
                kept.push_back(run);
        }
        std::sort(kept.begin(), kept.end(), [](const Run& a, const Run& b) { return a.rate < b.rate; });
        const std::size_t n = kept.size();
        const double median = n % 2 ? kept[n / 2].rate : 0.5 * (kept[n / 2 - 1].rate + kept[n / 2].rate);
        double mostOthers = 0.0;
        for (const Run& r : kept)
            mostOthers = std::max(mostOthers, r.others);
        std::printf("images/s (median of %zu runs): %.2f [min %.2f, max %.2f]; others up to %.2f cores in kept runs, "
                    "%d disturbed runs taken again\n",
                    n, median, kept.front().rate, kept.back().rate, mostOthers, disturbed);
    } catch (const ModelError& e) {
        std::cerr << "vit_bench: " << e.what() << "\n";
        return 1;
    } catch (const c10::Error& e) {
        std::cerr << "vit_bench: LibTorch failed (" << o.device << ", " << o.dtype << "): " << e.what_without_backtrace()
                  << "\n";
        return 1;
    }
    return 0;
}
