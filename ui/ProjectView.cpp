#include "ui/ProjectView.h"

#include "ui/ProjectSession.h"
#include "ui/Tasks.h"
#include "ui/ThumbnailCache.h"
#include "ui/TileDelegate.h"
#include "ui/TileGrid.h"
#include "ui/ViewGeometry.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QScrollBar>
#include <QThreadPool>
#include <QVBoxLayout>

#include <algorithm>
#include <array>

namespace labelprop::ui {

namespace {

constexpr std::array<int, 6> kThumbnailSizes{48, 64, 96, 128, 192, 256};

} // namespace

ProjectView::ProjectView(ProjectSession* session, ThumbnailCache* cache, QWidget* parent)
    : QWidget(parent)
    , m_session(session)
    , m_cache(cache)
    , m_model(session, cache)
{
    m_delegate = new TileDelegate(cache->thumbnailSize(), this);
    m_grid = new TileGrid(this);
    m_grid->setObjectName(QStringLiteral("itemGrid"));
    m_grid->setViewMode(QListView::IconMode);
    m_grid->setMovement(QListView::Static);
    m_grid->setResizeMode(QListView::Adjust);
    m_grid->setUniformItemSizes(true);
    m_grid->setLayoutMode(QListView::Batched);
    m_grid->setBatchSize(4096);
    m_grid->setSpacing(0);
    m_grid->setSelectionMode(QAbstractItemView::ExtendedSelection); // shift, ctrl, rubber band
    m_grid->setSelectionRectVisible(true);
    m_grid->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_grid->setItemDelegate(m_delegate);
    m_grid->setModel(&m_model);
    m_grid->setGridSize(m_delegate->cellSize(m_grid->fontMetrics()));

    buildBar();
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addWidget(m_sort->parentWidget());
    layout->addWidget(m_grid, 1);

    m_visibleTimer.setSingleShot(true);
    m_visibleTimer.setInterval(30);
    connect(&m_visibleTimer, &QTimer::timeout, this, &ProjectView::updateVisible);
    connect(m_grid->verticalScrollBar(), &QScrollBar::valueChanged, &m_visibleTimer, qOverload<>(&QTimer::start));
    connect(m_grid->verticalScrollBar(), &QScrollBar::valueChanged, this, &ProjectView::stateChanged);
    connect(&m_model, &QAbstractItemModel::modelReset, &m_visibleTimer, qOverload<>(&QTimer::start));
    connect(m_cache, &ThumbnailCache::thumbnailsReady, this, [this] {
        if (m_waitingForVisible && visibleThumbnailsLoaded()) {
            m_waitingForVisible = false;
            emit visibleThumbnailsReady();
        }
    });
    connect(m_grid->selectionModel(), &QItemSelectionModel::selectionChanged, this, &ProjectView::stateChanged);
    connect(m_grid->selectionModel(), &QItemSelectionModel::currentChanged, this, [this](const QModelIndex& current) {
        emit currentItemChanged(m_model.itemAt(current.row()));
        emit stateChanged();
    });
    // Labels and propagation repaint their tiles in place; the order stays.
    connect(session, &ProjectSession::labelsChanged, this,
            [this](const std::vector<std::int32_t>& items) { m_model.itemsChanged(items); });
    connect(session, &ProjectSession::propagationChanged, this,
            [this](const std::vector<std::int32_t>& items) { m_model.itemsChanged(items); });
    // The project goes: the grid lets go of its rows before the session empties the columns, and no
    // order computed for it is applied (a new project's grid must not paint the old one's items).
    connect(session, &ProjectSession::aboutToClose, this, [this] {
        ++m_orderRequest;
        m_orderPending = false;
        m_model.setOrder({});
    });
    connect(session, &ProjectSession::suggestionsReady, this, [this] {
        if (m_query.sort == ItemSort::SuggestionRank)
            computeOrder(currentItem(), selectedItems(), -1);
    });
    m_empty = new QLabel(m_grid->viewport());
    m_empty->setObjectName(QStringLiteral("emptyMessage"));
    m_empty->setAlignment(Qt::AlignCenter);
    m_empty->setWordWrap(true);
    m_empty->setForegroundRole(QPalette::PlaceholderText);
    m_empty->hide();
    m_grid->viewport()->installEventFilter(this);
    connect(&m_model, &QAbstractItemModel::modelReset, this, &ProjectView::updateEmptyMessage);
    m_searchTimer.setSingleShot(true);
    m_searchTimer.setInterval(200);
    connect(&m_searchTimer, &QTimer::timeout, this, &ProjectView::queryFromBar);
}

void ProjectView::buildBar()
{
    auto* bar = new QWidget(this);
    bar->setObjectName(QStringLiteral("filterBar"));
    auto* row = new QHBoxLayout(bar);
    row->setContentsMargins(6, 4, 6, 4);
    row->setSpacing(4);
    const auto label = [&](const QString& text, QWidget* buddy) {
        auto* l = new QLabel(text, bar);
        l->setBuddy(buddy);
        row->addWidget(l);
        row->addWidget(buddy);
    };
    m_sort = new QComboBox(bar);
    m_sort->setObjectName(QStringLiteral("sort"));
    m_sort->addItem(tr("Least confident first (needs a person)"), int(ItemSort::ConfidenceAscending));
    m_sort->addItem(tr("Most confident first (safe to accept)"), int(ItemSort::ConfidenceDescending));
    m_sort->addItem(tr("Most likely mislabeled first"), int(ItemSort::IssueScore));
    m_sort->addItem(tr("Suggested to label next"), int(ItemSort::SuggestionRank));
    m_sort->addItem(tr("By class"), int(ItemSort::Class));
    m_sort->addItem(tr("By path"), int(ItemSort::Path));
    label(tr("&Order:"), m_sort);
    m_filter = new QComboBox(bar);
    m_filter->setObjectName(QStringLiteral("filter"));
    m_filter->addItem(tr("All items"), int(ItemFilter::All));
    m_filter->addItem(tr("Unlabeled"), int(ItemFilter::Unlabeled));
    m_filter->addItem(tr("Labeled by a person"), int(ItemFilter::LabeledByPerson));
    m_filter->addItem(tr("Imported labels"), int(ItemFilter::Imported));
    m_filter->addItem(tr("Propagated"), int(ItemFilter::Propagated));
    m_filter->addItem(tr("Flagged"), int(ItemFilter::Flagged));
    m_filter->addItem(tr("Reviewed"), int(ItemFilter::Reviewed));
    label(tr("S&how:"), m_filter);
    m_class = new QComboBox(bar);
    m_class->setObjectName(QStringLiteral("classFilter"));
    // The bar shrinks with the window (a 1366 x 768 laptop, a narrow half-screen window): long
    // entries are elided in the closed boxes and shown whole in their lists.
    for (auto* combo : {m_sort, m_filter, m_class}) {
        combo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        combo->setMinimumContentsLength(combo == m_class ? 6 : 10);
    }
    label(tr("C&lass:"), m_class);
    m_minConfidence = new QDoubleSpinBox(bar);
    m_minConfidence->setObjectName(QStringLiteral("minConfidence"));
    m_maxConfidence = new QDoubleSpinBox(bar);
    m_maxConfidence->setObjectName(QStringLiteral("maxConfidence"));
    for (auto* box : {m_minConfidence, m_maxConfidence}) {
        box->setRange(0.0, 1.0);
        box->setSingleStep(0.05);
        box->setDecimals(2);
    }
    m_maxConfidence->setValue(1.0);
    label(tr("Confidence:"), m_minConfidence);
    row->addWidget(new QLabel(QStringLiteral("–"), bar));
    row->addWidget(m_maxConfidence);
    m_search = new QLineEdit(bar);
    m_search->setObjectName(QStringLiteral("search"));
    m_search->setPlaceholderText(tr("Search file names"));
    m_search->setMinimumWidth(60);
    m_search->setClearButtonEnabled(true);
    m_search->installEventFilter(this); // Escape clears it
    row->addWidget(m_search, 1);
    classesChanged();

    for (auto* combo : {m_sort, m_filter, m_class})
        connect(combo, &QComboBox::currentIndexChanged, this, &ProjectView::queryFromBar);
    for (auto* box : {m_minConfidence, m_maxConfidence})
        connect(box, &QDoubleSpinBox::valueChanged, this, &ProjectView::queryFromBar);
    connect(m_search, &QLineEdit::textChanged, &m_searchTimer, qOverload<>(&QTimer::start));
}

bool ProjectView::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == m_search && event->type() == QEvent::KeyPress
        && static_cast<QKeyEvent*>(event)->key() == Qt::Key_Escape) {
        // Escape clears the search at once (no debounce); on an empty box it goes back to the grid.
        if (m_search->text().isEmpty()) {
            m_grid->setFocus();
        } else {
            m_search->clear();
            m_searchTimer.stop();
            queryFromBar();
        }
        return true;
    }
    if (watched == m_grid->viewport() && event->type() == QEvent::Resize)
        m_empty->setGeometry(m_grid->viewport()->rect().adjusted(24, 24, -24, -24));
    return QWidget::eventFilter(watched, event);
}

