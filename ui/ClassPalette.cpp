#include "ui/ClassPalette.h"

#include <QColorDialog>
#include <QHeaderView>
#include <QMenu>
#include <QInputDialog>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace labelprop::ui {

ClassPalette::ClassPalette(QWidget* parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("classPalette"));
    m_view = new QTableView(this);
    m_view->setObjectName(QStringLiteral("classList"));
    m_view->setModel(&m_model);
    m_view->setSelectionMode(QAbstractItemView::NoSelection);
    m_view->setFocusPolicy(Qt::NoFocus); // the grid keeps the keyboard
    m_view->verticalHeader()->hide();
    m_view->setShowGrid(false);
    m_view->horizontalHeader()->setSectionResizeMode(ClassListModel::NameColumn, QHeaderView::Stretch);
    for (int c : {int(ClassListModel::HotkeyColumn), int(ClassListModel::PeopleColumn), int(ClassListModel::PropagatedColumn)})
        m_view->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    m_view->setCursor(Qt::PointingHandCursor);
    connect(m_view, &QTableView::clicked, this, [this](const QModelIndex& index) { emit classClicked(index.row()); });
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_view, &QTableView::customContextMenuRequested, this, &ClassPalette::showMenu);

    auto* add = new QPushButton(tr("Add class…"), this);
    add->setObjectName(QStringLiteral("addClass"));
    add->setFocusPolicy(Qt::NoFocus);
    connect(add, &QPushButton::clicked, this, [this] {
        bool ok = false;
        const QString name = QInputDialog::getText(this, tr("Add a class"), tr("Name of the new class:"),
                                                   QLineEdit::Normal, {}, &ok).trimmed();
        if (ok && !name.isEmpty())
            emit addClassRequested(name);
    });
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_view, 1);
    layout->addWidget(add);
}

void ClassPalette::showMenu(const QPoint& at)
{
    const QModelIndex index = m_view->indexAt(at);
    if (!index.isValid())
        return;
    const int id = index.row();
    const QString name = m_model.index(id, ClassListModel::NameColumn).data().toString();
    QMenu menu(this);
    menu.addAction(tr("Rename %1…").arg(name), this, [this, id, name] {
        bool ok = false;
        const QString renamed = QInputDialog::getText(this, tr("Rename a class"), tr("New name of %1:").arg(name),
                                                      QLineEdit::Normal, name, &ok).trimmed();
        if (ok && !renamed.isEmpty() && renamed != name)
            emit renameRequested(id, renamed);
    });
    menu.addAction(tr("Colour…"), this, [this, id, name] {
        const QColor now = m_model.index(id, ClassListModel::NameColumn).data(Qt::DecorationRole).value<QColor>();
        const QColor c = QColorDialog::getColor(now, this, tr("Colour of %1").arg(name));
        if (c.isValid())
            emit colourRequested(id, c.name());
    });
    menu.addAction(tr("Key…"), this, [this, id, name] {
        bool ok = false;
        const QString key = QInputDialog::getText(this, tr("Key of a class"),
                                                  tr("One key that labels the selection as %1 (empty: none):").arg(name),
                                                  QLineEdit::Normal, m_model.hotkeys()[std::size_t(id)], &ok).trimmed();
        if (ok && key.size() <= 1)
            emit hotkeyRequested(id, key);
    });
    auto* merge = menu.addMenu(tr("Merge %1 into").arg(name));
    for (int other = 0; other < m_model.rowCount(); ++other)
        if (other != id)
            merge->addAction(m_model.index(other, ClassListModel::NameColumn).data().toString(), this,
                             [this, id, other] { emit mergeRequested(id, other); });
    menu.exec(m_view->viewport()->mapToGlobal(at));
}

} // namespace labelprop::ui
