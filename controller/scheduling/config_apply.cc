#include "controller/scheduling/config_apply.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/config/parser.h"
#include "common/crypto.h"
#include "common/text_diff.h"
#include "controller/store/tx.h"

namespace gantry {

absl::StatusOr<AppliedConfig> ApplyConfigFiles(store::Db& db,
                                               const std::vector<v1::ConfigFile>& files,
                                               const std::string& author) {
  if (files.empty()) return absl::InvalidArgumentError("no config files given");
  std::vector<config::ConfigFile> parsed_files;
  std::string all;
  for (const auto& f : files) {
    parsed_files.push_back({f.path(), f.content()});
    absl::StrAppend(&all, "# file: ", f.path(), "\n", f.content(), "\n");
  }
  config::ParseResult parsed = config::ParseConfig(parsed_files);
  if (!parsed.ok()) return absl::InvalidArgumentError(parsed.ErrorText());
  std::string hash = Sha256Hex(all);
  AppliedConfig out;
  v1::ApplyConfigResponse& response = out.response;
  absl::Status st = db.Run("ApplyConfig", [&](store::Tx& tx) -> absl::Status {
    response.Clear();
    int64_t current = tx.CurrentConfigRevision();
    std::map<std::string, std::string> old_files;
    if (current > 0) {
      auto old = tx.GetConfigRevision(current);
      if (old && old->content_hash == hash) {
        response.set_revision(current);
        response.set_unchanged(true);
        return absl::OkStatus();
      }
      if (old) {
        for (const auto& f : old->files) old_files[f.path] = f.content;
      }
    }
    std::string diff;
    std::vector<store::ConfigFileRecord> records;
    for (const auto& f : parsed_files) {
      auto it = old_files.find(f.path);
      diff += UnifiedDiff(f.path, it == old_files.end() ? "" : it->second, f.content);
      if (it != old_files.end()) old_files.erase(it);
      records.push_back({f.path, f.content});
    }
    for (const auto& [path, content] : old_files) diff += UnifiedDiff(path, content, "");
    int64_t revision = tx.InsertConfigRevision(author, hash, diff, records);
    // `paused: true` pauses a pipeline only when it first appears (no row
    // yet): an operator's later unpause is not undone by the next apply.
    for (const auto& p : parsed.config.pipelines) tx.EnsurePipeline(p.name, p.paused, author);
    response.set_revision(revision);
    response.set_diff(diff);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  for (const auto& p : parsed.config.pipelines) response.add_pipelines(p.name);
  if (!response.unchanged()) {
    out.config = std::make_shared<const config::Config>(std::move(parsed.config));
  }
  return out;
}

}  // namespace gantry