QString ProjectView::emptyMessage() const
{
    return m_empty->isHidden() ? QString() : m_empty->text();
}

void ProjectView::updateEmptyMessage()
{
    if (m_model.rowCount() > 0 || m_orderPending || !m_session->isOpen()) {
        m_empty->hide();
        return;
    }
    QStringList what;
    if (m_query.filter != ItemFilter::All)
        what << tr("shown: %1").arg(m_filter->currentText());
    if (m_query.classId >= 0)
        what << tr("class: %1").arg(m_class->currentText());
    if (m_query.minConfidence > 0.0f || m_query.maxConfidence < 1.0f)
        what << tr("confidence %1–%2").arg(m_query.minConfidence, 0, 'f', 2).arg(m_query.maxConfidence, 0, 'f', 2);
    if (!m_query.search.empty())
        what << tr("search: “%1”").arg(QString::fromStdString(m_query.search));
    m_empty->setText(m_session->items().size() == 0
                         ? tr("This project has no items.")
                         : tr("No item matches the filter (%1).\nWiden it above; Escape in the search box clears the search.")
                               .arg(what.join(QStringLiteral(", "))));
    m_empty->setGeometry(m_grid->viewport()->rect().adjusted(24, 24, -24, -24));
    m_empty->show();
}

void ProjectView::classesChanged()
{
    m_updatingBar = true;
    const int selected = m_query.classId;
    m_class->clear();
    m_class->addItem(tr("Any"), -1);
    for (const auto& c : m_session->classes()) {
        QPixmap swatch(12, 12);
        swatch.fill(QColor(QString::fromStdString(c.colour)));
        m_class->addItem(QIcon(swatch), QString::fromStdString(c.name), c.id);
    }
    m_class->setCurrentIndex(std::max(0, m_class->findData(selected)));
    m_updatingBar = false;
    m_model.classesChanged();
}

