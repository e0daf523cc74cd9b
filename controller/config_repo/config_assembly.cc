#include "controller/config_repo/config_assembly.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/config_repo_files.h"

namespace gantry::config_repo {
namespace {

using config::ConfigFile;
using RepoFiles = std::map<std::string, std::vector<ConfigFile>>;  // by repo id

void Split(const std::vector<ConfigFile>& current, std::vector<ConfigFile>* main,
           RepoFiles* repos) {
  for (const ConfigFile& f : current) {
    if (f.config_repo.empty()) {
      if (main) main->push_back(f);
    } else {
      (*repos)[f.config_repo].push_back(f);
    }
  }
}

std::vector<ConfigFile> StoredOrder(const std::vector<ConfigFile>& main, const RepoFiles& repos) {
  std::vector<ConfigFile> out = main;
  for (const auto& [id, files] : repos) {
    std::vector<ConfigFile> sorted = files;
    std::sort(sorted.begin(), sorted.end(),
              [](const ConfigFile& a, const ConfigFile& b) { return a.path < b.path; });
    out.insert(out.end(), sorted.begin(), sorted.end());
  }
  return out;
}

std::set<std::string> Listed(const config::Config& config) {
  std::set<std::string> ids;
  for (const auto& r : config.config_repos) ids.insert(r.id);
  return ids;
}

config::ParseResult OneError(const std::string& file, std::string message) {
  config::ParseResult r;
  r.errors.push_back({config::SourceLocation{file, 1, 1}, std::move(message)});
  return r;
}

}  // namespace

Assembled AssembleMainApply(const std::vector<ConfigFile>& main,
                            const std::vector<ConfigFile>& current) {
  Assembled out;
  for (const ConfigFile& f : main) {
    if (absl::StartsWith(f.path, config::kConfigRepoPathPrefix)) {
      out.parsed = OneError(f.path, absl::StrCat("a config file's path may not start with '",
                                                 config::kConfigRepoPathPrefix,
                                                 "': config repos' files are stored there"));
      return out;
    }
  }
  RepoFiles repos;
  Split(current, nullptr, &repos);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<ConfigFile> parse_order;
    for (const auto& [id, files] : repos) {
      parse_order.insert(parse_order.end(), files.begin(), files.end());
    }
    parse_order.insert(parse_order.end(), main.begin(), main.end());
    out.parsed = config::ParseConfig(parse_order);
    // A repo the new main config no longer lists goes, with its pipelines.
    std::set<std::string> listed = Listed(out.parsed.config);
    bool dropped = false;
    for (auto it = repos.begin(); it != repos.end();) {
      if (listed.count(it->first) == 0) {
        it = repos.erase(it);
        dropped = true;
      } else {
        ++it;
      }
    }
    if (!dropped) break;
  }
  out.files = StoredOrder(main, repos);
  return out;
}

Assembled AssembleRepoCommit(const std::string& repo, const std::vector<ConfigFile>& repo_files,
                             const std::vector<ConfigFile>& current) {
  Assembled out;
  std::vector<ConfigFile> main;
  RepoFiles repos;
  Split(current, &main, &repos);
  std::vector<ConfigFile>& mine = repos[repo];
  mine.clear();
  for (const ConfigFile& f : repo_files) {
    mine.push_back({config::ConfigRepoStoredPath(repo, f.path), f.content, repo});
  }
  std::vector<ConfigFile> parse_order = main;
  for (const auto& [id, files] : repos) {
    if (id != repo) parse_order.insert(parse_order.end(), files.begin(), files.end());
  }
  parse_order.insert(parse_order.end(), mine.begin(), mine.end());
  out.parsed = config::ParseConfig(parse_order);
  if (out.parsed.ok() && Listed(out.parsed.config).count(repo) == 0) {
    out.parsed = OneError(
        main.empty() ? std::string("config") : main.front().path,
        absl::StrCat("config repo '", repo, "' is not in the config in force (config_repos)"));
  }
  out.files = StoredOrder(main, repos);
  return out;
}

}  // namespace gantry::config_repo
