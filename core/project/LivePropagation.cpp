#include "core/project/LivePropagation.h"

#include "core/base/Stopwatch.h"

#include <algorithm>

namespace labelprop {

LivePropagation::LivePropagation(ProjectRun run, int threads)
    : m_run(std::move(run))
    , m_threads(threads)
{
}

LivePropagation::~LivePropagation() = default;

Expected<std::unique_ptr<LivePropagation>> LivePropagation::start(ProjectRun run, int threads)
{
    std::unique_ptr<LivePropagation> live(new LivePropagation(std::move(run), threads));
    if (auto ok = live->rebuild(); !ok)
        return std::unexpected(ok.error());
    live->m_shown = live->shownRows();
    return live;
}

bool LivePropagation::local() const
{
    return m_run.engine.clamp.kind == ClampMode::Kind::Hard;
}

Expected<void> LivePropagation::rebuild()
{
    m_incremental.reset();
    m_audit.reset();
    m_full = ProjectPropagation{};
    m_full.kind = "propagate";
    if (m_run.classes.empty())
        return {}; // nothing to propagate into yet: every row shows "no label reached it"
    if (local()) {
        // The graph is shared with the run (aliasing: no copy of S).
        std::shared_ptr<const SparseGraph> graph(m_run.graph, &m_run.graph->affinity);
        IncrementalOptions options;
        options.steps = m_run.engine.steps;
        options.threads = m_threads;
        auto created = IncrementalPropagation::create(std::move(graph), m_run.seeds, int(m_run.classes.size()), options);
        if (!created)
            return std::unexpected(created.error());
        m_incremental = std::make_unique<IncrementalPropagation>(std::move(*created));
        m_audit = std::make_unique<IncrementalAudit>(IncrementalAudit::create(*m_incremental, m_threads));
        return {};
    }
    // Soft clamp or none: no local update exists for these; every change runs the full propagation.
    if (m_run.labeled == 0)
        return {};
    ProjectRunControl control;
    control.threads = m_threads;
    auto p = propagateProject(m_run, control);
    if (!p)
        return std::unexpected(p.error());
    m_full = std::move(*p);
    return {};
}

ShownRow LivePropagation::shownRow(std::size_t i) const
{
    const PropagationResult* r = m_incremental ? &m_incremental->result() : &m_full.result;
    const LabelQualityReport* q = m_audit ? &m_audit->report() : &m_full.quality;
    ShownRow s;
    if (r->predicted.size() <= i)
        return s;
    s.predicted = r->predicted[i];
    s.confidence = r->confidence[i];
    if (q->issueScore.size() > i) {
        s.issueScore = q->issueScore[i];
        s.flagged = q->flagged[i];
        s.suggested = q->suggested[i];
    }
    return s;
}

std::vector<ShownRow> LivePropagation::shownRows() const
{
    std::vector<ShownRow> shown(m_run.embeddings.itemIds.size());
    for (std::size_t i = 0; i < shown.size(); ++i)
        shown[i] = shownRow(i);
    return shown;
}

ProjectPropagation LivePropagation::current() const
{
    if (!m_incremental)
        return m_full;
    ProjectPropagation p;
    p.kind = "propagate";
    p.result = m_incremental->result();
    p.quality = m_audit->report();
    p.settingsJson = "{\"mode\":\"propagate\",\"iterations\":" + std::to_string(m_run.engine.steps)
                     + ",\"clamp\":\"hard\",\"live\":true}";
    return p;
}

double LivePropagation::noiseRate() const
{
    return m_audit ? m_audit->report().noiseRate : m_full.quality.noiseRate;
}

Expected<Selection> LivePropagation::suggest(std::int64_t budget, std::uint64_t seed) const
{
    const PropagationResult* result = m_incremental ? &m_incremental->result() : &m_full.result;
    SelectionInputs inputs;
    inputs.embeddings = &m_run.embeddings.x;
    inputs.knn = &m_run.graph->knn;
    inputs.result = m_run.labeled > 0 && !result->predicted.empty() ? result : nullptr;
    inputs.labels = m_run.seeds;
    return selectItemsToLabel(m_run.engine.strategy, budget, inputs, seed, m_threads);
}

LiveUpdate LivePropagation::initial() const
{
    LiveUpdate u;
    u.version = m_version;
    u.rows.resize(m_shown.size());
    for (std::size_t i = 0; i < m_shown.size(); ++i)
        u.rows[i] = std::int32_t(i);
    u.values = m_shown;
    u.noiseRate = noiseRate();
    u.full = true;
    return u;
}

Expected<LiveUpdate> LivePropagation::apply(std::span<const LabelChange> changes, const std::vector<ProjectClass>& classes)
{
    Stopwatch clock;
    // Item ids -> embedding rows; later entries for an item win, as in the store.
    std::vector<SeedChange> rows;
    rows.reserve(changes.size());
    for (const auto& c : changes) {
        if (c.itemId <= 0 || std::size_t(c.itemId) >= m_run.rowOfItem.size())
            continue;
        const auto row = m_run.rowOfItem[std::size_t(c.itemId)];
        if (row < 0)
            continue;
        const int cls = c.classId >= 0 && c.classId < int(classes.size()) ? c.classId : -1;
        auto& seed = m_run.seeds[std::size_t(row)];
        m_run.labeled += (cls >= 0) - (seed >= 0);
        seed = cls;
        rows.push_back(SeedChange{std::int32_t(row), cls});
    }
    const bool classesShrank = classes.size() < m_run.classes.size();
    m_run.classes = classes;

    LiveUpdate u;
    std::vector<std::int32_t> candidates; // rows whose shown values may have changed
    if (m_incremental && !classesShrank) {
        while (m_incremental->classes() < int(classes.size()))
            m_incremental->addClass(); // exact: no item has the new class yet
        auto update = m_incremental->apply(rows);
        if (!update)
            return std::unexpected(update.error());
        const auto audit = m_audit->update(*m_incremental, *update);
        u.propagationSeconds = update->stats.microseconds * 1e-6;
        u.auditSeconds = audit.stats.microseconds * 1e-6;
        u.rowSteps = update->stats.rowsComputed;
        std::merge(update->changedRows.begin(), update->changedRows.end(), audit.changedRows.begin(),
                   audit.changedRows.end(), std::back_inserter(candidates));
        candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
        u.full = update->stats.mode == IncrementalStats::Mode::Dense;
    } else {
        // A merge renumbered the classes, the first class arrived, or the clamp is not hard: from scratch.
        if (auto ok = rebuild(); !ok)
            return std::unexpected(ok.error());
        u.propagationSeconds = clock.seconds();
        candidates.resize(m_shown.size());
        for (std::size_t i = 0; i < candidates.size(); ++i)
            candidates[i] = std::int32_t(i);
        u.full = true;
    }
    for (const auto row : candidates) {
        const auto now = shownRow(std::size_t(row));
        if (!(now == m_shown[std::size_t(row)])) {
            m_shown[std::size_t(row)] = now;
            u.rows.push_back(row);
            u.values.push_back(now);
        }
    }
    u.version = ++m_version;
    u.noiseRate = noiseRate();
    u.seconds = clock.seconds();
    return u;
}

} // namespace labelprop