void ProjectView::queryFromBar()
{
    if (m_updatingBar)
        return;
    ItemQuery q;
    q.sort = ItemSort(m_sort->currentData().toInt());
    q.filter = ItemFilter(m_filter->currentData().toInt());
    q.classId = m_class->currentData().toInt();
    q.minConfidence = float(m_minConfidence->value());
    q.maxConfidence = float(m_maxConfidence->value());
    q.search = m_search->text().toStdString();
    m_query = q;
    if (q.sort == ItemSort::SuggestionRank) {
        m_session->requestSuggestions(); // the order follows when they are ranked
        return;
    }
    computeOrder(currentItem(), selectedItems(), -1);
    emit stateChanged();
}

void ProjectView::showQueryInBar(const ItemQuery& q)
{
    m_updatingBar = true;
    m_sort->setCurrentIndex(std::max(0, m_sort->findData(int(q.sort))));
    m_filter->setCurrentIndex(std::max(0, m_filter->findData(int(q.filter))));
    m_class->setCurrentIndex(std::max(0, m_class->findData(q.classId)));
    m_minConfidence->setValue(q.minConfidence);
    m_maxConfidence->setValue(q.maxConfidence);
    m_search->setText(QString::fromStdString(q.search));
    m_updatingBar = false;
}

void ProjectView::setQuery(const ItemQuery& q)
{
    showQueryInBar(q);
    queryFromBar();
}

void ProjectView::start(const ViewState& state)
{
    if (state.thumbnailSize != thumbnailSize()) {
        const auto* it = std::lower_bound(kThumbnailSizes.begin(), kThumbnailSizes.end(), state.thumbnailSize);
        const int size = it == kThumbnailSizes.end() ? kThumbnailSizes.back() : *it;
        m_cache->setThumbnailSize(QSize(size, size));
        m_delegate->setThumbnailSize(QSize(size, size));
        m_grid->setGridSize(m_delegate->cellSize(m_grid->fontMetrics()));
    }
    classesChanged();
    showQueryInBar(state.query);
    m_query = state.query;
    computeOrder(state.currentItem, state.selectedItems, state.topItem);
    if (m_query.sort == ItemSort::SuggestionRank)
        m_session->requestSuggestions();
    m_grid->setFocus();
}

ViewState ProjectView::state() const
{
    ViewState s;
    s.query = m_query;
    s.thumbnailSize = thumbnailSize();
    s.currentItem = currentItem();
    for (const auto& index : m_grid->selectionModel()->selectedIndexes())
        s.selectedItems.push_back(std::int32_t(m_model.itemAt(index.row())));
    s.topItem = topVisibleItem();
    return s;
}

void ProjectView::refreshOrder()
{
    if (m_query.sort == ItemSort::SuggestionRank)
        m_session->requestSuggestions(); // ranked again for the labels as they are now
    else
        computeOrder(currentItem(), selectedItems(), -1);
}

void ProjectView::computeOrder(int keepItem, std::vector<std::int32_t> keepSelection, int topItem)
{
    const auto request = ++m_orderRequest;
    m_orderPending = true;
    // A copy of the columns (the paths are shared): the worker sorts while the person goes on.
    auto task = [items = m_session->items(), query = m_query] { return orderItems(items, query); };
    runThen(*QThreadPool::globalInstance(), this, std::move(task),
            [this, request, keepItem, keepSelection = std::move(keepSelection), topItem](std::vector<std::int32_t> order) {
                if (request != m_orderRequest)
                    return; // a newer order superseded this one
                m_orderPending = false;
                m_model.setOrder(std::move(order));
                restoreSelection(keepItem, keepSelection, topItem);
                m_waitingForVisible = true;
                emit orderApplied();
                updateVisible();
            });
}

