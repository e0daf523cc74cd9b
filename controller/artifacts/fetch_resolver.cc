#include "controller/artifacts/fetch_resolver.h"

#include "absl/strings/str_cat.h"
#include "common/artifact_path.h"

namespace gantry {

absl::StatusOr<JobLookup> ResolveFetch(store::Tx& tx, const store::PipelineRunRecord& run,
                                       const config::FetchTask& fetch) {
  std::vector<std::string> path = fetch.PathFromDirectUpstream(run.pipeline);
  if (path.empty()) {
    return FindJob(tx, run.pipeline, run.counter, fetch.stage, 0, fetch.job);
  }
  store::PipelineRunRecord current = run;
  for (size_t hop = 0; hop < path.size(); ++hop) {
    const std::string& upstream = path[hop];
    const bool last = hop + 1 == path.size();
    std::optional<store::MaterialRevisionRecord> via;
    for (auto& m : tx.RunMaterials(current.id)) {
      if (m.type != "pipeline" || m.upstream_pipeline != upstream) continue;
      // Prefer the material on the fetched stage: its attempt is recorded.
      if (!via || (last && m.upstream_stage == fetch.stage)) via = m;
    }
    if (!via || via->upstream_counter == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot resolve fetch from '", fetch.pipeline, "': run ",
                       current.pipeline, "/", current.counter,
                       " has no recorded revision of pipeline '", upstream, "'"));
    }
    if (last) {
      int32_t stage_counter =
          via->upstream_stage == fetch.stage ? via->upstream_stage_counter : 0;
      return FindJob(tx, upstream, via->upstream_counter, fetch.stage, stage_counter,
                     fetch.job);
    }
    auto next = tx.FindPipelineRun(upstream, via->upstream_counter);
    if (!next) {
      return absl::NotFoundError(
          absl::StrCat("no run ", upstream, "/", via->upstream_counter));
    }
    current = std::move(*next);
  }
  return absl::InternalError("unreachable");
}

absl::StatusOr<std::vector<FetchedFile>> FilesToFetch(store::Tx& tx, const JobLookup& from,
                                                      const std::string& source,
                                                      bool is_file) {
  std::string clean;
  if (is_file) {
    auto c = CleanArtifactPath(source);
    if (!c.ok()) return c.status();
    clean = *c;
  } else {
    auto c = CleanArtifactDir(source);
    if (!c.ok()) return c.status();
    clean = *c;
  }
  std::vector<FetchedFile> out;
  // Names start at the source's own name: "out/app" delivers "app/…".
  size_t cut = clean.rfind('/');
  size_t keep_from = cut == std::string::npos ? 0 : cut + 1;
  // What the other kind of fetch would have found: the hint for a fetch
  // that names a file without is_file, or a directory with it.
  bool other_kind = false;
  for (auto& a : tx.Artifacts(from.job.OutputAttempt(), clean)) {
    bool exact = a.path == clean;
    if (is_file != exact) {
      other_kind = true;
      continue;
    }
    FetchedFile f;
    f.name = a.path.substr(keep_from);
    f.artifact = std::move(a);
    out.push_back(std::move(f));
  }
  if (out.empty()) {
    std::string shown = source.empty() ? "." : source;
    std::string hint;
    if (other_kind && !is_file) {
      hint = absl::StrCat("; '", clean,
                          "' is a file: fetch it with is_file: true (or file: ", clean, ")");
    } else if (other_kind) {
      hint = absl::StrCat("; '", clean, "' is a directory: fetch it without is_file");
    }
    return absl::NotFoundError(absl::StrCat("no artifact ", is_file ? "file" : "directory", " '",
                                            shown, "' in ", from.Locator(), " (job ",
                                            Name(from.job.state), ")", hint));
  }
  return out;
}

}  // namespace gantry
