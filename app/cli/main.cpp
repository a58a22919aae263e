// labelprop-cli: the file-based command line over the engine. Each subcommand reads files,
// writes files and exits non-zero with one clear line on bad input.

#include "Commands.h"

#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct Subcommand {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>&);
};

constexpr Subcommand kSubcommands[] = {
    {"embed", "encode a folder, ImageFolder tree, CSV or IDX files into emb.npy + items.csv", labelprop::cli::runEmbed},
    {"propagate", "spread a few labels to every item; confidence, margin, likely-wrong labels",
     labelprop::cli::runPropagate},
    {"audit", "rank likely label errors in a fully labelled set, with suggested fixes", labelprop::cli::runAudit},
    {"classify", "label new items by a weighted kNN vote against labelled or propagated items",
     labelprop::cli::runClassify},
    {"knn", "write every item's nearest neighbours (exact or approximate) as an edge list", labelprop::cli::runKnn},
    {"suggest", "pick the items to label next (random, uncertainty or density strategies)", labelprop::cli::runSuggest},
    {"simulate", "the paper's experiments with a simulated annotator; CSV tables and PNG plots",
     labelprop::cli::runSimulate},
    {"demo", "run the whole pipeline on Fashion-MNIST (the built-in demo)", labelprop::cli::runDemo},
    {"project", "a labeling project file: create, label, undo, status, propagate, audit, export (see project --help)",
     labelprop::cli::runProject},
};

void printUsage(std::ostream& out)
{
    out << "usage: labelprop-cli <command> [options]\n\ncommands:\n";
    for (const auto& s : kSubcommands)
        out << "  " << s.name << std::string(12 - std::strlen(s.name), ' ') << s.summary << "\n";
    out << "\nRun 'labelprop-cli <command> --help' for a command's options.\n";
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        printUsage(std::cerr);
        return 2;
    }
    const std::string command = argv[1];
    if (command == "--help" || command == "-h" || command == "help") {
        printUsage(std::cout);
        return 0;
    }
    const std::vector<std::string> args(argv + 2, argv + argc);
    for (const auto& s : kSubcommands) {
        if (command != s.name)
            continue;
        try {
            return s.run(args);
        } catch (const std::exception& e) {
            // Expected failures are values; reaching here means a broken invariant or no memory.
            std::cerr << "labelprop-cli " << command << ": internal error: " << e.what() << "\n";
            return 1;
        }
    }
    std::cerr << "labelprop-cli: unknown command '" << command << "'\n\n";
    printUsage(std::cerr);
    return 2;
}
