#include "ui/AppSettings.h"

#include <QCryptographicHash>
#include <QFileInfo>
#include <QSettings>

namespace labelprop::ui {

namespace {

QString projectGroup(const QString& projectPath)
{
    const QByteArray key = QFileInfo(projectPath).absoluteFilePath().toUtf8();
    return QStringLiteral("projects/") + QString::fromLatin1(QCryptographicHash::hash(key, QCryptographicHash::Sha1).toHex());
}

} // namespace

QStringList AppSettings::recentProjects()
{
    return QSettings().value(QStringLiteral("recentProjects")).toStringList();
}

void AppSettings::addRecentProject(const QString& path)
{
    const QString absolute = QFileInfo(path).absoluteFilePath();
    QStringList list = recentProjects();
    list.removeAll(absolute);
    list.prepend(absolute);
    while (list.size() > kMaxRecent)
        list.removeLast();
    QSettings().setValue(QStringLiteral("recentProjects"), list);
}

ViewState AppSettings::viewState(const QString& projectPath)
{
    QSettings s;
    s.beginGroup(projectGroup(projectPath));
    ViewState v;
    v.query.sort = parseItemSort(s.value(QStringLiteral("sort")).toString().toStdString()).value_or(v.query.sort);
    v.query.filter = parseItemFilter(s.value(QStringLiteral("filter")).toString().toStdString()).value_or(v.query.filter);
    v.query.classId = s.value(QStringLiteral("class"), -1).toInt();
    v.query.minConfidence = s.value(QStringLiteral("minConfidence"), 0.0).toFloat();
    v.query.maxConfidence = s.value(QStringLiteral("maxConfidence"), 1.0).toFloat();
    v.query.search = s.value(QStringLiteral("search")).toString().toStdString();
    v.thumbnailSize = s.value(QStringLiteral("thumbnailSize"), v.thumbnailSize).toInt();
    v.currentItem = s.value(QStringLiteral("currentItem"), -1).toInt();
    v.topItem = s.value(QStringLiteral("topItem"), -1).toInt();
    for (const auto& item : s.value(QStringLiteral("selected")).toList())
        v.selectedItems.push_back(item.toInt());
    return v;
}

void AppSettings::saveViewState(const QString& projectPath, const ViewState& v)
{
    QSettings s;
    s.beginGroup(projectGroup(projectPath));
    s.setValue(QStringLiteral("path"), QFileInfo(projectPath).absoluteFilePath());
    s.setValue(QStringLiteral("sort"), QString::fromUtf8(itemSortName(v.query.sort)));
    s.setValue(QStringLiteral("filter"), QString::fromUtf8(itemFilterName(v.query.filter)));
    s.setValue(QStringLiteral("class"), v.query.classId);
    s.setValue(QStringLiteral("minConfidence"), v.query.minConfidence);
    s.setValue(QStringLiteral("maxConfidence"), v.query.maxConfidence);
    s.setValue(QStringLiteral("search"), QString::fromStdString(v.query.search));
    s.setValue(QStringLiteral("thumbnailSize"), v.thumbnailSize);
    s.setValue(QStringLiteral("currentItem"), v.currentItem);
    s.setValue(QStringLiteral("topItem"), v.topItem);
    QVariantList selected;
    if (v.selectedItems.size() <= std::size_t(kMaxSavedSelection))
        for (const auto item : v.selectedItems)
            selected.append(item);
    s.setValue(QStringLiteral("selected"), selected);
}

bool AppSettings::advanceAfterLabel()
{
    return QSettings().value(QStringLiteral("advanceAfterLabel"), true).toBool();
}

void AppSettings::setAdvanceAfterLabel(bool on)
{
    QSettings().setValue(QStringLiteral("advanceAfterLabel"), on);
}

QString AppSettings::newProjectEncoder()
{
    return QSettings().value(QStringLiteral("newProjectEncoder"), QStringLiteral("pca:64")).toString();
}

void AppSettings::setNewProjectEncoder(const QString& spec)
{
    QSettings().setValue(QStringLiteral("newProjectEncoder"), spec);
}

QByteArray AppSettings::windowGeometry()
{
    return QSettings().value(QStringLiteral("window/geometry")).toByteArray();
}

QByteArray AppSettings::windowState()
{
    return QSettings().value(QStringLiteral("window/state")).toByteArray();
}

void AppSettings::saveWindow(const QByteArray& geometry, const QByteArray& state)
{
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), geometry);
    s.setValue(QStringLiteral("window/state"), state);
}

} // namespace labelprop::ui
