#include "core/project/ItemView.h"

#include "core/base/NameTable.h"

#include <algorithm>
#include <numeric>

namespace labelprop {

namespace {

constexpr std::pair<ItemSort, std::string_view> kSorts[] = {
    {ItemSort::ConfidenceAscending, "confidence-ascending"},
    {ItemSort::ConfidenceDescending, "confidence-descending"},
    {ItemSort::IssueScore, "issue-score"},
    {ItemSort::SuggestionRank, "suggestion-rank"},
    {ItemSort::Class, "class"},
    {ItemSort::Path, "path"},
};
constexpr std::pair<ItemFilter, std::string_view> kFilters[] = {
    {ItemFilter::All, "all"},
    {ItemFilter::Unlabeled, "unlabeled"},
    {ItemFilter::LabeledByPerson, "labeled-by-person"},
    {ItemFilter::Imported, "imported"},
    {ItemFilter::Propagated, "propagated"},
    {ItemFilter::Flagged, "flagged"},
    {ItemFilter::Reviewed, "reviewed"},
};

char foldAscii(char c)
{
    return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

bool containsFolded(std::string_view text, std::string_view foldedNeedle)
{
    if (foldedNeedle.empty())
        return true;
    if (text.size() < foldedNeedle.size())
        return false;
    for (std::size_t i = 0; i + foldedNeedle.size() <= text.size(); ++i) {
        std::size_t j = 0;
        while (j < foldedNeedle.size() && foldAscii(text[i + j]) == foldedNeedle[j])
            ++j;
        if (j == foldedNeedle.size())
            return true;
    }
    return false;
}

bool passesFilter(const ItemColumns& items, std::size_t i, ItemFilter filter)
{
    switch (filter) {
    case ItemFilter::All:
        return true;
    case ItemFilter::Unlabeled:
        return items.label[i] < 0;
    case ItemFilter::LabeledByPerson:
        return items.labeledByPerson(i);
    case ItemFilter::Imported:
        return items.label[i] >= 0 && LabelSource(items.source[i]) == LabelSource::Imported;
    case ItemFilter::Propagated:
        return items.propagated(i);
    case ItemFilter::Flagged:
        return items.shown[i].flagged != 0;
    case ItemFilter::Reviewed:
        return items.reviewed[i] != 0;
    }
    return true;
}

} // namespace

std::string_view itemSortName(ItemSort sort)
{
    return nameIn(kSorts, sort);
}
std::optional<ItemSort> parseItemSort(std::string_view name)
{
    return valueIn(kSorts, name);
}
std::string_view itemFilterName(ItemFilter filter)
{
    return nameIn(kFilters, filter);
}
std::optional<ItemFilter> parseItemFilter(std::string_view name)
{
    return valueIn(kFilters, name);
}

std::vector<std::int32_t> orderItems(const ItemColumns& items, const ItemQuery& query)
{
    std::string needle = query.search;
    std::transform(needle.begin(), needle.end(), needle.begin(), foldAscii);
    const bool confidenceRange = query.minConfidence > 0.0f || query.maxConfidence < 1.0f;
    std::vector<std::int32_t> order;
    order.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!passesFilter(items, i, query.filter))
            continue;
        if (query.classId >= 0 && items.shownClass(i) != query.classId)
            continue;
        if (confidenceRange) {
            // A narrowed range asks about propagated confidence: labeled items have none to judge.
            const float c = items.shown[i].confidence;
            if (items.label[i] >= 0 || items.shown[i].predicted < 0 || c < query.minConfidence || c > query.maxConfidence)
                continue;
        }
        if (!containsFolded(items.path(i), needle))
            continue;
        order.push_back(std::int32_t(i));
    }
    // Sort keys: (group, value) ascending; the item index breaks ties.
    const auto confidenceKey = [&](std::int32_t i, bool ascending) {
        const bool labeled = items.label[std::size_t(i)] >= 0;
        const bool reached = items.shown[std::size_t(i)].predicted >= 0;
        // A label's own (clamped) confidence is always 1; how much its neighbours agree with it is
        // what tells a doubtful label from a safe one.
        const float c = labeled ? 1.0f - items.shown[std::size_t(i)].issueScore : items.shown[std::size_t(i)].confidence;
        // Unlabeled items first (those no label reached before the least confident), labeled last.
        const int group = labeled ? 2 : (reached ? 1 : (ascending ? 0 : 1));
        return std::pair<int, float>{group, ascending ? c : -c};
    };
    auto sortBy = [&](auto key) {
        std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return key(a) < key(b); });
    };
    switch (query.sort) {
    case ItemSort::ConfidenceAscending:
        sortBy([&](std::int32_t i) { return confidenceKey(i, true); });
        break;
    case ItemSort::ConfidenceDescending:
        sortBy([&](std::int32_t i) { return confidenceKey(i, false); });
        break;
    case ItemSort::IssueScore:
        sortBy([&](std::int32_t i) {
            const auto& s = items.shown[std::size_t(i)];
            return std::pair<int, float>{items.label[std::size_t(i)] >= 0 ? (s.flagged ? 0 : 1) : 2, -s.issueScore};
        });
        break;
    case ItemSort::SuggestionRank:
        sortBy([&](std::int32_t i) {
            const int rank = items.suggestionRank.empty() ? -1 : items.suggestionRank[std::size_t(i)];
            return std::pair<std::pair<int, int>, std::pair<int, float>>{{rank < 0, rank}, confidenceKey(i, true)};
        });
        break;
    case ItemSort::Class:
        sortBy([&](std::int32_t i) {
            const int c = items.shownClass(std::size_t(i));
            return std::pair<int, std::string_view>{c < 0 ? INT32_MAX : c, items.path(std::size_t(i))};
        });
        break;
    case ItemSort::Path:
        sortBy([&](std::int32_t i) { return std::string_view(items.path(std::size_t(i))); });
        break;
    }
    return order;
}

void countItem(ItemCounts& c, const ItemColumns& items, std::size_t i, float confidentAbove, int sign)
{
    const auto classes = std::int32_t(c.classByPeople.size());
    const auto label = items.label[i];
    const auto& s = items.shown[i];
    if (label >= 0) {
        (LabelSource(items.source[i]) == LabelSource::Imported ? c.imported : c.byPeople) += sign;
        if (label < classes)
            c.classByPeople[std::size_t(label)] += sign;
    } else if (s.predicted >= 0) {
        c.propagated += sign;
        if (s.confidence >= confidentAbove)
            c.confident += sign;
        if (s.predicted < classes)
            c.classPropagated[std::size_t(s.predicted)] += sign;
    }
    if (s.flagged != 0)
        c.flagged += sign;
    if (items.reviewed[i] != 0)
        c.reviewed += sign;
}

ItemCounts countItems(const ItemColumns& items, int classes, float confidentAbove)
{
    ItemCounts c;
    c.items = std::int64_t(items.size());
    c.classByPeople.assign(std::size_t(std::max(0, classes)), 0);
    c.classPropagated.assign(std::size_t(std::max(0, classes)), 0);
    for (std::size_t i = 0; i < items.size(); ++i)
        countItem(c, items, i, confidentAbove, +1);
    return c;
}

} // namespace labelprop
