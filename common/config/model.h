// The config model: what a validated set of YAML files means. Shared by the
// controller (scheduling from a stored revision) and the CLI (offline check).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gantry::config {

// Where something was written, for `file:line:col` messages (1-based).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Variable {
  std::string name;
  std::string value;
  bool secure = false;
};

enum class RunIf { kPassed, kFailed, kAny };

struct ExecTask {
  std::string command;
  std::vector<std::string> arguments;
  std::string working_directory;
};

struct FetchTask {
  // "" means this pipeline; "up" a direct upstream; "a/b" an ancestor path.
  std::string pipeline;
  std::string stage;
  std::string job;
  std::string source;  // a file (`source`) or a directory
  std::string destination;
  bool is_file = false;
};

struct Task {
  enum class Kind { kExec, kFetch } kind = Kind::kExec;
  ExecTask exec;
  FetchTask fetch;
  RunIf run_if = RunIf::kPassed;
  // At most one level deep: an on_cancel task has no on_cancel of its own.
  std::vector<Task> on_cancel;  // empty or exactly one
  SourceLocation location;
};

struct Artifact {
  enum class Kind { kBuild, kTest } kind = Kind::kBuild;
  std::string source;
  std::string destination;
};

struct Job {
  std::string name;
  std::vector<std::string> resources;  // as written; matching ignores case
  // 0 = one instance; N = N instances; -1 = one per matching agent ("all").
  int run_instances = 0;
  int timeout_minutes = 0;  // 0 = never
  std::vector<Variable> variables;
  std::vector<Task> tasks;
  std::vector<Artifact> artifacts;
  SourceLocation location;
};

struct Approval {
  enum class Type { kSuccess, kManual } type = Type::kSuccess;
  bool allow_only_on_success = false;
  std::vector<std::string> users;
  std::vector<std::string> roles;
};

struct Stage {
  std::string name;
  Approval approval;
  bool fetch_materials = true;
  bool clean_workspace = false;
  std::vector<Variable> variables;
  std::vector<Job> jobs;  // in file order
  SourceLocation location;
};

struct Material {
  enum class Type { kGit, kPipeline } type = Type::kGit;
  std::string name;  // key under `materials:`
  // git
  std::string url;
  std::string branch;  // default "master", as GoCD
  std::string destination;
  bool auto_update = true;
  // pipeline dependency
  std::string pipeline;
  std::string stage;
  SourceLocation location;
};

enum class LockBehavior { kNone, kLockOnFailure, kUnlockWhenFinished };

struct Pipeline {
  std::string name;
  std::string group;
  std::string label_template;  // default "${COUNT}"
  LockBehavior lock_behavior = LockBehavior::kNone;
  std::vector<Material> materials;
  std::vector<Variable> variables;
  std::vector<Stage> stages;
  SourceLocation location;

  const Stage* FindStage(const std::string& stage_name) const;
  int StageIndex(const std::string& stage_name) const;  // -1 if absent
};

struct Environment {
  std::string name;
  std::vector<std::string> pipelines;
  std::vector<std::string> agents;  // agent names (or ids) listed in config
  std::vector<Variable> variables;
  SourceLocation location;
};

// One file of a config revision, as the user wrote it.
struct ConfigFile {
  std::string path;
  std::string content;
};

// A whole validated configuration (all files merged).
struct Config {
  int format_version = 0;
  std::vector<Pipeline> pipelines;  // sorted by name
  std::vector<Environment> environments;

  const Pipeline* FindPipeline(const std::string& name) const;
  // The environment that contains `pipeline`, or nullptr.
  const Environment* EnvironmentOfPipeline(const std::string& pipeline) const;
  const Environment* FindEnvironment(const std::string& name) const;
  // Pipelines whose `pipeline` material points at `upstream`/`stage`.
  std::vector<const Pipeline*> Downstreams(const std::string& upstream,
                                           const std::string& stage) const;
};

}  // namespace gantry::config
