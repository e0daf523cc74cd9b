#include "controller/vsm_view.h"

#include <set>
#include <string>
#include <utility>

#include "controller/model/states.h"

namespace gantry {
namespace {

class VsmBuilder {
 public:
  VsmBuilder(store::Tx& tx, v1::PipelineVsm* out) : tx_(tx), out_(out) {}

  // Fills `node` for `run` and walks one direction from it. Pipeline
  // dependencies form no cycles (config validation), but a run is still
  // visited once per direction so a malformed database cannot loop.
  void Walk(const store::PipelineRunRecord& run, bool upstream, bool downstream,
            v1::VsmNode* node) {
    Fill(run, node);
    if (upstream) {
      for (const auto& m : node->materials()) {
        if (m.type() != "pipeline" || !Admit(m.upstream_pipeline(), m.upstream_counter(), true)) {
          continue;
        }
        auto up = tx_.FindPipelineRun(m.upstream_pipeline(), m.upstream_counter());
        if (up) Walk(*up, true, false, node->add_upstream());
      }
    }
    if (downstream) {
      for (const auto& down : tx_.DownstreamRuns(run.pipeline, run.counter)) {
        if (Admit(down.pipeline, down.counter, false)) {
          Walk(down, false, true, node->add_downstream());
        }
      }
    }
  }

 private:
  bool Admit(const std::string& pipeline, int64_t counter, bool upstream) {
    if (++count_ > kMaxVsmRuns) {
      out_->set_truncated(true);
      return false;
    }
    return (upstream ? seen_up_ : seen_down_).insert({pipeline, counter}).second;
  }

  void Fill(const store::PipelineRunRecord& run, v1::VsmNode* node) {
    node->set_pipeline(run.pipeline);
    node->set_counter(run.counter);
    node->set_label(run.label);
    node->set_state(Name(run.state));
    for (const auto& m : tx_.RunMaterials(run.id)) {
      auto* mr = node->add_materials();
      mr->set_material(m.material);
      mr->set_type(m.type);
      mr->set_revision(m.revision);
      mr->set_upstream_pipeline(m.upstream_pipeline);
      mr->set_upstream_counter(m.upstream_counter);
      mr->set_upstream_stage(m.upstream_stage);
      mr->set_upstream_stage_counter(m.upstream_stage_counter);
    }
  }

  store::Tx& tx_;
  v1::PipelineVsm* out_;
  int count_ = 0;
  std::set<std::pair<std::string, int64_t>> seen_up_, seen_down_;
};

}  // namespace

void BuildVsm(store::Tx& tx, const store::PipelineRunRecord& run, v1::PipelineVsm* out) {
  VsmBuilder(tx, out).Walk(run, true, true, out->mutable_run());
}

}  // namespace gantry
