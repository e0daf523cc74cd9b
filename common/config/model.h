// The config model: what a validated set of YAML files means. Shared by the
// controller (scheduling from a stored revision) and the CLI (offline check).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace gantry::config {

// A config file's path, shared by every location in that file: a model of
// a hundred thousand nodes holds one copy of it, not one per node.
class FileName {
 public:
  FileName() = default;
  FileName(std::string path) : path_(std::make_shared<const std::string>(std::move(path))) {}
  FileName(const char* path) : FileName(std::string(path)) {}

  const std::string& str() const {
    static const std::string kEmpty;
    return path_ ? *path_ : kEmpty;
  }
  operator const std::string&() const { return str(); }

  friend bool operator==(const FileName& a, const FileName& b) { return a.str() == b.str(); }
  friend bool operator<(const FileName& a, const FileName& b) { return a.str() < b.str(); }
  friend std::ostream& operator<<(std::ostream& out, const FileName& f) { return out << f.str(); }

 private:
  std::shared_ptr<const std::string> path_;
};

// Where something was written, for `file:line:col` messages (1-based).
struct SourceLocation {
  FileName file;
  int line = 0;
  int column = 0;
  // For what was reached through a YAML alias, `line:column` is where the
  // alias was used and this is where the node itself is written (inside
  // the anchor); 0 otherwise. Messages name both.
  int anchor_line = 0;
  int anchor_column = 0;
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
  // "" (or the own name) means this pipeline; "up" a direct upstream; "a/b"
  // an ancestor path as GoCD writes it: fetch from a, through b (a direct
  // upstream that has a material on a). See docs/config.md.
  std::string pipeline;
  std::string stage;
  std::string job;
  std::string source;  // a file (`source`) or a directory
  std::string destination;
  bool is_file = false;

  // The pipeline the artifact comes from: `own_pipeline` when `pipeline` is
  // empty or names it, else the first element of the path.
  std::string SourcePipeline(const std::string& own_pipeline) const;
  // The ancestor path as GoCD writes it, "source/…/direct_upstream", turned
  // around: element 0 is the direct upstream (a dependency material of this
  // pipeline), the last is the source pipeline. Empty for this pipeline.
  std::vector<std::string> PathFromDirectUpstream(
      const std::string& own_pipeline) const;
};

struct Task {
  enum class Kind { kExec, kFetch } kind = Kind::kExec;
  ExecTask exec;
  FetchTask fetch;
  RunIf run_if = RunIf::kPassed;
  // At most one level deep: an on_cancel task has no on_cancel of its own.
  std::vector<Task> on_cancel;  // empty or exactly one
  // A GoCD `script` task (script-executor plugin) as written; it runs as the
  // exec `bash -c SCRIPT` that `exec` holds. "" for other tasks.
  std::string script;
  SourceLocation location;
};

struct Artifact {
  enum class Kind { kBuild, kTest } kind = Kind::kBuild;
  std::string source;
  std::string destination;
  // The job results it is uploaded on (Gantry's own key; GoCD uploads only
  // after passing tasks).
  RunIf run_if = RunIf::kPassed;
};

// What happens to a job whose agent went silent past the timeout.
enum class OnAgentLost {
  kFail,        // the attempt fails (default: never run a job twice)
  kReschedule,  // a new attempt is scheduled on another agent
};

struct Job {
  std::string name;
  std::vector<std::string> resources;  // as written; matching ignores case
  // 0 = one instance; N = N instances; -1 = one per matching agent ("all").
  int run_instances = 0;
  // `timeout` and `max_duration`: an integer is minutes, as in GoCD; a
  // duration string ("90s", "5m", "1h30m") is Gantry's own. 0 = never.
  int64_t timeout_seconds = 0;       // without console output
  int64_t max_duration_seconds = 0;  // in all
  std::vector<Variable> variables;
  std::vector<Task> tasks;
  std::vector<Artifact> artifacts;
  OnAgentLost on_agent_lost = OnAgentLost::kFail;
  // GoCD's `elastic_profile_id`: the job runs only on agents that carry the
  // profile, i.e. have the resource ElasticProfileResource(id). "" = any.
  std::string elastic_profile_id;
  // GoCD's `tabs` (name -> path of an artifact file), in file order: kept for
  // the dashboard; they change nothing about how the job runs.
  std::vector<std::pair<std::string, std::string>> tabs;
  SourceLocation location;
};

