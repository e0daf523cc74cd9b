// GoCD's material filters (docs/config.md, "Materials"): whether the files
// a set of new commits changed make a git material trigger its pipeline.
//
//   ignore (old name blacklist): triggers unless every changed file matches
//                                an ignore pattern;
//   includes (old name whitelist): triggers only if some changed file
//                                matches an includes pattern.
//
// Patterns are Ant-style, as GoCD's, relative to the repository's root:
// `*` matches within one path segment, `**` any number of segments, `?` one
// character; a pattern that names a directory also matches everything
// below it (`docs` is `docs/**`).
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/config/model.h"

namespace gantry::config {

bool PathMatchesPattern(absl::string_view pattern, absl::string_view path);

// Whether commits that changed `files` trigger `material`. No filter, or
// no file listed (a merge or an empty commit): true.
bool FilesTrigger(const Material& material, const std::vector<std::string>& files);

}  // namespace gantry::config
