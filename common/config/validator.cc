#include "common/config/validator.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/locator.h"

namespace gantry::config::internal {
namespace {

bool Before(const SourceLocation& a, const SourceLocation& b) {
  return std::tie(a.file, a.line, a.column) <
         std::tie(b.file, b.line, b.column);
}

class Validator {
 public:
  Validator(const Config& config, Diagnostics* diagnostics)
      : config_(config), diagnostics_(diagnostics) {
    for (const Pipeline& p : config.pipelines) {
      by_name_.emplace(p.name, &p);
      pipeline_names_.push_back(p.name);
    }
  }

  void Run() {
    CheckMaterials();
    CheckCycles();
    for (const Pipeline& p : config_.pipelines) {
      for (size_t s = 0; s < p.stages.size(); ++s) {
        for (const Job& job : p.stages[s].jobs) {
          for (const Task& task : job.tasks) {
            CheckFetch(p, static_cast<int>(s), task);
            for (const Task& cancel : task.on_cancel) {
              CheckFetch(p, static_cast<int>(s), cancel);
            }
          }
        }
      }
    }
    CheckEnvironments();
  }

 private:
  void Error(const SourceLocation& at, std::string message) {
    diagnostics_->Add(at, std::move(message));
  }

  const Pipeline* Find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }

  // "; did you mean 'x'?" for a close enough candidate, else "".
  static std::string Suggest(const std::string& word,
                             const std::vector<absl::string_view>& candidates) {
    std::string close = ClosestMatch(word, candidates);
    return close.empty() ? "" : absl::StrCat("; did you mean '", close, "'?");
  }

  static std::vector<absl::string_view> StageNames(const Pipeline& p) {
    std::vector<absl::string_view> out;
    for (const Stage& s : p.stages) out.push_back(s.name);
    return out;
  }

  void CheckMaterials() {
    for (const Pipeline& p : config_.pipelines) {
      for (const Material& m : p.materials) {
        if (m.type != Material::Type::kPipeline || m.pipeline.empty()) continue;
        if (m.pipeline == p.name) {
          Error(m.location, absl::StrCat("material '", m.name, "': pipeline '",
                                         p.name, "' cannot depend on itself"));
          continue;
        }
        const Pipeline* up = Find(m.pipeline);
        if (up == nullptr) {
          Error(m.location, absl::StrCat("material '", m.name, "': pipeline '",
                                         m.pipeline, "' does not exist",
                                         Suggest(m.pipeline, pipeline_names_)));
        } else if (!m.stage.empty() && up->StageIndex(m.stage) < 0) {
          Error(m.location,
                absl::StrCat("material '", m.name, "': pipeline '", m.pipeline,
                             "' has no stage '", m.stage, "'",
                             Suggest(m.stage, StageNames(*up))));
        }
      }
    }
  }

  // Depth-first along "depends on" edges; a grey upstream closes a cycle.
  void CheckCycles() {
    for (const Pipeline& p : config_.pipelines) {
      if (color_[&p] == 0) Visit(&p);
    }
  }

  void Visit(const Pipeline* p) {
    color_[p] = 1;
    stack_.push_back(p);
    for (const Material& m : p->materials) {
      if (m.type != Material::Type::kPipeline || m.pipeline == p->name)
        continue;
      const Pipeline* up = Find(m.pipeline);
      if (up == nullptr) continue;
      if (color_[up] == 1) {
        ReportCycle(up);
      } else if (color_[up] == 0) {
        Visit(up);
      }
    }
    stack_.pop_back();
    color_[p] = 2;
  }

  // The stack from `up` to its top depends on each other in turn, and the
  // top depends on `up`. Named in trigger order, starting at the smallest
  // name, so one cycle is reported once, at a material of that pipeline.
  void ReportCycle(const Pipeline* up) {
    auto start = std::find(stack_.begin(), stack_.end(), up);
    std::vector<const Pipeline*> flow(start, stack_.end());
    std::reverse(flow.begin() + 1, flow.end());  // up, top, …, next of up
    auto smallest = std::min_element(
        flow.begin(), flow.end(),
        [](const Pipeline* a, const Pipeline* b) { return a->name < b->name; });
    std::rotate(flow.begin(), smallest, flow.end());
    std::vector<std::string> names;
    for (const Pipeline* p : flow) names.push_back(p->name);
    names.push_back(flow.front()->name);
    std::string text = absl::StrJoin(names, " -> ");
    if (!reported_cycles_.insert(text).second) return;
    const Material* m = flow.front()->FindDependency(flow.back()->name);
    Error(m ? m->location : flow.front()->location,
          absl::StrCat("dependency cycle: ", text,
                       " (each pipeline triggers the next)"));
  }

