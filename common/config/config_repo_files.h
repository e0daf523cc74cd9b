// How the files of config repositories (docs/config-repos.md) sit among a
// config revision's files: as "config-repo/<id>/<path in the repository>",
// so a stored revision parses whole and `config show` lists them. Main
// config files may not use that prefix.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/config/model.h"

namespace gantry::config {

inline constexpr absl::string_view kConfigRepoPathPrefix = "config-repo/";

std::string ConfigRepoStoredPath(absl::string_view repo, absl::string_view path_in_repo);
// The repo id of a stored path; "" for a main config file.
std::string ConfigRepoOfPath(absl::string_view stored);
// The path inside its repository; a main config file's path unchanged.
std::string PathInConfigRepo(absl::string_view stored);
// Sets each file's config_repo from its stored path.
void MarkConfigRepoFiles(std::vector<ConfigFile>& files);

}  // namespace gantry::config
