#include "agent/paths.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/locator.h"

namespace gantry::agent {

std::string IdentityPath(const std::string& work_dir) {
  return absl::StrCat(work_dir, "/agent.json");
}

std::string ClientKeyPath(const std::string& work_dir) { return work_dir + "/agent.key"; }

std::string ClientCertPath(const std::string& work_dir) { return work_dir + "/agent.crt"; }

std::string LockPath(const std::string& work_dir) {
  return absl::StrCat(work_dir, "/agent.lock");
}

std::string PipelinesDir(const std::string& work_dir) {
  return absl::StrCat(work_dir, "/pipelines");
}

absl::StatusOr<std::string> PipelineDir(const std::string& work_dir,
                                        const std::string& pipeline) {
  // Valid names cannot start with '.' or contain '/', so they stay inside.
  if (!IsValidName(pipeline)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid pipeline name '", pipeline, "'"));
  }
  return absl::StrCat(PipelinesDir(work_dir), "/", pipeline);
}

absl::StatusOr<std::string> JobDir(const std::string& work_dir,
                                   const gantry::v1::Assign& assign) {
  if (assign.working_directory().empty()) {
    return PipelineDir(work_dir, assign.pipeline());
  }
  return JoinInside(work_dir, assign.working_directory());
}

absl::StatusOr<std::string> JoinInside(const std::string& base,
                                       const std::string& relative) {
  if (!relative.empty() && relative[0] == '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "working directory '", relative,
        "' is absolute; it must be relative to the pipeline directory"));
  }
  std::string out = base;
  for (absl::string_view part : absl::StrSplit(relative, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "working directory '", relative,
          "' contains '..'; it must stay inside the pipeline directory"));
    }
    absl::StrAppend(&out, "/", part);
  }
  return out;
}

}  // namespace gantry::agent
