#include "ui/ExportDialog.h"

#include "ui/ProjectSession.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QTemporaryFile>
#include <QVBoxLayout>

namespace labelprop::ui {

namespace {

QString number(std::int64_t n)
{
    return QLocale().toString(qlonglong(n));
}

// The file name's extension for a format; an ImageFolder tree is a folder (no extension).
QString extensionOf(ExportFormat format)
{
    switch (format) {
    case ExportFormat::Csv:
        return QStringLiteral(".csv");
    case ExportFormat::Json:
        return QStringLiteral(".json");
    case ExportFormat::ImageFolder:
        return {};
    }
    return {};
}

} // namespace

ExportDialog::ExportDialog(ProjectSession* session, const QString& suggestedFile, QWidget* parent)
    : QDialog(parent)
    , m_session(session)
{
    setWindowTitle(tr("Export the Cleaned Labels"));
    setObjectName(QStringLiteral("exportDialog"));

    m_file = new QLineEdit(suggestedFile, this);
    m_file->setObjectName(QStringLiteral("exportFile"));
    m_file->setMinimumWidth(420);
    auto* choose = new QPushButton(tr("Choose…"), this);
    auto* fileRow = new QHBoxLayout;
    fileRow->addWidget(m_file, 1);
    fileRow->addWidget(choose);

    m_format = new QComboBox(this);
    m_format->setObjectName(QStringLiteral("exportFormat"));
    m_format->addItem(tr("CSV (path, label, source, confidence, flagged)"), int(ExportFormat::Csv));
    m_format->addItem(tr("JSON (labelprop-labels)"), int(ExportFormat::Json));
    m_format->addItem(tr("ImageFolder tree (a folder per class)"), int(ExportFormat::ImageFolder));
    m_link = new QComboBox(this);
    m_link->setObjectName(QStringLiteral("exportLink"));
    m_link->addItem(tr("Copy the images"), int(LinkMode::Copy));
    m_link->addItem(tr("Hard links (same disk, no extra space)"), int(LinkMode::HardLink));
    m_link->addItem(tr("Symbolic links"), int(LinkMode::SymLink));

    m_imported = new QCheckBox(tr("Labels imported with the data"), this);
    m_imported->setObjectName(QStringLiteral("exportImported"));
    m_imported->setChecked(true);
    m_fixes = new QCheckBox(tr("Fixes people accepted in review"), this);
    m_fixes->setObjectName(QStringLiteral("exportFixes"));
    m_fixes->setChecked(true);
    m_pseudo = new QCheckBox(tr("Propagated labels with a confidence of at least"), this);
    m_pseudo->setObjectName(QStringLiteral("exportPseudo"));
    m_threshold = new QDoubleSpinBox(this);
    m_threshold->setObjectName(QStringLiteral("exportThreshold"));
    m_threshold->setRange(0.0, 1.0);
    m_threshold->setSingleStep(0.05);
    m_threshold->setDecimals(2);
    m_threshold->setValue(0.9);
    m_threshold->setEnabled(false);
    auto* pseudoRow = new QHBoxLayout;
    pseudoRow->addWidget(m_pseudo);
    pseudoRow->addWidget(m_threshold);
    pseudoRow->addStretch(1);
    auto* include = new QVBoxLayout;
    include->addWidget(new QLabel(tr("Labels people gave, always;"), this));
    include->addWidget(m_imported);
    include->addWidget(m_fixes);
    include->addLayout(pseudoRow);

    m_flagged = new QComboBox(this);
    m_flagged->setObjectName(QStringLiteral("exportFlagged"));
    m_flagged->addItem(tr("Write them, marked flagged"), int(FlaggedPolicy::Mark));
    m_flagged->addItem(tr("Leave them out"), int(FlaggedPolicy::Drop));
    m_flagged->addItem(tr("Write them unmarked"), int(FlaggedPolicy::Keep));
    m_unreadable = new QComboBox(this);
    m_unreadable->setObjectName(QStringLiteral("exportUnreadable"));
    m_unreadable->addItem(tr("Leave them out"), int(UnreadablePolicy::Drop));
    m_unreadable->addItem(tr("Write them, marked unreadable"), int(UnreadablePolicy::Mark));

    auto* form = new QFormLayout;
    form->addRow(tr("Write to:"), fileRow);
    form->addRow(tr("Format:"), m_format);
    form->addRow(tr("Images:"), m_link);
    form->addRow(tr("Include:"), include);
    form->addRow(tr("Flagged, not reviewed:"), m_flagged);
    form->addRow(tr("Files that cannot be read:"), m_unreadable);

    m_summary = new QLabel(tr("Counting…"), this);
    m_summary->setObjectName(QStringLiteral("exportSummary"));
    m_summary->setWordWrap(true);
    m_table = new QTableWidget(0, 3, this);
    m_table->setObjectName(QStringLiteral("exportCounts"));
    m_table->setHorizontalHeaderLabels({tr("Class"), tr("Given"), tr("Propagated")});
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionMode(QAbstractItemView::NoSelection);
    m_table->setMinimumHeight(160);
    m_command = new QLabel(this);
    m_command->setObjectName(QStringLiteral("exportCommand"));
    m_command->setWordWrap(true);
    m_command->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_command->setForegroundRole(QPalette::PlaceholderText);
    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("exportError"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #b71c1c;"));
    m_error->hide();
    m_busy = new QProgressBar(this);
    m_busy->setRange(0, 0); // the store writes in one step: busy, with no fraction to show
    m_busy->setFormat(tr("Writing…"));
    m_busy->hide();

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    m_write = buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
    m_write->setObjectName(QStringLiteral("exportWrite"));
    m_write->setDefault(true);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_summary);
    layout->addWidget(m_table, 1);
    layout->addWidget(m_command);
    layout->addWidget(m_error);
    layout->addWidget(m_busy);
    layout->addWidget(buttons);

    m_previewTimer.setSingleShot(true);
    m_previewTimer.setInterval(150);
    connect(&m_previewTimer, &QTimer::timeout, this, &ExportDialog::requestPreview);
    for (auto* combo : {m_format, m_link, m_flagged, m_unreadable})
        connect(combo, &QComboBox::currentIndexChanged, this, &ExportDialog::optionsChanged);
    for (auto* box : {m_imported, m_fixes, m_pseudo})
        connect(box, &QCheckBox::toggled, this, &ExportDialog::optionsChanged);
    connect(m_threshold, &QDoubleSpinBox::valueChanged, this, &ExportDialog::optionsChanged);
    connect(m_file, &QLineEdit::textChanged, this, [this] {
        m_error->hide();
        m_command->setText(commandLine());
    });
    connect(choose, &QPushButton::clicked, this, &ExportDialog::chooseFile);
    connect(m_write, &QPushButton::clicked, this, &ExportDialog::startWriting);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    connect(session, &ProjectSession::exportPreviewed, this, [this](const ExportPreview& preview) {
        m_previewsPending = std::max(0, m_previewsPending - 1);
        if (m_previewsPending == 0 && !m_previewTimer.isActive())
            showPreview(preview);
    });
    connect(session, &ProjectSession::exportFailed, this, [this](const QString& message) {
        m_previewsPending = std::max(0, m_previewsPending - 1);
        m_summary->setText(message);
        m_table->setRowCount(0);
    });
    connect(session, &ProjectSession::exported, this, [this](const QString& written, const ExportReport& report) {
        if (!m_writing)
            return;
        m_writing = false;
        emit this->written(written, report);
        accept();
    });
    connect(session, &ProjectSession::storeError, this, [this](const QString& message) {
        if (!m_writing)
            return;
        m_writing = false;
        showError(message);
    });
    optionsChanged();
}

ExportOptions ExportDialog::options() const
{
    ExportOptions o;
    o.format = ExportFormat(m_format->currentData().toInt());
    o.link = LinkMode(m_link->currentData().toInt());
    o.includeImported = m_imported->isChecked();
    o.level = m_pseudo->isChecked() ? ExportLevel::Pseudo : m_fixes->isChecked() ? ExportLevel::Fixed : ExportLevel::Human;
    o.pseudoThreshold = float(m_threshold->value());
    o.flagged = FlaggedPolicy(m_flagged->currentData().toInt());
    o.unreadable = UnreadablePolicy(m_unreadable->currentData().toInt());
    return o;
}

QString ExportDialog::file() const
{
    return m_file->text().trimmed();
}

QString ExportDialog::summary() const
{
    return m_summary->text();
}

QString ExportDialog::error() const
{
    return m_error->isHidden() ? QString() : m_error->text();
}

QString ExportDialog::commandLine() const
{
    const auto o = options();
    QStringList args{QStringLiteral("labelprop-cli project export"), m_session->projectPath(), QStringLiteral("--format")};
    args << (o.format == ExportFormat::Csv ? QStringLiteral("csv") : o.format == ExportFormat::Json ? QStringLiteral("json") : QStringLiteral("imagefolder"));
    if (o.format == ExportFormat::ImageFolder)
        args << QStringLiteral("--link")
             << (o.link == LinkMode::Copy ? QStringLiteral("copy") : o.link == LinkMode::HardLink ? QStringLiteral("hardlink") : QStringLiteral("symlink"));
    args << QStringLiteral("--include")
         << (o.level == ExportLevel::Pseudo ? QStringLiteral("pseudo:%1").arg(double(o.pseudoThreshold), 0, 'f', 2)
             : o.level == ExportLevel::Fixed ? QStringLiteral("fixed") : QStringLiteral("human"));
    if (!o.includeImported)
        args << QStringLiteral("--no-imported");
    args << QStringLiteral("--flagged")
         << (o.flagged == FlaggedPolicy::Mark ? QStringLiteral("mark") : o.flagged == FlaggedPolicy::Drop ? QStringLiteral("drop") : QStringLiteral("keep"));
    args << QStringLiteral("--unreadable") << (o.unreadable == UnreadablePolicy::Drop ? QStringLiteral("drop") : QStringLiteral("mark"));
    args << QStringLiteral("-o") << file();
    return tr("The same from the command line: %1").arg(args.join(QLatin1Char(' ')));
}

void ExportDialog::optionsChanged()
{
    const auto o = options();
    m_link->setEnabled(o.format == ExportFormat::ImageFolder);
    m_threshold->setEnabled(m_pseudo->isChecked());
    m_fixes->setEnabled(!m_pseudo->isChecked()); // propagated labels include the fixes
    // The name follows the format: fm-labels.csv becomes fm-labels.json or the folder fm-labels.
    QString name = file();
    for (const auto format : {ExportFormat::Csv, ExportFormat::Json})
        if (name.endsWith(extensionOf(format)))
            name.chop(extensionOf(format).size());
    if (!name.isEmpty())
        m_file->setText(name + extensionOf(o.format));
    m_command->setText(commandLine());
    m_error->hide();
    m_previewTimer.start();
}

void ExportDialog::requestPreview()
{
    ++m_previewsPending;
    m_session->exportLabels({}, options(), true);
}

void ExportDialog::showPreview(const ExportPreview& preview)
{
    const auto& r = preview.report;
    QStringList parts;
    parts << tr("people %1").arg(number(r.human));
    if (r.imported)
        parts << tr("imported %1").arg(number(r.imported));
    if (r.fixed)
        parts << tr("accepted fixes %1").arg(number(r.fixed));
    if (r.pseudo)
        parts << tr("propagated %1").arg(number(r.pseudo));
    QString text = tr("Will write %1 labels (%2).").arg(number(r.written), parts.join(QStringLiteral(", ")));
    if (r.flaggedMarked)
        text += QLatin1Char(' ') + tr("%1 flagged and not reviewed, marked.").arg(number(r.flaggedMarked));
    if (r.flaggedDropped)
        text += QLatin1Char(' ') + tr("%1 flagged and not reviewed, left out.").arg(number(r.flaggedDropped));
    if (r.unreadableDropped)
        text += QLatin1Char(' ') + tr("%1 files that cannot be read, left out.").arg(number(r.unreadableDropped));
    if (r.unreadableMarked)
        text += QLatin1Char(' ') + tr("%1 files that cannot be read, marked.").arg(number(r.unreadableMarked));
    if (r.stalePropagation)
        text += QLatin1Char(' ') + tr("The propagation is older than the last labels.");
    m_summary->setText(text);
    m_table->setRowCount(int(preview.classes.size()));
    for (int row = 0; row < int(preview.classes.size()); ++row) {
        const auto& c = preview.classes[std::size_t(row)];
        m_table->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(c.name)));
        for (const auto& [column, value] : {std::pair{1, c.given}, std::pair{2, c.propagated}}) {
            auto* cell = new QTableWidgetItem(number(value));
            cell->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            m_table->setItem(row, column, cell);
        }
    }
}

