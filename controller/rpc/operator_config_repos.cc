// `gantry config repo status` (docs/config-repos.md): read by any signed-in
// user, as `pipeline list` is; the pipelines listed are those the caller
// may view, and URLs carry no credentials. Answered from memory.
#include <algorithm>

#include "controller/config_repo/config_repo_poller.h"
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::ConfigRepoStatus(grpc::CallbackServerContext* ctx,
                                                            const v1::ConfigRepoStatusRequest*,
                                                            v1::ConfigRepoStatusResponse* resp) {
  return Unary(ctx, resp, {"", "config-repos", Anyone()},
               [&](const Principal& who, Reply<v1::ConfigRepoStatusResponse> done) {
                 if (config_repos_ == nullptr) {
                   done(absl::UnavailableError("this controller does not read config repos"));
                   return;
                 }
                 v1::ConfigRepoStatusResponse status = config_repos_->Status();
                 auto config = authz_->current();
                 for (v1::ConfigRepoState& repo : *status.mutable_repos()) {
                   auto* pipelines = repo.mutable_pipelines();
                   pipelines->erase(std::remove_if(pipelines->begin(), pipelines->end(),
                                                   [&](const std::string& p) {
                                                     return !Authorizer::MayView(*config, who, p);
                                                   }),
                                    pipelines->end());
                 }
                 done(std::move(status));
               });
}

}  // namespace gantry::rpc
