#pragma once
// Private to the ProjectStore*.cpp files (the store is one class split by concern across them):
// the error-forwarding macro, the clock, project metadata, and the statements that keep the
// derived tables in step with the events. Not part of the layer's interface.

#include "core/base/Error.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace labelprop {

class SqliteDatabase;

namespace store_detail {

constexpr std::string_view kLabelVersionKey = "label_version";

// The statements that keep the derived tables in step with the events.
constexpr std::string_view kInsertLabelEvent =
    "INSERT INTO label_events(action_id, item_id, class_id, source) VALUES(?1, ?2, ?3, ?4)";
constexpr std::string_view kSetCurrentLabel =
    "INSERT INTO current_labels(item_id, class_id, source, event_id) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(item_id) DO UPDATE SET class_id = ?2, source = ?3, event_id = ?4";
constexpr std::string_view kSetCurrentReview =
    "INSERT INTO current_reviews(item_id, decision, event_id) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(item_id) DO UPDATE SET decision = ?2, event_id = ?3";

// ms since the epoch.
inline std::int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The `meta` table: project information as text (root, source kind, label version, ...).
[[nodiscard]] Expected<void> setMeta(SqliteDatabase& db, std::string_view key, std::string_view value);
[[nodiscard]] Expected<std::optional<std::string>> getMeta(const SqliteDatabase& db, std::string_view key);

} // namespace store_detail

} // namespace labelprop

// Returns the error of an Expected<...> expression from the enclosing function.
#define LP_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        if (auto lp_try_result = (expr); !lp_try_result)                                                               \
            return std::unexpected(lp_try_result.error());                                                             \
    } while (false)
