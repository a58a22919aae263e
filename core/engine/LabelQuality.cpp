#include "core/engine/LabelQuality.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace labelprop {
namespace {

double fractionBelow(const std::vector<float>& pGiven, float tau)
{
    if (pGiven.empty())
        return 0.0;
    const auto below = std::count_if(pGiven.begin(), pGiven.end(), [tau](float p) { return p < tau; });
    return double(below) / double(pGiven.size());
}

float thresholdForNoiseRate(double rho, int classes)
{
    return float(std::sqrt(std::max(0.0, (1.0 - rho) * rho / double(classes - 1))));
}

} // namespace

LabelQualityReport assessGivenLabels(std::span<const float> probabilities, int classes, std::span<const int32_t> given)
{
    const int64_t n = int64_t(given.size());
    LabelQualityReport report;
    report.issueScore.assign(size_t(n), 0.0f);
    report.flagged.assign(size_t(n), 0);
    report.suggested.assign(size_t(n), -1);
    report.classNoiseRate.assign(size_t(classes), 0.0);
    report.classCount.assign(size_t(classes), 0);

    // p(given) of every judged item: labelled, with some evidence from its neighbourhood.
    std::vector<int64_t> judged;
    std::vector<float> pGiven;
    int64_t disagreeing = 0;
    for (int64_t i = 0; i < n; ++i) {
        const int32_t g = given[size_t(i)];
        if (g < 0)
            continue;
        const float* p = probabilities.data() + i * classes;
        if (std::accumulate(p, p + classes, 0.0f) <= 0.0f)
            continue;
        int best = -1, alternative = -1;
        for (int q = 0; q < classes; ++q) {
            if (best < 0 || p[q] > p[best])
                best = q;
            if (q != g && (alternative < 0 || p[q] > p[alternative]))
                alternative = q;
        }
        report.suggested[size_t(i)] = alternative;
        report.issueScore[size_t(i)] = std::clamp(1.0f - p[g], 0.0f, 1.0f);
        judged.push_back(i);
        pGiven.push_back(p[g]);
        disagreeing += best != g;
    }

    if (classes >= 2 && !judged.empty()) {
        double rho = double(disagreeing) / double(judged.size());
        float tau = thresholdForNoiseRate(rho, classes);
        for (int round = 0; round < 50; ++round) {
            const double next = fractionBelow(pGiven, tau);
            const float nextTau = thresholdForNoiseRate(next, classes);
            rho = next;
            if (nextTau == tau)
                break;
            tau = nextTau;
        }
        report.threshold = tau;
        for (size_t a = 0; a < judged.size(); ++a)
            report.flagged[size_t(judged[a])] = pGiven[a] < tau;
    }

    int64_t flaggedTotal = 0, labelled = 0;
    std::vector<int64_t> classFlagged(size_t(classes), 0);
    for (int64_t i = 0; i < n; ++i) {
        const int32_t g = given[size_t(i)];
        if (g < 0)
            continue;
        ++labelled;
        ++report.classCount[size_t(g)];
        if (report.flagged[size_t(i)]) {
            ++flaggedTotal;
            ++classFlagged[size_t(g)];
        }
        report.ranking.push_back(int32_t(i));
    }
    report.noiseRate = labelled ? double(flaggedTotal) / double(labelled) : 0.0;
    for (int q = 0; q < classes; ++q)
        report.classNoiseRate[size_t(q)] =
            report.classCount[size_t(q)] ? double(classFlagged[size_t(q)]) / double(report.classCount[size_t(q)]) : 0.0;
    std::stable_sort(report.ranking.begin(), report.ranking.end(), [&](int32_t a, int32_t b) {
        return report.issueScore[size_t(a)] > report.issueScore[size_t(b)];
    });
    return report;
}

std::vector<float> neighbourVote(const SparseGraph& s, const PropagationResult& result, int threads)
{
    std::vector<float> vote(result.probabilities.size());
    multiplyGraph(s, result.probabilities, result.classes, vote, threads);
    for (int64_t i = 0; i < result.n; ++i) {
        float* v = vote.data() + i * result.classes;
        const float total = std::accumulate(v, v + result.classes, 0.0f);
        if (total > 0.0f)
            std::for_each(v, v + result.classes, [total](float& x) { x /= total; });
    }
    return vote;
}

Expected<Audit> auditLabels(const SparseGraph& s, std::span<const int32_t> given, int classes, const AuditOptions& options)
{
    if (options.steps < 1)
        return fail("audit: --steps must be at least 1 (got " + std::to_string(options.steps) + ")");
    PropagationOptions propagation;
    propagation.iterations = options.steps;
    propagation.clamp.kind = ClampMode::Kind::None;
    propagation.threads = options.threads;
    auto smoothed = propagateLabels(s, given, classes, propagation);
    if (!smoothed)
        return std::unexpected(smoothed.error());
    Audit audit{std::move(*smoothed), {}};
    audit.quality = assessGivenLabels(audit.smoothed.probabilities, classes, given);
    return audit;
}

} // namespace labelprop
