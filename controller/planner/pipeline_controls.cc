#include "controller/planner/pipeline_controls.h"

namespace gantry {

void PipelineControls::Load(std::vector<store::PipelineRecord> rows) {
  rows_.clear();
  changed_.clear();
  for (auto& r : rows) {
    std::string name = r.name;
    rows_[name] = std::move(r);
  }
}

const store::PipelineRecord* PipelineControls::Find(const std::string& pipeline) const {
  auto it = rows_.find(pipeline);
  return it == rows_.end() ? nullptr : &it->second;
}

store::PipelineRecord& PipelineControls::Change(const std::string& pipeline) {
  changed_.insert(pipeline);
  store::PipelineRecord& r = rows_[pipeline];
  r.name = pipeline;
  return r;
}

std::vector<store::PipelineRecord> PipelineControls::TakeWrites() {
  std::vector<store::PipelineRecord> out;
  for (const auto& name : changed_) out.push_back(rows_.at(name));
  changed_.clear();
  return out;
}

}  // namespace gantry
