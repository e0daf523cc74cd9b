#include "agent/artifact_upload.h"

#include "absl/strings/str_cat.h"
#include "agent/artifact_fs.h"
#include "agent/artifact_sources.h"

namespace gantry::agent {
namespace {

std::string Describe(const gantry::v1::ArtifactSpec& spec) {
  return absl::StrCat("'", spec.source(), "' -> ",
                      spec.destination().empty() ? "." : spec.destination());
}

}  // namespace

absl::Status UploadJobArtifacts(
    const google::protobuf::RepeatedPtrField<gantry::v1::ArtifactSpec>& specs,
    bool job_passed, ArtifactUploader& uploader, const TransferContext& context,
    const std::function<void(const std::string&)>& say) {
  if (specs.empty()) return absl::OkStatus();
  auto root = RealPath(context.job_dir);
  if (!root.ok()) return root.status();
  for (const auto& spec : specs) {
    std::string run_if = spec.run_if().empty() ? "passed" : spec.run_if();
    if (run_if != "passed" && run_if != "failed" && run_if != "any") {
      say(absl::StrCat("artifact ", Describe(spec), ": unknown run_if '",
                       run_if, "', treated as 'passed'"));
      run_if = "passed";
    }
    const bool wanted = run_if == "any" || (run_if == "passed") == job_passed;
    if (!wanted) {
      say(absl::StrCat("artifact ", Describe(spec), " not uploaded (run_if ",
                       run_if, ", job ", job_passed ? "passed" : "failed",
                       ")"));
      continue;
    }
    auto items = ExpandArtifactSpec(*root, spec);
    if (!items.ok()) return items.status();
    if (context.interrupter != nullptr && context.interrupter->interrupted()) {
      return absl::CancelledError("artifact upload interrupted");
    }
    auto uploaded = uploader.UploadAll(*items, context);
    if (!uploaded.ok()) return uploaded.status();
    int64_t bytes = 0;
    for (const UploadedArtifact& u : *uploaded) bytes += u.size;
    say(absl::StrCat("uploaded artifact ", Describe(spec), ": ", items->size(),
                     " file(s), ", bytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace gantry::agent
