#include "controller/planner/git_revisions.h"

#include "common/status_macros.h"

namespace gantry {
namespace {

// The upstream run's revision of a git material with this URL and branch,
// or "".
absl::StatusOr<std::string> UpstreamRevision(ColdStore* cold,
                                             const store::MaterialRevisionRecord& dep,
                                             const config::Material& git) {
  ASSIGN_OR_RETURN(auto rows, cold->LoadRun(dep.upstream_pipeline, dep.upstream_counter));
  if (!rows) return std::string();
  ASSIGN_OR_RETURN(auto config, cold->Config(rows->run.config_revision));
  const config::Pipeline* up = config ? config->FindPipeline(dep.upstream_pipeline) : nullptr;
  if (up == nullptr) return std::string();
  for (const auto& m : up->materials) {
    if (m.type != config::Material::Type::kGit || m.url != git.url || m.branch != git.branch) {
      continue;
    }
    for (const auto& rec : rows->materials) {
      if (rec.material == m.name && !rec.revision.empty()) return rec.revision;
    }
  }
  return std::string();
}

}  // namespace

absl::Status FillGitRevisions(ColdStore* cold, const GitHeads* heads,
                              const config::Pipeline& pipeline,
                              std::vector<store::MaterialRevisionRecord>* materials) {
  for (auto& rec : *materials) {
    if (rec.type != "git" || !rec.revision.empty()) continue;
    const config::Material* m = pipeline.FindMaterial(rec.material);
    if (m == nullptr) continue;
    for (const auto& dep : *materials) {
      if (dep.type != "pipeline" || dep.upstream_counter <= 0) continue;
      ASSIGN_OR_RETURN(std::string rev, UpstreamRevision(cold, dep, *m));
      if (!rev.empty()) {
        rec.revision = rev;
        break;
      }
    }
    if (rec.revision.empty() && heads != nullptr) rec.revision = heads->Head(m->url, m->branch);
  }
  return absl::OkStatus();
}

bool SharedThroughUpstream(const config::Config& config, const config::Pipeline& pipeline,
                           const config::Material& material) {
  for (const auto& dep : pipeline.materials) {
    if (dep.type != config::Material::Type::kPipeline) continue;
    const config::Pipeline* up = config.FindPipeline(dep.pipeline);
    if (up == nullptr) continue;
    for (const auto& m : up->materials) {
      if (m.type == config::Material::Type::kGit && m.url == material.url &&
          m.branch == material.branch) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace gantry
