// Which local files a job's ArtifactSpec uploads, and where each goes in the
// artifact tree (GoCD's rules):
//
//   source                  destination  stored as
//   target/app.jar          pkg          pkg/app.jar
//   target/site (a dir)     ""           site/<every file below it>
//   target/*.jar            lib          lib/<name>.jar
//   target/**/*.xml         reports      reports/<dir below target>/<name>.xml
//
// A glob (`*`: any run of characters but '/', `?`: one character but '/',
// `**`: any number of directories) stores each match by its path below the
// glob's fixed prefix (the components before the first wildcard), so for a
// single `*` that is its name; a directory that matches brings every file
// below it. `*` and `?` also match a leading '.'. Other characters,
// including '[', are literal.
//
// Refused (INVALID_ARGUMENT / PERMISSION_DENIED, message names the source):
// an absolute source or destination, one with "..", and any file whose real
// path leaves the job's working directory (a symbolic link pointing out).
// A source that matches nothing is NOT_FOUND:
//   artifact source 'x' matched nothing
// Symbolic links that stay inside are followed; special files (sockets,
// FIFOs, devices) are skipped.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/artifact_handlers.h"
#include "gantry/v1/agent.pb.h"

namespace gantry::agent {

// `job_root` is the real path of the job's working directory. Items come
// out sorted by artifact path, each path once.
absl::StatusOr<std::vector<ArtifactItem>> ExpandArtifactSpec(
    const std::string& job_root, const gantry::v1::ArtifactSpec& spec);

// Matches one path component against a glob component (`*` and `?`).
bool MatchGlobComponent(absl::string_view pattern, absl::string_view name);

}  // namespace gantry::agent
