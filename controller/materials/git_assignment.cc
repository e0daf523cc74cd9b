#include "controller/materials/git_assignment.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "controller/materials/git_credentials.h"

namespace gantry {

std::string BranchVariableName(const std::string& material_name) {
  std::string revision = config::RevisionVariableName(material_name);
  absl::string_view name = revision;
  absl::ConsumePrefix(&name, "GANTRY_REVISION_");
  return absl::StrCat("GANTRY_MATERIAL_", name, "_BRANCH");
}

void AddGitVariables(const config::Pipeline& pipeline, std::vector<config::Variable>* builtins) {
  for (const auto& m : pipeline.materials) {
    if (m.type != config::Material::Type::kGit) continue;
    builtins->push_back({BranchVariableName(m.name), m.branch, false});
  }
}

void AddGitCheckouts(const config::Pipeline& pipeline, const config::Stage& stage,
                     const std::vector<store::MaterialRevisionRecord>& materials, v1::Assign* a) {
  a->set_clean_workspace(stage.clean_workspace);
  if (!stage.fetch_materials) return;
  for (const auto& rec : materials) {
    if (rec.type != "git") continue;
    const config::Material* m = pipeline.FindMaterial(rec.material);
    if (m == nullptr) continue;
    v1::GitCheckout* c = a->add_git_checkouts();
    c->set_material(m->name);
    c->set_url(m->url);
    c->set_branch(m->branch);
    c->set_revision(rec.revision);
    c->set_destination(m->destination);
    c->set_shallow(m->shallow_clone);
    // Over the agent's TLS channel, like secure variables' values.
    GitCredentials creds = CredentialsOf(*m);
    c->set_username(creds.username);
    c->set_password(creds.password);
  }
}

}  // namespace gantry