// The agent resource that carries elastic profile `id`: "elastic-" + id.
// An agent gets it like any resource, from its register key or an admin.
std::string ElasticProfileResource(const std::string& id);

struct Approval {
  enum class Type { kSuccess, kManual } type = Type::kSuccess;
  bool allow_only_on_success = false;
  std::vector<std::string> users;
  std::vector<std::string> roles;
  // Gantry's own: how many distinct people must approve (1..100), and
  // whether the person who triggered the run may be one of them.
  int required = 1;
  bool approver_not_triggerer = false;
  SourceLocation location;  // of `approval:`, for reference errors
};

// Who a permission goes to: users by name, and members of roles.
struct Grant {
  std::vector<std::string> users;
  std::vector<std::string> roles;
  SourceLocation location;

  bool empty() const { return users.empty() && roles.empty(); }
  // Whether `user`, a member of `user_roles`, is granted.
  bool Includes(const std::string& user, const std::vector<std::string>& user_roles) const;
};

// `security.roles.<name>`: a named set of users.
struct Role {
  std::string name;
  std::vector<std::string> users;
  SourceLocation location;
};

// `security.groups.<group>`: who may see, operate and administer the
// pipelines of one group. admin implies operate, operate implies view.
struct GroupAuthorization {
  std::string group;
  Grant view;
  Grant operate;
  Grant admin;
  SourceLocation location;
};

// The top-level `security` section (at most one, in any one file): who the
// admins are, the roles, and the groups' permissions (docs/security.md).
struct Security {
  bool defined = false;
  Grant admins;
  std::vector<Role> roles;                 // sorted by name
  std::vector<GroupAuthorization> groups;  // sorted by group
  SourceLocation location;

  const Role* FindRole(const std::string& name) const;
  const GroupAuthorization* FindGroup(const std::string& group) const;
  // The roles that list `user`, sorted.
  std::vector<std::string> RolesOf(const std::string& user) const;
};

struct Stage {
  std::string name;
  Approval approval;
  bool fetch_materials = true;
  bool clean_workspace = false;
  // `deploys: true`: this stage passing is a deploy into the pipeline's
  // environment (docs/rollback.md, "What is deployed where").
  bool deploys = false;
  // GoCD's `keep_artifacts`: the stage's artifacts and console logs are
  // exempt from artifact retention (controller/retention/).
  bool keep_artifacts = false;
  std::vector<Variable> variables;
  std::vector<Job> jobs;  // in file order
  SourceLocation location;

  const Job* FindJob(const std::string& job_name) const;
};

struct Material {
  enum class Type { kGit, kPipeline } type = Type::kGit;
  std::string name;  // key under `materials:`
  // git
  std::string url;
  std::string branch;  // default "master", as GoCD
  std::string destination;
  bool auto_update = true;
  bool shallow_clone = false;  // agents fetch only the commit they build
  // GoCD's filters (material_filter.h): `ignore` (old name `blacklist`) and
  // `includes` (old name `whitelist`) path patterns; at most one is set.
  std::vector<std::string> ignore;
  std::vector<std::string> includes;
  // HTTP(S) credentials (docs/materials.md, "Credentials"): `username` and
  // `encrypted_password`, a ciphertext of `gantry secret encrypt`. Given to
  // git through a credential helper that reads the environment, never in
  // the URL or on a command line.
  std::string username;
  std::string encrypted_password;
  // pipeline dependency
  std::string pipeline;
  std::string stage;
  // GoCD's `ignore_for_scheduling`: the upstream stage passing (or, for a
  // git material, a new commit) does not trigger this pipeline; the
  // material still gives runs their revision (upstream run and fetches, or
  // the newest polled commit, checked out).
  bool ignore_for_scheduling = false;
  SourceLocation location;
};

// The variable that carries a material's revision into jobs:
// "GANTRY_REVISION_" + the name upper-cased, other characters than letters
// and digits turned into '_' ("my-repo" -> GANTRY_REVISION_MY_REPO).
std::string RevisionVariableName(const std::string& material_name);

enum class LockBehavior { kNone, kLockOnFailure, kUnlockWhenFinished };

