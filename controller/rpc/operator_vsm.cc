// `pipeline vsm`: a read, so not audited; the caller needs view on the
// pipeline asked about, and sees only the runs of pipelines they may view
// (a run they may not see is left out with everything reached through it).
#include "absl/strings/str_cat.h"
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {
namespace {

void Prune(v1::VsmNode* node, const config::Config& config, const Principal& who) {
  for (auto* list : {node->mutable_upstream(), node->mutable_downstream()}) {
    for (int i = list->size() - 1; i >= 0; --i) {
      if (Authorizer::MayView(config, who, list->Get(i).pipeline())) {
        Prune(list->Mutable(i), config, who);
      } else {
        list->DeleteSubrange(i, 1);
      }
    }
  }
}

}  // namespace

grpc::ServerUnaryReactor* OperatorService::GetPipelineVsm(grpc::CallbackServerContext* ctx,
                                                          const v1::GetPipelineRunRequest* req,
                                                          v1::PipelineVsm* resp) {
  return Unary(ctx, resp,
               {"", absl::StrCat(req->pipeline(), "/", req->counter()), Viewers(req->pipeline())},
               [&](const Principal& who, auto done) {
                 reads_->GetPipelineVsm(*req, [done = std::move(done), config = authz_->current(),
                                               who](absl::StatusOr<v1::PipelineVsm> vsm) {
                   if (vsm.ok()) Prune(vsm->mutable_run(), *config, who);
                   done(std::move(vsm));
                 });
               });
}

}  // namespace gantry::rpc