void ProjectView::restoreSelection(int current, const std::vector<std::int32_t>& selected, int topItem)
{
    auto* selection = m_grid->selectionModel();
    QItemSelection keep;
    for (const auto item : selected)
        if (const int row = m_model.rowOfItem(item); row >= 0)
            keep.select(m_model.index(row), m_model.index(row));
    int row = m_model.rowOfItem(current);
    if (row < 0 && m_model.rowCount() > 0)
        row = 0;
    if (row >= 0)
        selection->setCurrentIndex(m_model.index(row), QItemSelectionModel::NoUpdate);
    selection->select(keep, QItemSelectionModel::ClearAndSelect);
    if (const int top = m_model.rowOfItem(topItem); top >= 0)
        m_grid->scrollTo(m_model.index(top), QAbstractItemView::PositionAtTop);
    if (row >= 0)
        m_grid->scrollTo(m_model.index(row), QAbstractItemView::EnsureVisible); // the current item stays in view
}

int ProjectView::currentItem() const
{
    return m_model.itemAt(m_grid->currentIndex().row());
}

std::vector<std::int32_t> ProjectView::selectedItems() const
{
    auto rows = m_grid->selectionModel()->selectedIndexes();
    std::vector<int> sorted;
    sorted.reserve(std::size_t(rows.size()));
    for (const auto& index : rows)
        sorted.push_back(index.row());
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::int32_t> items;
    for (const int row : sorted)
        items.push_back(m_model.itemAt(row));
    if (items.empty() && currentItem() >= 0)
        items.push_back(currentItem());
    return items;
}

void ProjectView::advance()
{
    const int row = m_grid->currentIndex().row();
    if (row + 1 >= m_model.rowCount())
        return;
    const auto next = m_model.index(row + 1);
    m_grid->selectionModel()->setCurrentIndex(next, QItemSelectionModel::ClearAndSelect);
    m_grid->scrollTo(next, QAbstractItemView::EnsureVisible);
}

int ProjectView::thumbnailSize() const
{
    return m_delegate->thumbnailSize().width();
}

void ProjectView::zoom(int steps)
{
    const auto* it = std::lower_bound(kThumbnailSizes.begin(), kThumbnailSizes.end(), thumbnailSize());
    const int index = std::clamp(int(it - kThumbnailSizes.begin()) + steps, 0, int(kThumbnailSizes.size()) - 1);
    const int size = kThumbnailSizes[std::size_t(index)];
    if (size == thumbnailSize())
        return;
    const int keep = currentItem();
    m_cache->setThumbnailSize(QSize(size, size));
    m_delegate->setThumbnailSize(QSize(size, size));
    m_grid->setGridSize(m_delegate->cellSize(m_grid->fontMetrics()));
    if (const int row = m_model.rowOfItem(keep); row >= 0)
        m_grid->scrollTo(m_model.index(row), QAbstractItemView::PositionAtCenter);
    m_waitingForVisible = true;
    m_visibleTimer.start();
    emit stateChanged();
}

int ProjectView::topVisibleItem() const
{
    const auto [first, last] = visibleRowRange(*m_grid);
    return first <= last ? m_model.itemAt(first) : -1;
}

void ProjectView::updateVisible()
{
    const auto [first, last] = visibleRowRange(*m_grid);
    std::vector<int> visible, prefetch;
    if (first <= last) {
        for (int row = first; row <= last; ++row)
            visible.push_back(m_model.itemAt(row));
        // One more screen below, then one above: where a person scrolls next.
        const int screen = last - first + 1;
        for (int row = last + 1; row <= std::min(m_model.rowCount() - 1, last + screen); ++row)
            prefetch.push_back(m_model.itemAt(row));
        for (int row = std::max(0, first - screen); row < first; ++row)
            prefetch.push_back(m_model.itemAt(row));
    }
    m_cache->prioritize(visible, prefetch);
    if (m_waitingForVisible && visibleThumbnailsLoaded()) {
        m_waitingForVisible = false;
        emit visibleThumbnailsReady();
    }
}

bool ProjectView::visibleThumbnailsLoaded() const
{
    if (m_orderPending)
        return false;
    if (!m_cache->source())
        return true; // no images to wait for (they could not be opened): the placeholders are final
    const auto [first, last] = visibleRowRange(*m_grid);
    for (int row = first; row <= last; ++row)
        if (!m_cache->contains(m_model.itemAt(row)))
            return false;
    return true;
}

} // namespace labelprop::ui
