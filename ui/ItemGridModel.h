#pragma once
// ItemGridModel: one flat list model over a ResultSnapshot, in a chosen order. Each row is one
// entry of the result table. Sorting and filtering replace the order vector and reset the model;
// thumbnails come from a ThumbnailCache, and their arrival becomes dataChanged over row ranges.
//
// Thread-safety: a GUI-thread object, like every Qt model. The snapshot it shows is immutable and
// shared, so it may be handed to workers at the same time.

#include "core/results/ResultSnapshot.h"

#include <QAbstractListModel>
#include <QList>
#include <QString>

#include <cstdint>
#include <memory>
#include <vector>

namespace labelprop::ui {

class ThumbnailCache;

class ItemGridModel final : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        FlaggedRole = Qt::UserRole + 1, // bool
        ItemIndexRole,                  // int: the item's index in items.csv and in the source
        PathRole,                       // QString
        GivenRole,                      // QString, empty when there is no given label
        PredictedRole,                  // QString, empty when no label reached the item
        ConfidenceRole,                 // double in [0, 1]
        MarginRole,                     // double in [0, 1]
        IssueScoreRole,                 // double in [0, 1]
    };

    // `cache` (not owned, may be null) supplies thumbnails; it must outlive the model.
    explicit ItemGridModel(ThumbnailCache* cache, QObject* parent = nullptr);

    // Shows `snapshot` (may be null: empty) with rows `order`, positions into snapshot->entries
    // (e.g. from ResultSnapshot::order()). Resets the model.
    void setSnapshot(std::shared_ptr<const ResultSnapshot> snapshot, std::vector<int32_t> order);
    // Same snapshot, new order or filter. Resets the model. Positions out of range are an error
    // of the caller (std::out_of_range).
    void setOrder(std::vector<int32_t> order);
    [[nodiscard]] const std::shared_ptr<const ResultSnapshot>& snapshot() const { return m_snapshot; }

    // The item index shown in `row`, or -1.
    [[nodiscard]] int itemAt(int row) const;
    // The row showing `item`, or -1. O(1).
    [[nodiscard]] int rowOfItem(int item) const;

    [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
    // O(1) and no I/O: a missing thumbnail is the cache's placeholder plus a queued request.
    [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    [[nodiscard]] Qt::ItemFlags flags(const QModelIndex& index) const override;
    [[nodiscard]] QHash<int, QByteArray> roleNames() const override;

private:
    void thumbnailsReady(const QList<int>& items);
    void applyOrder(std::vector<int32_t> order); // between begin/endResetModel
    [[nodiscard]] const ResultEntry* entryAt(int row) const;

    ThumbnailCache* m_cache = nullptr;
    std::shared_ptr<const ResultSnapshot> m_snapshot;
    std::vector<int32_t> m_order;     // row -> position in m_snapshot->entries
    std::vector<int32_t> m_rowOfItem; // item -> row, -1 when not shown
    QList<QString> m_classNames;      // class id -> name, converted once per snapshot
};

} // namespace labelprop::ui