  void CheckFetch(const Pipeline& p, int stage_index, const Task& task) {
    if (task.kind != Task::Kind::kFetch) return;
    const FetchTask& f = task.fetch;
    if (f.stage.empty() || f.job.empty()) return;  // reported when read
    const SourceLocation& at = task.location;
    const Pipeline* source = &p;
    int index = -1;
    if (f.pipeline.empty() || f.pipeline == p.name) {
      index = p.StageIndex(f.stage);
      if (index < 0) {
        Error(at, absl::StrCat("fetch: pipeline '", p.name, "' has no stage '",
                               f.stage, "'", Suggest(f.stage, StageNames(p))));
        return;
      }
      if (index >= stage_index) {
        Error(at,
              absl::StrCat("fetch: stage '", f.stage, "' ",
                           index == stage_index
                               ? "is this task's own stage"
                               : absl::StrCat("runs after stage '",
                                              p.stages[stage_index].name, "'"),
                           ": fetch from an earlier stage"));
        return;
      }
    } else {
      std::vector<std::string> path = f.PathFromDirectUpstream(p.name);
      for (const std::string& element : path) {
        if (!IsValidName(element)) {
          Error(at, absl::StrCat("fetch: invalid pipeline path '", f.pipeline,
                                 "': write 'upstream' or "
                                 "'ancestor/…/upstream'"));
          return;
        }
      }
      const Pipeline* current = &p;
      const Material* hop = nullptr;
      for (const std::string& element : path) {
        hop = current->FindDependency(element);
        if (hop == nullptr) {
          Error(at, absl::StrCat("fetch: pipeline '", element,
                                 "' is not an upstream of '", current->name,
                                 "' (no pipeline material on it)",
                                 path.size() > 1 ? absl::StrCat(" in path '",
                                                                f.pipeline, "'")
                                                 : ""));
          return;
        }
        current = Find(element);
        if (current == nullptr) return;  // reported at the material
      }
      source = current;
      index = source->StageIndex(f.stage);
      if (index < 0) {
        Error(at, absl::StrCat("fetch: pipeline '", source->name,
                               "' has no stage '", f.stage, "'",
                               Suggest(f.stage, StageNames(*source))));
        return;
      }
      int trigger = source->StageIndex(hop->stage);
      if (trigger >= 0 && index > trigger) {
        Error(at, absl::StrCat("fetch: stage '", f.stage, "' of pipeline '",
                               source->name,
                               "' may not have run yet: the dependency is on "
                               "its stage '",
                               hop->stage,
                               "'; fetch from that stage or an "
                               "earlier one"));
        return;
      }
    }
    const Stage& stage = source->stages[index];
    if (stage.FindJob(f.job) == nullptr) {
      std::vector<absl::string_view> jobs;
      for (const Job& j : stage.jobs) jobs.push_back(j.name);
      Error(at, absl::StrCat("fetch: stage '", stage.name, "' of pipeline '",
                             source->name, "' has no job '", f.job, "'",
                             Suggest(f.job, jobs)));
    }
  }

  void CheckEnvironments() {
    struct Entry {
      const std::string* pipeline;
      const Environment* environment;
      SourceLocation at;
    };
    std::vector<Entry> entries;
    for (const Environment& env : config_.environments) {
      for (size_t i = 0; i < env.pipelines.size(); ++i) {
        SourceLocation at = i < env.pipeline_locations.size()
                                ? env.pipeline_locations[i]
                                : env.location;
        entries.push_back(Entry{&env.pipelines[i], &env, at});
      }
    }
    std::stable_sort(
        entries.begin(), entries.end(),
        [](const Entry& a, const Entry& b) { return Before(a.at, b.at); });
    std::map<std::string, const Entry*> first;
    for (const Entry& e : entries) {
      if (Find(*e.pipeline) == nullptr) {
        Error(e.at,
              absl::StrCat("environment '", e.environment->name,
                           "': pipeline '", *e.pipeline, "' does not exist",
                           Suggest(*e.pipeline, pipeline_names_)));
        continue;
      }
      auto [it, fresh] = first.emplace(*e.pipeline, &e);
      if (fresh) continue;
      const Entry& prev = *it->second;
      Error(e.at, absl::StrCat("pipeline '", *e.pipeline,
                               "' is already in environment '",
                               prev.environment->name, "' (at ",
                               LocationText(prev.at), ")"));
    }
  }

  const Config& config_;
  Diagnostics* diagnostics_;
  std::map<std::string, const Pipeline*> by_name_;
  std::vector<absl::string_view> pipeline_names_;
  std::map<const Pipeline*, int> color_;  // 0 new, 1 on the stack, 2 done
  std::vector<const Pipeline*> stack_;
  std::set<std::string> reported_cycles_;
};

}  // namespace

void ValidateReferences(const Config& config, Diagnostics* diagnostics) {
  Validator(config, diagnostics).Run();
}

}  // namespace gantry::config::internal
