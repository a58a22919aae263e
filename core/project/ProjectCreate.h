#pragma once
// Creating a project from an image source (a folder, an ImageFolder tree, a CSV of paths, IDX
// files): the new project file, its items and the labels the source carries. The same steps for
// `labelprop-cli project create` and the desktop app's "New project".
//
// Thread-safety: runs on any one thread (it uses worker threads for hashing); the returned store
// belongs to the caller's thread.

#include "core/base/Error.h"
#include "core/project/ProjectImport.h"
#include "core/project/ProjectStore.h"
#include "core/sources/ImageSource.h"

#include <memory>
#include <string>
#include <vector>

namespace labelprop {

struct ProjectCreateRequest {
    std::string project;                 // the new file, e.g. pets.labelprop (must not exist)
    std::string source;                  // a folder, a .csv file or IDX files
    SourceKind kind = SourceKind::Auto;
    std::string encoder = "pca:64";      // checked with makeEncoder
    std::vector<std::string> classNames; // integer labels i become classNames[i] (IDX data); may be empty
    bool importLabels = true;
    std::string holder = "labelprop";    // who holds the lock, for other processes' messages
    int threads = 0;
    ProgressCallback progress;           // (items hashed, items in the source); false cancels
};

struct CreatedProject {
    std::unique_ptr<ProjectStore> store; // open for writing
    std::string sourceDescription;       // ImageSource::describe()
    ImportReport report;
    std::string encoder; // the encoder the project got: the one asked for, or a PCA that fits fewer images
    std::string encoderNote; // why it differs from the one asked for; empty when it does not
};

// Removes a project file and everything beside it that belongs to it (-wal, -shm, -lock, -cache),
// for a project that never finished being made (nothing a person did is in it).
void removeProjectFiles(const std::string& project);

// Creates the project and imports the source. A PCA encoder asking for more components than the
// images found allow is narrowed to fit them (encoderSpecFittingImages), so a small folder does
// not fail after it was embedded. On failure after the file was made (a cancelled or
// failed import), the half-made project file is removed, so a retry starts clean.
[[nodiscard]] Expected<CreatedProject> createProjectFromSource(const ProjectCreateRequest& request);

// Class names from a text file, one per line (blank lines and surrounding spaces ignored).
[[nodiscard]] Expected<std::vector<std::string>> readClassNamesFile(const std::string& path);

} // namespace labelprop
