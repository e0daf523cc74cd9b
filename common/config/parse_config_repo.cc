// Reads the top-level `config_repos:` section (docs/config-repos.md): each
// entry is a repository id to `{git: URL, branch: B, pattern: GLOB}`.
#include "absl/strings/str_cat.h"
#include "common/config/parse_internal.h"

namespace gantry::config::internal {

std::vector<ConfigRepo> ParseConfigRepos(YamlReader& reader, const Field& field) {
  static const KeySet kRepoKeys = {{"git", "branch", "pattern"}, {}};
  std::vector<ConfigRepo> out;
  for (const Field& entry :
       reader.Entries(field, "'config_repos'", "config repo", /*ignore_case=*/true)) {
    if (!CheckName(reader, entry.key_location, "config repo", entry.key)) continue;
    std::string what = absl::StrCat("config repo '", entry.key, "'");
    std::optional<Fields> fields = reader.Object(entry, what, kRepoKeys);
    if (!fields) continue;
    ConfigRepo repo;
    repo.id = entry.key;
    repo.location = entry.key_location;
    const Field* git = fields->Get("git");
    std::optional<std::string> url = git ? reader.String(*git) : std::nullopt;
    if (!url || url->empty()) {
      if (git == nullptr || url) {
        reader.Error(git ? git->value_location : entry.key_location,
                     absl::StrCat(what, " has no git URL: give 'git: URL'"));
      }
      continue;
    }
    repo.url = *url;
    if (const Field* f = fields->Get("branch")) {
      std::optional<std::string> branch = reader.String(*f);
      if (branch && !branch->empty()) repo.branch = *branch;
    }
    if (const Field* f = fields->Get("pattern")) {
      std::optional<std::string> pattern = reader.String(*f);
      if (pattern && pattern->empty()) {
        reader.Error(f->value_location, absl::StrCat(what, ": 'pattern' is empty"));
      } else if (pattern && (*pattern)[0] == '/') {
        reader.Error(f->value_location,
                     absl::StrCat(what,
                                  ": 'pattern' is relative to the repository's root; "
                                  "it may not start with '/'"));
      } else if (pattern) {
        repo.pattern = *pattern;
      }
    }
    out.push_back(std::move(repo));
  }
  return out;
}

}  // namespace gantry::config::internal
