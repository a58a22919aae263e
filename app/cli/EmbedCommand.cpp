// `embed`: images -> emb.npy (n x d float32, rows L2-normalised) + items.csv (index,path,label).

#include "CommandSupport.h"
#include "Commands.h"

#include "core/formats/Csv.h"
#include "core/encoders/Encoder.h"
#include "core/sources/ImageSource.h"
#include "core/formats/NpyFile.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace labelprop::cli {

int runEmbed(const std::vector<std::string>& args)
{
    ArgumentParser parser("embed",
                          "Encode a source into embeddings. SOURCE is a folder of images (searched recursively: jpg, "
                          "png, bmp, webp, tiff), an ImageFolder tree (class = sub-folder), a CSV of path,label, a "
                          "folder of IDX files (MNIST/Fashion-MNIST, gzipped or not) or a .npy of precomputed "
                          "embeddings. Corrupt images are skipped and listed.");
    parser.addPositional("SOURCE", "what to encode");
    parser.addOption("encoder", "SPEC", "pca:DIMS[,whiten][,rgb][,size=S][,sample=N]; vit:WEIGHTS[,size=S][,pool=cls|mean][,decode=fast|full][,device=..][,dtype=..] (a timm, torchvision, DINO, DINOv2 or DeiT ViT, .pth or .safetensors); torchscript:FILE,size=S[,norm=..]", "pca:64");
    parser.addOption("source-type", "KIND", "auto | folder | imagefolder | csv | idx", "auto");
    parser.addOption("output", "FILE.npy", "embeddings to write", std::nullopt, 'o');
    parser.addOption("items", "FILE.csv", "item table to write (index,path,label); default: items.csv beside --output");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto output = parser.required("output");
    if (!output)
        return reportError(output.error());
    const std::string source = *parser.positional(0);
    const std::string itemsPath =
        parser.value("items").value_or((std::filesystem::path(*output).parent_path() / "items.csv").string());

    Stopwatch clock;
    EncodedSet encoded;
    if (source.ends_with(".npy")) {
        // Precomputed embeddings: validate, normalise and pass through with an item per row.
        auto x = loadEmbeddings(source);
        if (!x)
            return reportError(x.error());
        encoded.embeddings = std::move(*x);
        encoded.items.resize(size_t(encoded.embeddings.rows()));
        for (size_t i = 0; i < encoded.items.size(); ++i)
            encoded.items[i].path = source + "#" + std::to_string(i);
    } else {
        const auto kind = parseSourceKind(*parser.value("source-type"));
        if (!kind)
            return reportError({"--source-type: '" + *parser.value("source-type")
                                + "' is not a source type; use auto, folder, imagefolder, csv or idx"});
        auto encoder = makeEncoder(*parser.value("encoder"));
        if (!encoder)
            return reportError(encoder.error());
        auto images = openImageSource(source, *kind);
        if (!images)
            return reportError(images.error());
        std::fprintf(stderr, "%s\n", (*images)->describe().c_str());
        for (const auto& warning : (*images)->warnings())
            std::fprintf(stderr, "warning: %s\n", warning.c_str());
        int lastPercent = -1;
        auto result = (*encoder)->encode(**images, [&](size_t done, size_t total) {
            const int percent = total ? int(100 * done / total) : 100;
            if (percent / 10 != lastPercent / 10) {
                std::fprintf(stderr, "encoding: %d%%\n", percent);
                lastPercent = percent;
            }
            return true;
        });
        if (!result)
            return reportError(result.error());
        encoded = std::move(*result);
        for (const auto& s : encoded.skipped)
            std::fprintf(stderr, "skipped: %s\n", s.c_str());
        if (encoded.items.empty())
            return reportError({source + ": no image could be read (" + std::to_string(encoded.skipped.size())
                                + " skipped); check the path and the file types"});
    }
    if (auto written = writeNpyMatrix(*output, encoded.embeddings); !written)
        return reportError(written.error());
    if (auto written = writeItemsCsv(itemsPath, encoded.items); !written)
        return reportError(written.error());
    std::printf("%lld items x %lld dims in %.2f s%s; wrote %s and %s\n", (long long)encoded.embeddings.rows(),
                (long long)encoded.embeddings.cols(), clock.seconds(),
                encoded.skipped.empty() ? "" : (", " + std::to_string(encoded.skipped.size()) + " skipped").c_str(),
                output->c_str(), itemsPath.c_str());
    return 0;
}

} // namespace labelprop::cli
