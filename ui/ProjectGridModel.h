#pragma once
// ProjectGridModel: the labeling window's grid. One row per shown item, in the order the window
// asked for (ItemView's orderItems, computed on a worker); the data comes from the session's
// ItemColumns, so data() is O(1) and does no I/O. Label and propagation changes become dataChanged
// over coalesced row ranges of the rows that show them; the order never changes under the pointer
// (only setOrder() changes it).
//
// Thread-safety: GUI thread only, like every Qt model.

#include <QAbstractListModel>
#include <QColor>
#include <QList>

#include <cstdint>
#include <span>
#include <vector>

namespace labelprop::ui {

class ProjectSession;
class ThumbnailCache;

class ProjectGridModel final : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        ItemRole = Qt::UserRole + 1, // int: item index (item id - 1)
        PathRole,                    // QString: the stored path
        LabelRole,                   // int: the current label's class id, or -1
        LabelSourceRole,             // int: LabelSource, or -1 without a label
        PredictedRole,               // int: the propagated class, or -1
        ConfidenceRole,              // double in [0, 1]: propagated confidence
        FlaggedRole,                 // bool: the current label is likely wrong
        IssueScoreRole,              // double in [0, 1]
        SuggestedRole,               // int: suggested fix of a flagged item, or -1
        ReviewedRole,                // bool
        ShownClassNameRole,          // QString: the label's class, else the propagated one
        ShownClassColourRole,        // QColor
        ThumbnailErrorRole,          // QString: why the image could not be shown, or empty
    };

    // `session` and `cache` are not owned and must outlive the model.
    ProjectGridModel(const ProjectSession* session, ThumbnailCache* cache, QObject* parent = nullptr);

    // Item indices to show, in order. Resets the model.
    void setOrder(std::vector<std::int32_t> order);
    [[nodiscard]] const std::vector<std::int32_t>& order() const { return m_order; }
    [[nodiscard]] int itemAt(int row) const;
    [[nodiscard]] int rowOfItem(int item) const; // -1 when not shown; O(1)

    // The values of these items changed: dataChanged over the rows that show them, coalesced into
    // runs of rows; more than kMaxRanges runs become one dataChanged over their whole span.
    void itemsChanged(std::span<const std::int32_t> items);
    static constexpr std::size_t kMaxRanges = 64;
    // Class names or colours changed: every row repaints.
    void classesChanged();

    [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
    [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    [[nodiscard]] Qt::ItemFlags flags(const QModelIndex& index) const override;

private:
    void thumbnailsReady(const QList<int>& items);

    const ProjectSession* m_session = nullptr;
    ThumbnailCache* m_cache = nullptr;
    std::vector<std::int32_t> m_order;     // row -> item
    std::vector<std::int32_t> m_rowOfItem; // item -> row or -1
    QList<QString> m_classNames;
    QList<QColor> m_classColours;
};

} // namespace labelprop::ui
