#include "controller/scheduling/config_apply.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/config/config_repo_files.h"
#include "common/crypto.h"
#include "common/text_diff.h"
#include "controller/config_repo/config_assembly.h"
#include "controller/store/tx.h"

namespace gantry {

absl::StatusOr<AppliedConfig> ApplyConfigFiles(store::Db& db,
                                               const std::vector<v1::ConfigFile>& files,
                                               const std::string& author) {
  if (files.empty()) return absl::InvalidArgumentError("no config files given");
  std::vector<config::ConfigFile> main;
  for (const auto& f : files) main.push_back({f.path(), f.content()});
  return ApplyRevision(
      db, author,
      [&](const std::vector<config::ConfigFile>& current) -> absl::StatusOr<NewRevision> {
        config_repo::Assembled assembled = config_repo::AssembleMainApply(main, current);
        if (!assembled.parsed.ok()) {
          return absl::InvalidArgumentError(assembled.parsed.ErrorText());
        }
        NewRevision out;
        out.files = std::move(assembled.files);
        out.config = std::move(assembled.parsed.config);
        return out;
      });
}

absl::StatusOr<AppliedConfig> ApplyRevision(store::Db& db, const std::string& author,
                                            const MakeRevision& make) {
  AppliedConfig out;
  v1::ApplyConfigResponse& response = out.response;
  std::optional<NewRevision> made;
  absl::Status st = db.Run("ApplyConfig", [&](store::Tx& tx) -> absl::Status {
    response.Clear();
    made.reset();
    int64_t current = tx.CurrentConfigRevision();
    std::vector<config::ConfigFile> current_files;
    std::optional<store::ConfigRevisionRecord> old;
    if (current > 0) old = tx.GetConfigRevision(current);
    if (old) {
      for (const auto& f : old->files) current_files.push_back({f.path, f.content});
      config::MarkConfigRepoFiles(current_files);
    }
    absl::StatusOr<NewRevision> next = make(current_files);
    if (!next.ok()) return next.status();
    made = std::move(*next);
    std::string all;
    for (const auto& f : made->files) {
      absl::StrAppend(&all, "# file: ", f.path, "\n", f.content, "\n");
    }
    std::string hash = Sha256Hex(all);
    if (old && old->content_hash == hash) {
      response.set_revision(current);
      response.set_unchanged(true);
      return absl::OkStatus();
    }
    std::map<std::string, std::string> old_files;
    if (old) {
      for (const auto& f : old->files) old_files[f.path] = f.content;
    }
    std::string diff;
    std::vector<store::ConfigFileRecord> records;
    for (const auto& f : made->files) {
      auto it = old_files.find(f.path);
      diff += UnifiedDiff(f.path, it == old_files.end() ? "" : it->second, f.content);
      if (it != old_files.end()) old_files.erase(it);
      records.push_back({f.path, f.content});
    }
    for (const auto& [path, content] : old_files) diff += UnifiedDiff(path, content, "");
    int64_t revision = tx.InsertConfigRevision(author, hash, diff, records);
    if (!made->config_repo.empty()) {
      tx.SetConfigRevisionSource(revision, {made->config_repo, made->commit});
    }
    // `paused: true` pauses a pipeline only when it first appears (no row
    // yet): an operator's later unpause is not undone by the next apply.
    for (const auto& p : made->config.pipelines) tx.EnsurePipeline(p.name, p.paused, author);
    response.set_revision(revision);
    response.set_diff(diff);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  for (const auto& p : made->config.pipelines) response.add_pipelines(p.name);
  if (!response.unchanged()) {
    out.config = std::make_shared<const config::Config>(std::move(made->config));
  }
  return out;
}

}  // namespace gantry
