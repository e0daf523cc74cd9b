#include "tests/bench/operator_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/bench/controller_proc.h"

namespace gantry::bench {
namespace {

absl::Status FromGrpc(const grpc::Status& st, const char* what) {
  if (st.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                      absl::StrCat(what, ": ", st.error_message()));
}

}  // namespace

Operator::Operator(const std::string& address, std::string token) : token_(std::move(token)) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = grpc::CreateCustomChannel(address, ControllerCredentials(), args);
  stub_ = v1::OperatorService::NewStub(channel_);
}

void Operator::Authorize(grpc::ClientContext* ctx) {
  ctx->AddMetadata("authorization", "Bearer " + token_);
  ctx->set_wait_for_ready(true);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
}

absl::StatusOr<v1::ApplyConfigResponse> Operator::ApplyConfig(const std::string& yaml) {
  v1::ApplyConfigRequest req;
  auto* f = req.add_files();
  f->set_path("bench.gocd.yaml");
  f->set_content(yaml);
  v1::ApplyConfigResponse resp;
  grpc::ClientContext ctx;
  Authorize(&ctx);
  grpc::Status st = stub_->ApplyConfig(&ctx, req, &resp);
  if (!st.ok()) return FromGrpc(st, "ApplyConfig");
  return resp;
}

v1::TriggerPipelineRequest Operator::TriggerRequest(const std::string& pipeline,
                                                    int64_t bench_id) {
  v1::TriggerPipelineRequest req;
  req.set_pipeline(pipeline);
  auto* v = req.add_variables();
  v->set_name("BENCH_ID");
  v->set_value(absl::StrCat(bench_id));
  return req;
}

absl::StatusOr<v1::PipelineRun> Operator::Trigger(const std::string& pipeline,
                                                  int64_t bench_id) {
  v1::TriggerPipelineRequest req = TriggerRequest(pipeline, bench_id);
  v1::PipelineRun resp;
  grpc::ClientContext ctx;
  Authorize(&ctx);
  grpc::Status st = stub_->TriggerPipeline(&ctx, req, &resp);
  if (!st.ok()) return FromGrpc(st, "TriggerPipeline");
  return resp;
}

void Operator::TriggerAsync(const std::string& pipeline, int64_t bench_id,
                            std::function<void(absl::StatusOr<v1::PipelineRun>)> done) {
  struct Call {
    grpc::ClientContext ctx;
    v1::TriggerPipelineRequest req;
    v1::PipelineRun resp;
  };
  auto* call = new Call;
  call->req = TriggerRequest(pipeline, bench_id);
  Authorize(&call->ctx);
  stub_->async()->TriggerPipeline(
      &call->ctx, &call->req, &call->resp, [call, done = std::move(done)](grpc::Status st) {
        if (st.ok()) {
          done(std::move(call->resp));
        } else {
          done(FromGrpc(st, "TriggerPipeline"));
        }
        delete call;
      });
}

absl::StatusOr<v1::PipelineRun> Operator::GetRun(const std::string& pipeline, int64_t counter) {
  v1::GetPipelineRunRequest req;
  req.set_pipeline(pipeline);
  req.set_counter(counter);
  v1::PipelineRun resp;
  grpc::ClientContext ctx;
  Authorize(&ctx);
  grpc::Status st = stub_->GetPipelineRun(&ctx, req, &resp);
  if (!st.ok()) return FromGrpc(st, "GetPipelineRun");
  return resp;
}

int64_t BenchIdOf(const v1::Assign& assign) {
  for (const auto& v : assign.variables()) {
    int64_t id = 0;
    if (v.name() == "BENCH_ID" && absl::SimpleAtoi(v.value(), &id)) return id;
  }
  return -1;
}

}  // namespace gantry::bench
