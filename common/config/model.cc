#include "common/config/model.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace gantry::config {

std::string FetchTask::SourcePipeline(const std::string& own_pipeline) const {
  if (pipeline.empty() || pipeline == own_pipeline) return own_pipeline;
  return pipeline.substr(0, pipeline.find('/'));
}

std::vector<std::string> FetchTask::PathFromDirectUpstream(
    const std::string& own_pipeline) const {
  if (pipeline.empty() || pipeline == own_pipeline) return {};
  std::vector<std::string> path = absl::StrSplit(pipeline, '/');
  std::reverse(path.begin(), path.end());
  return path;
}

const Job* Stage::FindJob(const std::string& job_name) const {
  for (const Job& job : jobs) {
    if (job.name == job_name) return &job;
  }
  return nullptr;
}

std::string RevisionVariableName(const std::string& material_name) {
  std::string out = "GANTRY_REVISION_";
  for (char c : material_name) {
    out.push_back(
        std::isalnum(static_cast<unsigned char>(c))
            ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
            : '_');
  }
  return out;
}

const Stage* Pipeline::FindStage(const std::string& stage_name) const {
  int index = StageIndex(stage_name);
  return index < 0 ? nullptr : &stages[index];
}

int Pipeline::StageIndex(const std::string& stage_name) const {
  for (size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].name == stage_name) return static_cast<int>(i);
  }
  return -1;
}

const Material* Pipeline::FindMaterial(const std::string& material_name) const {
  for (const Material& m : materials) {
    if (m.name == material_name) return &m;
  }
  return nullptr;
}

const Material* Pipeline::FindDependency(const std::string& upstream) const {
  for (const Material& m : materials) {
    if (m.type == Material::Type::kPipeline && m.pipeline == upstream)
      return &m;
  }
  return nullptr;
}

std::string Pipeline::ExpandLabel(
    int64_t counter,
    const std::map<std::string, std::string>& revisions) const {
  const std::string& tmpl =
      label_template.empty() ? "${COUNT}" : label_template;
  std::string out;
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t open = tmpl.find("${", pos);
    size_t close = open == std::string::npos ? open : tmpl.find('}', open);
    if (close == std::string::npos) {
      out.append(tmpl, pos, std::string::npos);
      break;
    }
    out.append(tmpl, pos, open - pos);
    std::string ref = tmpl.substr(open + 2, close - open - 2);
    pos = close + 1;
    if (ref == "COUNT") {
      out += std::to_string(counter);
      continue;
    }
    size_t limit = std::string::npos;
    size_t bracket = ref.find("[:");
    if (bracket != std::string::npos && ref.back() == ']') {
      int n = 0;
      if (absl::SimpleAtoi(absl::string_view(ref).substr(
                               bracket + 2, ref.size() - bracket - 3),
                           &n) &&
          n > 0) {
        limit = static_cast<size_t>(n);
      }
      ref.resize(bracket);
    }
    auto it = revisions.find(ref);
    if (it != revisions.end()) out += it->second.substr(0, limit);
  }
  return out;
}

bool Environment::HasPipeline(const std::string& pipeline) const {
  return std::find(pipelines.begin(), pipelines.end(), pipeline) !=
         pipelines.end();
}

const Pipeline* Config::FindPipeline(const std::string& name) const {
  for (const Pipeline& p : pipelines) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const ConfigRepo* Config::FindConfigRepo(const std::string& id) const {
  for (const ConfigRepo& r : config_repos) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

const Environment* Config::EnvironmentOfPipeline(
    const std::string& pipeline) const {
  for (const Environment& env : environments) {
    if (env.HasPipeline(pipeline)) return &env;
  }
  return nullptr;
}

const Environment* Config::FindEnvironment(const std::string& name) const {
  for (const Environment& env : environments) {
    if (env.name == name) return &env;
  }
  return nullptr;
}

std::vector<const Pipeline*> Config::Downstreams(
    const std::string& upstream, const std::string& stage) const {
  std::vector<const Pipeline*> out;
  for (const Pipeline& p : pipelines) {
    for (const Material& m : p.materials) {
      if (m.type == Material::Type::kPipeline && m.pipeline == upstream && m.stage == stage &&
          !m.ignore_for_scheduling) {
        out.push_back(&p);
        break;
      }
    }
  }
  return out;
}

}  // namespace gantry::config

namespace gantry::config {

bool Grant::Includes(const std::string& user, const std::vector<std::string>& user_roles) const {
  if (std::find(users.begin(), users.end(), user) != users.end()) return true;
  for (const std::string& role : roles) {
    if (std::find(user_roles.begin(), user_roles.end(), role) != user_roles.end()) return true;
  }
  return false;
}

const Role* Security::FindRole(const std::string& name) const {
  for (const Role& r : roles) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const GroupAuthorization* Security::FindGroup(const std::string& group) const {
  for (const GroupAuthorization& g : groups) {
    if (g.group == group) return &g;
  }
  return nullptr;
}

std::vector<std::string> Security::RolesOf(const std::string& user) const {
  std::vector<std::string> out;
  for (const Role& r : roles) {
    if (std::find(r.users.begin(), r.users.end(), user) != r.users.end()) out.push_back(r.name);
  }
  return out;
}

std::string ElasticProfileResource(const std::string& id) { return "elastic-" + id; }

}  // namespace gantry::config
