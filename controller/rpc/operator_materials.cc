// `gantry material notify --url URL`: any signed-in caller may ask for a
// fetch (it triggers only what the next poll would), recorded in the audit
// log with the URL's credentials hidden. Answered from memory: the fetch
// runs on the poller's workers.
#include "common/git/git_command.h"
#include "controller/materials/material_poller.h"
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::NotifyMaterial(grpc::CallbackServerContext* ctx,
                                                          const v1::NotifyMaterialRequest* req,
                                                          v1::NotifyMaterialResponse* resp) {
  return Unary(ctx, resp, {"material.notify", git::RedactUrl(req->url()), Anyone()},
               [&](const Principal&, Reply<v1::NotifyMaterialResponse> done) {
                 if (req->url().empty()) {
                   done(absl::InvalidArgumentError("a material URL is required"));
                   return;
                 }
                 if (materials_ == nullptr) {
                   done(absl::UnavailableError("this controller does not poll materials"));
                   return;
                 }
                 auto n = materials_->Notify(req->url());
                 if (!n.ok()) {
                   done(n.status());
                   return;
                 }
                 v1::NotifyMaterialResponse r;
                 r.set_materials(*n);
                 done(std::move(r));
               });
}

}  // namespace gantry::rpc
