// ProjectStore: stored results (the latest propagation and audit) and fitted encoder states.

#include "core/project/ProjectStore.h"

#include "core/project/ProjectStoreDetail.h"
#include "core/project/SqliteDatabase.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <type_traits>

namespace labelprop {

using namespace store_detail;

namespace {

template <class T>
std::span<const std::uint8_t> asBytes(const std::vector<T>& v)
{
    static_assert(std::is_trivially_copyable_v<T>);
    return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(T)};
}

template <class T>
bool fromBytes(std::span<const std::uint8_t> bytes, std::size_t count, std::vector<T>& out)
{
    if (bytes.size() != count * sizeof(T))
        return false;
    out.resize(count);
    if (count > 0)
        std::memcpy(out.data(), bytes.data(), bytes.size());
    return true;
}

} // namespace

// ---- encoder states ------------------------------------------------------------------------

Expected<std::optional<std::string>> ProjectStore::encoderState(std::string_view encoderSpec) const
{
    auto st = m_db->prepare("SELECT state FROM encoder_states WHERE encoder = ?1");
    if (!st)
        return std::unexpected(st.error());
    std::optional<std::string> state;
    LP_TRY(st->bind(1, encoderSpec).forEachRow("reading the encoder state", [&](const SqliteStatement& row) {
        const auto b = row.blob(0);
        state = std::string(reinterpret_cast<const char*>(b.data()), b.size());
    }));
    return state;
}

Expected<void> ProjectStore::saveEncoderState(std::string_view encoderSpec, std::string_view state)
{
    LP_TRY(requireWritable("save the encoder state"));
    auto st = m_db->prepare("INSERT INTO encoder_states(encoder, state, saved_ms) VALUES(?1, ?2, ?3) "
                            "ON CONFLICT(encoder) DO UPDATE SET state = ?2, saved_ms = ?3");
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, encoderSpec)
        .bindBlob(2, std::span(reinterpret_cast<const std::uint8_t*>(state.data()), state.size()))
        .bind(3, nowMs());
    return st->run("saving the encoder state");
}


// ---- stored results ------------------------------------------------------------------------

Expected<void> ProjectStore::savePropagation(const StoredPropagation& r)
{
    LP_TRY(requireWritable("save the propagation result"));
    const std::size_t n = r.itemIds.size();
    const std::size_t c = r.classes.size();
    if (r.scores.size() != n * c || r.predicted.size() != n || r.confidence.size() != n || r.margin.size() != n
        || r.issueScore.size() != n || r.given.size() != n || r.flagged.size() != n || r.suggested.size() != n)
        return fail("internal error: propagation arrays do not match " + std::to_string(n) + " items");
    auto st = m_db->prepare(
        "INSERT OR REPLACE INTO propagation(kind, time_ms, settings, embedding_version, label_version, seconds, "
        "classes, item_ids, scores, predicted, confidence, margin, issue_score, given, flagged, suggested) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, r.kind).bind(2, r.timeMs).bind(3, r.settings).bind(4, r.embeddingVersion).bind(5, r.labelVersion);
    st->bind(6, r.seconds).bind(7, nlohmann::json(r.classes).dump());
    st->bindBlob(8, asBytes(r.itemIds)).bindBlob(9, asBytes(r.scores)).bindBlob(10, asBytes(r.predicted));
    st->bindBlob(11, asBytes(r.confidence)).bindBlob(12, asBytes(r.margin)).bindBlob(13, asBytes(r.issueScore));
    st->bindBlob(14, asBytes(r.given)).bindBlob(15, asBytes(r.flagged)).bindBlob(16, asBytes(r.suggested));
    return st->run("saving the propagation result");
}

Expected<std::optional<StoredPropagation>> ProjectStore::latestPropagation(std::optional<std::string_view> kind) const
{
    const std::string select = "SELECT kind, time_ms, settings, embedding_version, label_version, seconds, classes, "
                               "item_ids, scores, predicted, confidence, margin, issue_score, given, flagged, suggested "
                               "FROM propagation ";
    auto st = m_db->prepare(select + (kind ? "WHERE kind = ?1" : "ORDER BY time_ms DESC, kind LIMIT 1"));
    if (!st)
        return std::unexpected(st.error());
    if (kind)
        st->bind(1, *kind);
    auto row = st->step("reading the propagation result");
    if (!row)
        return std::unexpected(row.error());
    if (!*row)
        return std::optional<StoredPropagation>();
    StoredPropagation r;
    r.kind = st->text(0);
    r.timeMs = st->integer(1);
    r.settings = st->text(2);
    r.embeddingVersion = st->text(3);
    r.labelVersion = st->integer(4);
    r.seconds = st->real(5);
    try {
        r.classes = nlohmann::json::parse(st->text(6)).get<std::vector<std::string>>();
    } catch (const std::exception&) {
        return fail(m_path + ": the stored propagation result is damaged (class list); run 'project propagate' again");
    }
    const auto b = st->blob(7);
    const std::size_t n = b.size() / sizeof(std::int64_t);
    const std::size_t c = r.classes.size();
    const bool ok = fromBytes(b, n, r.itemIds) && fromBytes(st->blob(8), n * c, r.scores)
        && fromBytes(st->blob(9), n, r.predicted) && fromBytes(st->blob(10), n, r.confidence)
        && fromBytes(st->blob(11), n, r.margin) && fromBytes(st->blob(12), n, r.issueScore)
        && fromBytes(st->blob(13), n, r.given) && fromBytes(st->blob(14), n, r.flagged)
        && fromBytes(st->blob(15), n, r.suggested);
    if (!ok)
        return fail(m_path + ": the stored propagation result is damaged (array sizes); run 'project propagate' again");
    return std::optional<StoredPropagation>(std::move(r));
}


} // namespace labelprop
