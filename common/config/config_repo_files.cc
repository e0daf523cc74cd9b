#include "common/config/config_repo_files.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gantry::config {

std::string ConfigRepoStoredPath(absl::string_view repo, absl::string_view path_in_repo) {
  return absl::StrCat(kConfigRepoPathPrefix, repo, "/", path_in_repo);
}

std::string ConfigRepoOfPath(absl::string_view stored) {
  if (!absl::StartsWith(stored, kConfigRepoPathPrefix)) return "";
  stored.remove_prefix(kConfigRepoPathPrefix.size());
  size_t slash = stored.find('/');
  return slash == absl::string_view::npos ? "" : std::string(stored.substr(0, slash));
}

std::string PathInConfigRepo(absl::string_view stored) {
  std::string repo = ConfigRepoOfPath(stored);
  if (repo.empty()) return std::string(stored);
  return std::string(stored.substr(kConfigRepoPathPrefix.size() + repo.size() + 1));
}

void MarkConfigRepoFiles(std::vector<ConfigFile>& files) {
  for (ConfigFile& f : files) f.config_repo = ConfigRepoOfPath(f.path);
}

}  // namespace gantry::config
