#include "ui/EncoderDialog.h"

#include "core/encoders/PcaEncoder.h"

#include <QComboBox>
#include <QFileInfo>
#include <QSignalBlocker>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>

namespace labelprop::ui {

namespace {
enum Kind { Pca, Vit, TorchScript };

Kind kindOf(const QString& spec)
{
    const QString s = spec.trimmed().toLower();
    if (s.startsWith(QStringLiteral("vit:")))
        return Vit;
    if (s.startsWith(QStringLiteral("torchscript:")))
        return TorchScript;
    return Pca;
}

// The file a vit: or torchscript: spec names (its first item after the colon).
QString specFile(const QString& spec)
{
    return spec.trimmed().section(QLatin1Char(':'), 1).section(QLatin1Char(','), 0, 0);
}
} // namespace

EncoderDialog::EncoderDialog(const QString& spec, bool torchAvailable, QWidget* parent)
    : QDialog(parent)
{
    setWindowTitle(tr("Encoder"));
    m_kind = new QComboBox(this);
    m_kind->setObjectName(QStringLiteral("encoderKind"));
    m_kind->addItem(tr("PCA on pixels (built in, no model file)"));
    m_kind->addItem(tr("Vision Transformer weights (.pth, .pt, .safetensors)…"));
    m_kind->addItem(tr("TorchScript module…"));
    if (!torchAvailable)
        for (int k : {Vit, TorchScript})
            m_kind->setItemData(k, 0, Qt::UserRole - 1); // disabled: this build has no LibTorch
    m_spec = new QLineEdit(spec, this);
    m_spec->setObjectName(QStringLiteral("encoderSpec"));
    m_spec->setMinimumWidth(520);
    auto* browse = new QPushButton(tr("Choose File…"), this);
    m_help = new QLabel(this);
    m_help->setObjectName(QStringLiteral("encoderHelp"));
    m_help->setWordWrap(true);
    m_help->setTextFormat(Qt::RichText);
    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("encoderError"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #b71c1c;"));
    m_error->hide();

    auto* form = new QFormLayout;
    form->addRow(tr("Encoder:"), m_kind);
    auto* specRow = new QHBoxLayout;
    specRow->addWidget(m_spec, 1);
    specRow->addWidget(browse);
    form->addRow(tr("Spec:"), specRow);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_help);
    layout->addWidget(m_error);
    layout->addWidget(buttons);
    // The dialog grows with its help text instead of cutting it off (a wrapped label's height
    // depends on its width, which a plain layout does not ask again when the text changes).
    layout->setSizeConstraint(QLayout::SetMinimumSize);

    m_kind->setCurrentIndex(kindOf(spec));
    kindChanged();
    connect(m_kind, &QComboBox::activated, this, [this] {
        kindChanged();
        if (m_kind->currentIndex() != Pca && kindOf(m_spec->text()) != Kind(m_kind->currentIndex()))
            chooseFile();
    });
    connect(browse, &QPushButton::clicked, this, &EncoderDialog::chooseFile);
    connect(m_spec, &QLineEdit::textChanged, this, [this, buttons] {
        buttons->button(QDialogButtonBox::Ok)->setEnabled(!m_spec->text().trimmed().isEmpty());
        m_error->hide();
        // The choice above follows what is typed: "vit:..." is a ViT, whatever was picked before.
        if (const Kind typed = kindOf(m_spec->text()); typed != Kind(m_kind->currentIndex())) {
            m_kind->setCurrentIndex(typed);
            kindChanged();
        }
    });
    connect(buttons, &QDialogButtonBox::accepted, this, [this] {
        const QString problem = specProblem();
        if (problem.isEmpty()) {
            accept();
            return;
        }
        m_error->setText(problem);
        m_error->show();
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

QString EncoderDialog::specProblem() const
{
    const QString s = spec();
    switch (kindOf(s)) {
    case Pca: {
        if (!parsePcaSpec(s.toStdString()))
            return tr("“%1” is not a PCA spec. Write it as pca:DIMS followed by options, e.g. pca:64,rgb.").arg(s);
        return {};
    }
    case Vit:
    case TorchScript: {
        const QString file = specFile(s);
        if (file.isEmpty())
            return tr("The spec names no model file. Choose one with Choose File…, or type its path after the colon.");
        if (!QFileInfo(file).isFile())
            return tr("There is no file %1. Check the path, or choose the file with Choose File….").arg(file);
        if (!QFileInfo(file).isReadable())
            return tr("%1 cannot be read. Check its permissions.").arg(file);
        return {};
    }
    }
    return {};
}

QString EncoderDialog::spec() const
{
    return m_spec->text().trimmed();
}

void EncoderDialog::kindChanged()
{
    switch (Kind(m_kind->currentIndex())) {
    case Pca:
        if (kindOf(m_spec->text()) != Pca) {
            const QSignalBlocker quiet(m_spec); // not a typed change: the choice stays PCA
            m_spec->setText(QStringLiteral("pca:64"));
        }
        m_help->setText(tr("Principal components of the pixels: quick, needs no model, and good enough for small "
                           "grey images such as Fashion-MNIST. Options: <tt>pca:DIMS[,whiten][,rgb][,size=S]</tt>."));
        break;
    case Vit:
        m_help->setText(tr("A ViT checkpoint as timm, torchvision, DINO, DINOv2 or DeiT save it (the architecture "
                           "is read from the file). Options after a comma: <tt>size=224</tt> (input pixels), "
                           "<tt>pool=cls|mean</tt>, <tt>norm=imagenet|clip|half</tt>, <tt>device=cpu|cuda</tt>, "
                           "<tt>dtype=fp32|bf16|fp16</tt>, <tt>decode=full</tt> (large JPEGs are otherwise read at a "
                           "reduced scale, 2-4x faster). On a CPU a ViT encodes a few images a second (the README "
                           "has the figures); each image is encoded once and cached, per encoder."));
        break;
    case TorchScript:
        m_help->setText(tr("Any image model saved with <tt>torch.jit.script</tt> or <tt>torch.jit.trace</tt> that "
                           "maps [B, 3, S, S] images to [B, D] features. <tt>size=S</tt> is required; "
                           "<tt>norm=</tt>, <tt>crop=</tt> as for ViT weights."));
        break;
    }
}

void EncoderDialog::chooseFile()
{
    const bool vit = m_kind->currentIndex() == Vit;
    if (m_kind->currentIndex() == Pca)
        m_kind->setCurrentIndex(Vit);
    const QString file = QFileDialog::getOpenFileName(
        this, vit ? tr("ViT weights") : tr("TorchScript module"), QString(),
        vit ? tr("Weights (*.pth *.pt *.bin *.safetensors);;All files (*)") : tr("TorchScript (*.pt *.pth *.ts);;All files (*)"));
    if (file.isEmpty())
        return;
    m_spec->setText((vit ? QStringLiteral("vit:") : QStringLiteral("torchscript:")) + file
                    + (vit ? QString() : QStringLiteral(",size=224")));
    kindChanged();
}

} // namespace labelprop::ui
