#include "controller/authz.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/bootstrap.h"

namespace gantry {
namespace {

// The group's grants, or nullptr when the group is open to everyone.
const config::GroupAuthorization* GroupOf(const config::Config& config,
                                          const std::string& pipeline, std::string* group) {
  const config::Pipeline* p = config.FindPipeline(pipeline);
  if (p == nullptr) return nullptr;
  *group = p->group;
  return config.security.FindGroup(p->group);
}

bool Granted(const config::Grant& grant, const Principal& who) {
  return grant.Includes(who.user, who.roles);
}

}  // namespace

Principal Authorizer::Resolve(const TokenInfo& token, std::string source) const {
  auto config = configs_->current();
  Principal who;
  who.user = token.user;
  who.roles = config->security.RolesOf(token.user);
  who.admin = token.user == kBootstrapAdmin || Granted(config->security.admins, who);
  who.source = std::move(source);
  who.token_id = token.id;
  who.token_name = token.name;
  who.token_expires_at = token.expires_at;
  return who;
}

absl::Status Authorizer::CheckAdmin(const Principal& who, absl::string_view what) const {
  if (who.admin) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(who.user, " may not ", what, ": admins only"));
}

bool Authorizer::MayView(const config::Config& config, const Principal& who,
                         const std::string& pipeline) {
  if (who.admin) return true;
  std::string group;
  const config::GroupAuthorization* g = GroupOf(config, pipeline, &group);
  if (g == nullptr) return true;  // an open group, or a pipeline no longer in the config
  return Granted(g->view, who) || Granted(g->operate, who) || Granted(g->admin, who);
}

absl::Status Authorizer::CheckView(const Principal& who, const std::string& pipeline) const {
  auto config = configs_->current();
  if (MayView(*config, who, pipeline)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(who.user, " may not view pipeline '", pipeline, "' (group '",
                   config->FindPipeline(pipeline)->group, "')"));
}

absl::Status Authorizer::CheckOperate(const Principal& who, const std::string& pipeline) const {
  if (who.admin) return absl::OkStatus();
  auto config = configs_->current();
  std::string group;
  const config::GroupAuthorization* g = GroupOf(*config, pipeline, &group);
  if (g != nullptr && !Granted(g->operate, who) && !Granted(g->admin, who)) {
    return absl::PermissionDeniedError(absl::StrCat(who.user, " may not operate pipeline '",
                                                    pipeline, "' (group '", group, "')"));
  }
  const config::Environment* env = config->EnvironmentOfPipeline(pipeline);
  if (env != nullptr && !env->deployers.empty() && !Granted(env->deployers, who)) {
    return absl::PermissionDeniedError(
        absl::StrCat(who.user, " may not deploy to environment '", env->name, "' (pipeline '",
                     pipeline, "'): not one of its deployers"));
  }
  return absl::OkStatus();
}

absl::Status Authorizer::CheckTrigger(const Principal& who, const std::string& pipeline) const {
  RETURN_IF_ERROR(CheckOperate(who, pipeline));
  if (who.admin) return absl::OkStatus();
  auto config = configs_->current();
  const config::Pipeline* p = config->FindPipeline(pipeline);
  // An unknown pipeline is the scheduler's NOT_FOUND, not a refusal here.
  if (p == nullptr || p->triggerers.empty() || Granted(p->triggerers, who)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(who.user, " may not trigger pipeline '", pipeline,
                                                  "': not one of its triggerers"));
}

absl::Status Authorizer::CheckDeploy(const Principal& who, const std::string& environment) const {
  if (who.admin) return absl::OkStatus();
  auto config = configs_->current();
  const config::Environment* env = config->FindEnvironment(environment);
  if (env == nullptr) return absl::OkStatus();
  if (!env->deployers.empty() && !Granted(env->deployers, who)) {
    return absl::PermissionDeniedError(absl::StrCat(
        who.user, " may not deploy to environment '", environment, "': not one of its deployers"));
  }
  for (const std::string& pipeline : env->pipelines) RETURN_IF_ERROR(CheckOperate(who, pipeline));
  return absl::OkStatus();
}

}  // namespace gantry
