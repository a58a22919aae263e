#pragma once
// Choosing the encoder that embeds a project's images: the built-in PCA on pixels, the native ViT
// with a weights file the user brings (timm, torchvision, DINO, DeiT; .pth, .pt or .safetensors),
// or a TorchScript module. The result is an encoder spec as labelprop-cli takes it (the line
// edit shows it, so options such as size= or pool=mean can be typed).
//
// Thread-safety: GUI thread only.

#include <QDialog>

class QComboBox;
class QLabel;
class QLineEdit;

namespace labelprop::ui {

class EncoderDialog final : public QDialog {
    Q_OBJECT
public:
    // `spec`: the encoder now (e.g. "pca:64"); `torchAvailable`: this build has LibTorch.
    EncoderDialog(const QString& spec, bool torchAvailable, QWidget* parent = nullptr);

    [[nodiscard]] QString spec() const;
    // Why the spec as typed cannot be used (one or two whole sentences), or empty. Checked on OK;
    // the encoder itself checks the rest (options, the weights' contents) when it is made.
    [[nodiscard]] QString specProblem() const;

private:
    void kindChanged();
    void chooseFile();

    QComboBox* m_kind = nullptr;
    QLineEdit* m_spec = nullptr;
    QLabel* m_help = nullptr;
    QLabel* m_error = nullptr; // specProblem(), shown after OK
};

} // namespace labelprop::ui
