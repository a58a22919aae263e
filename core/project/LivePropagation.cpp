#include "core/project/LivePropagation.h"

#include "core/base/Stopwatch.h"

namespace labelprop {

LivePropagation::LivePropagation(ProjectRun run, int threads)
    : m_run(std::move(run))
    , m_threads(threads)
{
}

Expected<std::unique_ptr<LivePropagation>> LivePropagation::start(ProjectRun run, int threads)
{
    std::unique_ptr<LivePropagation> live(new LivePropagation(std::move(run), threads));
    if (auto ok = live->propagateAll(); !ok)
        return std::unexpected(ok.error());
    live->m_shown = live->shownRows();
    return live;
}

Expected<void> LivePropagation::propagateAll()
{
    if (m_run.labeled == 0 || m_run.classes.empty()) {
        // Nothing to spread yet: every row shows "no label reached it".
        m_current = ProjectPropagation{};
        m_current.kind = "propagate";
        return {};
    }
    ProjectRunControl control;
    control.threads = m_threads;
    auto p = propagateProject(m_run, control);
    if (!p)
        return std::unexpected(p.error());
    m_current = std::move(*p);
    return {};
}

std::vector<ShownRow> LivePropagation::shownRows() const
{
    const auto rows = m_run.embeddings.itemIds.size();
    std::vector<ShownRow> shown(rows);
    const auto& r = m_current.result;
    const auto& q = m_current.quality;
    if (r.predicted.size() != rows)
        return shown;
    for (std::size_t i = 0; i < rows; ++i) {
        shown[i].predicted = r.predicted[i];
        shown[i].confidence = r.confidence[i];
        shown[i].issueScore = q.issueScore.empty() ? 0.0f : q.issueScore[i];
        shown[i].flagged = q.flagged.empty() ? 0 : q.flagged[i];
        shown[i].suggested = q.suggested.empty() ? -1 : q.suggested[i];
    }
    return shown;
}

LiveUpdate LivePropagation::initial() const
{
    LiveUpdate u;
    u.version = m_version;
    u.rows.resize(m_shown.size());
    for (std::size_t i = 0; i < m_shown.size(); ++i)
        u.rows[i] = std::int32_t(i);
    u.values = m_shown;
    u.noiseRate = m_current.quality.noiseRate;
    u.full = true;
    return u;
}

Expected<LiveUpdate> LivePropagation::apply(std::span<const LabelChange> changes, const std::vector<ProjectClass>& classes)
{
    Stopwatch clock;
    for (const auto& c : changes) {
        if (c.itemId <= 0 || std::size_t(c.itemId) >= m_run.rowOfItem.size())
            continue;
        const auto row = m_run.rowOfItem[std::size_t(c.itemId)];
        if (row < 0)
            continue;
        auto& seed = m_run.seeds[std::size_t(row)];
        m_run.labeled += (c.classId >= 0) - (seed >= 0);
        seed = c.classId;
    }
    m_run.classes = classes;
    if (auto ok = propagateAll(); !ok)
        return std::unexpected(ok.error());
    auto shown = shownRows();
    LiveUpdate u;
    u.version = ++m_version;
    for (std::size_t i = 0; i < shown.size(); ++i)
        if (!(shown[i] == m_shown[i])) {
            u.rows.push_back(std::int32_t(i));
            u.values.push_back(shown[i]);
        }
    m_shown = std::move(shown);
    u.noiseRate = m_current.quality.noiseRate;
    u.full = true;
    u.seconds = clock.seconds();
    return u;
}

} // namespace labelprop