struct Pipeline {
  std::string name;
  std::string group;
  std::string label_template;  // default "${COUNT}"
  LockBehavior lock_behavior = LockBehavior::kNone;
  // Gantry's own deploy controls. `paused`: the pipeline starts paused when
  // it first appears in the config (a hotfix pipeline is unpaused on
  // purpose). `triggerers`: when not empty, only these (and admins) may
  // trigger it by hand, besides the group's `operate`.
  bool paused = false;
  Grant triggerers;
  std::vector<Material> materials;
  std::vector<Variable> variables;
  std::vector<Stage> stages;
  // GoCD's `timer`: triggers the pipeline at the times of `spec`, a Quartz
  // cron expression (cron.h); empty spec = no timer. `only_on_changes`: a
  // tick triggers only if a material has a revision no run has used yet.
  struct Timer {
    std::string spec;
    bool only_on_changes = false;
    SourceLocation location;
  } timer;
  // `template: NAME`: the stages came from this template ("" = written in
  // the pipeline).
  std::string template_name;
  // The stages could not be read (an undefined template): references to
  // them are not checked, since they would only repeat that error.
  bool incomplete = false;
  SourceLocation location;
  // The config repository that defines it ("" = the main config).
  std::string config_repo;

  const Stage* FindStage(const std::string& stage_name) const;
  int StageIndex(const std::string& stage_name) const;  // -1 if absent
  const Material* FindMaterial(const std::string& material_name) const;
  // The `pipeline` material on `upstream`, or nullptr (at most one exists).
  const Material* FindDependency(const std::string& upstream) const;
  // The label of run `counter`: label_template with ${COUNT} replaced by the
  // counter and ${MATERIAL} / ${MATERIAL[:N]} by that material's revision
  // (first N characters) from `revisions` (material name -> revision;
  // missing ones expand to ""). An empty template means "${COUNT}".
  std::string ExpandLabel(
      int64_t counter,
      const std::map<std::string, std::string>& revisions) const;
};

struct Environment {
  std::string name;
  std::vector<std::string> pipelines;
  std::vector<std::string> agents;  // agent names (or ids) listed in config
  std::vector<Variable> variables;
  // `deployers`: when not empty, only these may trigger, approve, cancel or
  // re-run the environment's pipelines (besides the group's permissions).
  Grant deployers;
  // `lock: true`: one run of all its pipelines builds in it at a time.
  bool lock = false;
  SourceLocation location;
  // Where each entry of `pipelines` was written (same order and size).
  std::vector<SourceLocation> pipeline_locations;

  bool HasPipeline(const std::string& pipeline) const;
};

// One file of a config revision, as the user wrote it.
struct ConfigFile {
  std::string path;
  std::string content;
  // The id of the config repository the file was read from ("" = the main
  // config given to `config apply`). Such a file may not hold `security`
  // or `config_repos`, and its pipelines' names collide with others'.
  std::string config_repo = "";
};

// `config_repos:` entry (docs/config-repos.md): a git repository whose
// files matching `pattern` hold pipelines the controller applies at each
// new commit.
struct ConfigRepo {
  std::string id;
  std::string url;
  std::string branch = "master";
  // Ant-style, from the repository's root (common/config/material_filter.h).
  std::string pattern = "**/*.gocd.yaml";
  SourceLocation location;
};

// A whole validated configuration (all files merged).
struct Config {
  int format_version = 0;
  std::vector<Pipeline> pipelines;        // sorted by name
  std::vector<Environment> environments;  // sorted by name
  Security security;
  std::vector<ConfigRepo> config_repos;  // sorted by id

  const ConfigRepo* FindConfigRepo(const std::string& id) const;

  const Pipeline* FindPipeline(const std::string& name) const;
  // The environment that contains `pipeline`, or nullptr.
  const Environment* EnvironmentOfPipeline(const std::string& pipeline) const;
  const Environment* FindEnvironment(const std::string& name) const;
  // Pipelines whose `pipeline` material points at `upstream`/`stage`: those
  // it triggers (materials with ignore_for_scheduling are left out).
  std::vector<const Pipeline*> Downstreams(const std::string& upstream,
                                           const std::string& stage) const;
};

}  // namespace gantry::config
