// What `security`, environments' `deployers` and stages' approvals refer
// to. A role or group that does not exist is an error, not a silent no-op:
// a misspelt group would leave the real one open to everyone. (Approval
// roles are checked only when a `security` section defines roles at all.)
#include <set>

#include "absl/strings/str_cat.h"
#include "common/config/parse_internal.h"

namespace gantry::config::internal {
namespace {

class SecurityValidator {
 public:
  SecurityValidator(const Config& config, Diagnostics* diagnostics)
      : config_(config), diagnostics_(diagnostics) {
    for (const Role& r : config.security.roles) role_names_.push_back(r.name);
    for (const Pipeline& p : config.pipelines) groups_.insert(p.group);
    for (const std::string& g : groups_) group_names_.push_back(g);
  }

  void Run() {
    const Security& security = config_.security;
    CheckGrant(security.admins, "'admins'");
    for (const GroupAuthorization& g : security.groups) {
      if (groups_.count(g.group) == 0) {
        diagnostics_->Add(g.location, absl::StrCat("group '", g.group, "' has no pipelines",
                                                   Suggest(g.group, group_names_)));
      }
      CheckGrant(g.view, "'view'");
      CheckGrant(g.operate, "'operate'");
      CheckGrant(g.admin, "'admin'");
    }
    for (const Pipeline& p : config_.pipelines) {
      CheckGrant(p.triggerers, absl::StrCat("pipeline '", p.name, "' triggerers"));
    }
    for (const Environment& env : config_.environments) {
      CheckGrant(env.deployers, absl::StrCat("environment '", env.name, "' deployers"));
    }
    // GoCD files name approval roles defined in GoCD's server config; with
    // no `security` section here they are accepted as written (and match
    // nobody), so such files still load.
    if (!security.defined) return;
    for (const Pipeline& p : config_.pipelines) {
      for (const Stage& s : p.stages) {
        for (const std::string& role : s.approval.roles) {
          CheckRole(role, s.approval.location,
                    absl::StrCat("stage '", p.name, "/", s.name, "' approval"));
        }
      }
    }
  }

 private:
  void CheckGrant(const Grant& grant, const std::string& where) {
    for (const std::string& role : grant.roles) CheckRole(role, grant.location, where);
  }

  void CheckRole(const std::string& role, const SourceLocation& at, const std::string& where) {
    if (config_.security.FindRole(role)) return;
    diagnostics_->Add(at, absl::StrCat(where, ": role '", role,
                                       "' is not defined under security.roles",
                                       Suggest(role, role_names_)));
  }

  static std::string Suggest(const std::string& word, const std::vector<std::string>& names) {
    std::vector<absl::string_view> candidates(names.begin(), names.end());
    std::string best = ClosestMatch(word, candidates);
    return best.empty() ? "" : absl::StrCat("; did you mean '", best, "'?");
  }

  const Config& config_;
  Diagnostics* diagnostics_;
  std::vector<std::string> role_names_;
  std::set<std::string> groups_;
  std::vector<std::string> group_names_;
};

}  // namespace

void ValidateSecurity(const Config& config, Diagnostics* diagnostics) {
  SecurityValidator(config, diagnostics).Run();
}

}  // namespace gantry::config::internal
