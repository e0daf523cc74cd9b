#include "controller/materials/material_commits_view.h"

namespace gantry {

void FillMaterialCommits(store::Tx& tx, const std::string& pipeline, v1::BuildCause* cause) {
  for (v1::MaterialRevision& m : *cause->mutable_materials()) {
    if (m.type() != "git" || m.revision().empty()) continue;
    for (const auto& c : tx.MaterialCommits(pipeline, m.material(), m.revision())) {
      v1::MaterialCommit* out = m.add_commits();
      out->set_revision(c.sha);
      out->set_author(c.author);
      out->set_message(c.message);
      out->mutable_time()->set_seconds(c.committed_at);
    }
  }
}

}  // namespace gantry
