// The operator API through the CLI (`-o json`), for assertions.
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {

bool ParseJson(const std::string& json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(json, message, options).ok();
}

std::string CliResult::ToString() const {
  return absl::StrCat("exit ", exit_code, "; stdout: ", out, "; stderr: ", err);
}

absl::Status Cluster::ApplyConfig(const std::string& yaml, const std::string& relative_path) {
  std::string path = WriteFile(relative_path, yaml);
  CliResult r = Cli({"config", "apply", "-f", path});
  if (r.exit_code != 0) {
    return absl::InvalidArgumentError(absl::StrCat("gantry config apply: ", r.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::PipelineRun> Cluster::ShowRun(const std::string& locator) {
  CliResult r = Cli({"-o", "json", "pipeline", "show", locator});
  if (r.exit_code != 0) {
    return absl::NotFoundError(absl::StrCat("gantry pipeline show ", locator, ": ", r.ToString()));
  }
  v1::PipelineRun run;
  if (!ParseJson(r.out, &run)) {
    return absl::InternalError(absl::StrCat("not a PipelineRun: ", r.out));
  }
  return run;
}

absl::StatusOr<std::vector<v1::Agent>> Cluster::ListAgents() {
  CliResult r = Cli({"-o", "json", "agent", "list"});
  if (r.exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("gantry agent list: ", r.ToString()));
  }
  v1::ListAgentsResponse response;
  if (!ParseJson(r.out, &response)) {
    return absl::InternalError(absl::StrCat("not a ListAgentsResponse: ", r.out));
  }
  return std::vector<v1::Agent>(response.agents().begin(), response.agents().end());
}

absl::StatusOr<v1::Agent> Cluster::FindAgent(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<v1::Agent> agents, ListAgents());
  for (v1::Agent& a : agents) {
    if (a.name() == name) return std::move(a);
  }
  return absl::NotFoundError(absl::StrCat("no agent named ", name));
}

bool Cluster::WaitForIdleAgents(absl::Duration deadline) {
  return WaitFor(
      [&] {
        absl::StatusOr<std::vector<v1::Agent>> agents = ListAgents();
        if (!agents.ok()) return false;
        int idle = 0;
        for (const Agent& mine : agents_) {
          for (const v1::Agent& a : *agents) {
            if (a.name() == mine.name && a.connected() && a.status() == "idle") ++idle;
          }
        }
        return idle == agent_count();
      },
      deadline, kCliPoll);
}

bool Cluster::WaitForRunState(const std::string& locator, const std::string& state,
                              absl::Duration deadline) {
  bool ended_otherwise = false;
  bool reached = WaitFor(
      [&] {
        absl::StatusOr<v1::PipelineRun> run = ShowRun(locator);
        if (!run.ok()) return false;
        if (run->state() == state) return true;
        const std::string& s = run->state();
        ended_otherwise = s == "passed" || s == "failed" || s == "cancelled";
        return ended_otherwise;
      },
      deadline, kCliPoll);
  return reached && !ended_otherwise;
}

absl::StatusOr<std::string> Cluster::JobLog(const std::string& locator, absl::Duration timeout) {
  CliResult r = Cli({"job", "log", locator, "--follow"}, timeout);
  if (r.exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("gantry job log ", locator, ": ", r.ToString()));
  }
  return r.out;
}

}  // namespace gantry::e2e