void ExportDialog::showError(const QString& message)
{
    m_busy->hide();
    m_write->setEnabled(true);
    m_error->setText(message);
    m_error->show();
}

void ExportDialog::chooseFile()
{
    const auto format = options().format;
    const QString picked = format == ExportFormat::ImageFolder
                               ? QFileDialog::getSaveFileName(this, tr("A new folder for the ImageFolder tree"), file())
                               : QFileDialog::getSaveFileName(this, tr("Export the cleaned labels"), file(),
                                                              format == ExportFormat::Csv ? tr("CSV (*.csv)") : tr("JSON (*.json)"));
    if (!picked.isEmpty())
        m_file->setText(picked);
}

QString ExportDialog::checkTarget()
{
    const QString target = file();
    if (target.isEmpty())
        return tr("Give the file to write.");
    const QFileInfo info(target);
    const QString folder = info.absolutePath();
    if (!QFileInfo(folder).isDir())
        return tr("There is no folder %1. Choose a place that exists.").arg(QDir::toNativeSeparators(folder));
    {
        QTemporaryFile probe(folder + QStringLiteral("/.labelprop-export-check-XXXXXX"));
        if (!probe.open())
            return tr("Labelprop cannot write in %1. Choose another place.").arg(QDir::toNativeSeparators(folder));
    }
    const bool tree = options().format == ExportFormat::ImageFolder;
    if (info.exists() && tree != info.isDir())
        return tree ? tr("%1 is a file; an ImageFolder tree needs a folder name.").arg(info.fileName())
                    : tr("%1 is a folder. Give a file name.").arg(info.fileName());
    if (info.exists()) {
        const auto answer = QMessageBox::question(
            this, tr("Replace it?"),
            tree ? tr("%1 exists. Replace it with this export? Only an earlier export is replaced; any other folder is left "
                      "as it is.").arg(info.fileName())
                 : tr("%1 exists. Replace it? The old file stays until the new one is complete.").arg(info.fileName()));
        if (answer != QMessageBox::Yes)
            return tr("Nothing was written.");
    }
    return {};
}

void ExportDialog::startWriting()
{
    if (m_writing)
        return;
    if (const QString problem = checkTarget(); !problem.isEmpty()) {
        showError(problem);
        return;
    }
    m_error->hide();
    m_writing = true;
    m_write->setEnabled(false);
    m_busy->show();
    m_session->exportLabels(file(), options());
}

} // namespace labelprop::ui
