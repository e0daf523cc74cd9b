// Puts the main config and the config repositories' files together into
// one revision (docs/config-repos.md) and validates them as one config:
// templates, environments and upstream references resolve across both, and
// a pipeline name belongs to one of them only.
//
// Files are in stored form (common/config/config_repo_files.h). A revision
// stores the main files first, then each repo's (by id, then path). For
// parsing, the side being changed goes last, so the errors of a clash land
// in its own files: the main files for `config apply`, the repo's for a
// commit.
#pragma once

#include <string>
#include <vector>

#include "common/config/model.h"
#include "common/config/parser.h"

namespace gantry::config_repo {

struct Assembled {
  std::vector<config::ConfigFile> files;  // in stored order
  config::ParseResult parsed;             // of all of them
};

// `config apply`: the new main files with the repo files of `current` (the
// revision in force) for the repos the new main config still lists.
Assembled AssembleMainApply(const std::vector<config::ConfigFile>& main,
                            const std::vector<config::ConfigFile>& current);

// A commit of config repo `repo`: `current` with that repo's files replaced
// by `repo_files` (paths inside the repository).
Assembled AssembleRepoCommit(const std::string& repo,
                             const std::vector<config::ConfigFile>& repo_files,
                             const std::vector<config::ConfigFile>& current);

}  // namespace gantry::config_repo
