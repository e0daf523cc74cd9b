#include "controller/variables.h"

#include <map>

namespace gantry {

std::vector<config::Variable> MergeVariables(
    const std::vector<const std::vector<config::Variable>*>& layers) {
  std::vector<config::Variable> out;
  std::map<std::string, size_t> index;
  for (const auto* layer : layers) {
    if (layer == nullptr) continue;
    for (const auto& v : *layer) {
      auto it = index.find(v.name);
      if (it == index.end()) {
        index[v.name] = out.size();
        out.push_back(v);
      } else {
        out[it->second] = v;
      }
    }
  }
  return out;
}

}  // namespace gantry
