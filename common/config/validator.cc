#include "common/config/validator.h"

#include <algorithm>
#include <cstdint>
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

  // "; did you mean 'x'?" for a close enough candidate, else "". Each
  // suggestion compares against every candidate, so a config of thousands of
  // wrong references to thousands of pipelines would take quadratic time:
  // past a budget of comparisons, no more suggestions.
  std::string Suggest(const std::string& word, const std::vector<absl::string_view>& candidates) {
    if (candidates.size() > suggestion_budget_) return "";
    suggestion_budget_ -= candidates.size();
    std::string close = ClosestMatch(word, candidates);
    return close.empty() ? "" : absl::StrCat("; did you mean '", close, "'?");
  }

  // Suggest among the pipeline's stages; checks the budget before listing
  // them, which alone costs as much as comparing.
  std::string SuggestStage(const std::string& word, const Pipeline& p) {
    if (p.stages.size() > suggestion_budget_) return "";
    std::vector<absl::string_view> names;
    for (const Stage& s : p.stages) names.push_back(s.name);
    return Suggest(word, names);
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
        } else if (!m.stage.empty() && !up->incomplete && up->StageIndex(m.stage) < 0) {
          Error(m.location,
                absl::StrCat("material '", m.name, "': pipeline '", m.pipeline, "' has no stage '",
                             m.stage, "'", SuggestStage(m.stage, *up)));
        }
      }
    }
  }

  // Depth-first along "depends on" edges; a grey upstream closes a cycle.
  // With an explicit stack: a chain of thousands of pipelines must not
  // overflow the thread's.
  void CheckCycles() {
    struct Step {
      const Pipeline* pipeline;
      size_t next_material = 0;
    };
    for (const Pipeline& start : config_.pipelines) {
      if (color_[&start] != 0) continue;
      std::vector<Step> steps = {{&start}};
      color_[&start] = 1;
      stack_.push_back(&start);
      while (!steps.empty()) {
        Step& step = steps.back();
        const Pipeline* p = step.pipeline;
        if (step.next_material == p->materials.size()) {
          stack_.pop_back();
          color_[p] = 2;
          steps.pop_back();
          continue;
        }
        const Material& m = p->materials[step.next_material++];
        if (m.type != Material::Type::kPipeline || m.pipeline == p->name) continue;
        const Pipeline* up = Find(m.pipeline);
        if (up == nullptr) continue;
        if (color_[up] == 1) {
          ReportCycle(up);
        } else if (color_[up] == 0) {
          color_[up] = 1;
          stack_.push_back(up);
          steps.push_back({up});  // `step` is not used after this
        }
      }
    }
  }

  // The stack from `up` to its top depends on each other in turn, and the
  // top depends on `up`. Named in trigger order, starting at the smallest
  // name, so one cycle is reported once, at a material of that pipeline.
  // A long cycle is named by its first pipelines only: n back edges over a
  // chain of n pipelines would otherwise build n² of text.
  void ReportCycle(const Pipeline* up) {
    constexpr size_t kMaxNamed = 10;
    auto start = std::find(stack_.begin(), stack_.end(), up);
    std::vector<const Pipeline*> flow(start, stack_.end());
    std::reverse(flow.begin() + 1, flow.end());  // up, top, …, next of up
    auto smallest = std::min_element(
        flow.begin(), flow.end(),
        [](const Pipeline* a, const Pipeline* b) { return a->name < b->name; });
    std::rotate(flow.begin(), smallest, flow.end());
    // Remembered by length and hash, not by the list: n cycles of up to n
    // pipelines each would take n² memory.
    uint64_t hash = 14695981039346656037u;  // FNV-1a over the pipelines
    for (const Pipeline* p : flow) {
      hash = (hash ^ reinterpret_cast<uintptr_t>(p)) * 1099511628211u;
    }
    if (!reported_cycles_.emplace(flow.size(), hash).second) return;
    std::vector<std::string> names;
    for (size_t i = 0; i < flow.size() && i < kMaxNamed; ++i) names.push_back(flow[i]->name);
    if (flow.size() > kMaxNamed) {
      names.push_back(absl::StrCat("… (", flow.size() - kMaxNamed, " more)"));
    }
    names.push_back(flow.front()->name);
    std::string text = absl::StrJoin(names, " -> ");
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
      if (p.incomplete) return;
      index = p.StageIndex(f.stage);
      if (index < 0) {
        Error(at, absl::StrCat("fetch: pipeline '", p.name, "' has no stage '", f.stage, "'",
                               SuggestStage(f.stage, p)));
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
      if (source->incomplete) return;
      index = source->StageIndex(f.stage);
      if (index < 0) {
        Error(at, absl::StrCat("fetch: pipeline '", source->name, "' has no stage '", f.stage, "'",
                               SuggestStage(f.stage, *source)));
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
  std::set<std::pair<size_t, uint64_t>> reported_cycles_;
  size_t suggestion_budget_ = 10'000'000;
};

}  // namespace

void ValidateReferences(const Config& config, Diagnostics* diagnostics) {
  Validator(config, diagnostics).Run();
}

}  // namespace gantry::config::internal
