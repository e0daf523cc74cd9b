#include "cli/completion.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gantry::cli {
namespace {

constexpr char kFiles[] = "__files";

bool Visible(const CLI::App* app) { return !app->get_group().empty(); }

// The visible subcommand of `app` named `name`, or nullptr.
CLI::App* Subcommand(CLI::App* app, const std::string& name) {
  for (CLI::App* sub : app->get_subcommands([](CLI::App* s) { return Visible(s); })) {
    if (sub->get_name() == name) return sub;
  }
  return nullptr;
}

bool NamedBy(const CLI::Option* opt, const std::string& word) {
  for (const std::string& l : opt->get_lnames()) {
    if (word == "--" + l) return true;
  }
  for (const std::string& s : opt->get_snames()) {
    if (word == "-" + s) return true;
  }
  return false;
}

// The flag `word` (without any "=value") names in `app` or, since global
// flags may follow the verb, in one of its parents.
const CLI::Option* FindFlag(CLI::App* app, const std::string& word) {
  for (CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    for (const CLI::Option* opt : a->get_options()) {
      if (!opt->get_positional() && NamedBy(opt, word)) return opt;
    }
  }
  return nullptr;
}

bool TakesValue(const CLI::Option* opt) { return opt->get_items_expected_max() > 0; }

std::vector<const CLI::Option*> Positionals(CLI::App* app) {
  std::vector<const CLI::Option*> out;
  for (const CLI::Option* opt : app->get_options()) {
    if (opt->get_positional() && opt->get_lnames().empty() && opt->get_snames().empty()) {
      out.push_back(opt);
    }
  }
  return out;
}

// Candidates for a value slot called `slot`: a positional's name (PIPELINE)
// or a flag's long name (--pipeline).
std::vector<std::string> ValuesFor(const std::string& slot, const NameSource& names) {
  auto with_slash = [](std::vector<std::string> v) {
    for (std::string& s : v) s += "/";
    return v;
  };
  if (slot == "PIPELINE" || slot == "--pipeline") return names(NameKind::kPipeline);
  if (slot == "RUN" || slot == "STAGE" || slot == "JOB" || slot == "--to") {
    return with_slash(names(NameKind::kPipeline));
  }
  if (slot == "ENV" || slot == "--environments") {
    return names(NameKind::kEnvironment);
  }
  if (slot == "AGENT") return names(NameKind::kAgent);
  if (slot == "SHELL") return {"bash", "zsh"};
  if (slot == "--output") return {"text", "json"};
  if (slot == "PATH" || slot == "--file" || slot == "--token-file" || slot == "--ca-file" ||
      slot == "--dir") {
    return {kFiles};
  }
  return {};
}

std::string SlotName(const CLI::Option* opt) {
  if (!opt->get_lnames().empty()) return "--" + opt->get_lnames().front();
  return opt->get_name(true);
}

void AddFlagNames(CLI::App* app, std::vector<std::string>& out) {
  for (CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    for (const CLI::Option* opt : a->get_options()) {
      if (opt->get_group().empty() || opt->get_positional()) continue;
      for (const std::string& l : opt->get_lnames()) out.push_back("--" + l);
    }
  }
}

}  // namespace

std::vector<std::string> Complete(CLI::App& root, const std::vector<std::string>& words,
                                  const NameSource& names) {
  if (words.empty()) return Complete(root, {""}, names);
  CLI::App* app = &root;
  size_t positional = 0;
  const CLI::Option* pending = nullptr;  // a flag whose value comes next
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& word = words[i];
    if (pending != nullptr) {
      pending = nullptr;
      continue;
    }
    if (word.size() > 1 && word[0] == '-') {
      if (word == "--") continue;
      std::string name = word.substr(0, word.find('='));
      const CLI::Option* opt = FindFlag(app, name);
      if (opt != nullptr && TakesValue(opt) && name.size() == word.size()) pending = opt;
      continue;
    }
    if (CLI::App* sub = Subcommand(app, word); sub != nullptr && positional == 0) {
      app = sub;
      continue;
    }
    ++positional;
  }

  const std::string& prefix = words.back();
  std::vector<std::string> candidates;
  if (pending != nullptr) {
    candidates = ValuesFor(SlotName(pending), names);
  } else if (!prefix.empty() && prefix[0] == '-') {
    AddFlagNames(app, candidates);
  } else {
    for (CLI::App* sub : app->get_subcommands([](CLI::App* s) { return Visible(s); })) {
      if (positional == 0) candidates.push_back(sub->get_name());
    }
    std::vector<const CLI::Option*> slots = Positionals(app);
    if (!slots.empty()) {
      // A trailing positional that takes many values (PATH...) keeps taking them.
      const CLI::Option* slot = slots[std::min(positional, slots.size() - 1)];
      if (positional < slots.size() || slot->get_items_expected_max() > 1) {
        for (std::string& v : ValuesFor(slot->get_name(true), names)) {
          candidates.push_back(std::move(v));
        }
      }
    }
  }
  if (candidates.size() == 1 && candidates[0] == kFiles) return candidates;
  std::vector<std::string> out;
  for (std::string& c : candidates) {
    if (c != kFiles && absl::StartsWith(c, prefix)) out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

// COMP_WORDBREAKS splits at ':' and '=' by default; the words are rebuilt
// from the line instead, so `--var K=V` and `host:port` stay whole.
constexpr char kBash[] = R"(# gantry completion for bash: source <(gantry completion bash)
_gantry() {
  local cur words cword
  if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
    _get_comp_words_by_ref -n =: cur words cword
  else
    words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; cur=${COMP_WORDS[COMP_CWORD]}
  fi
  local IFS=$'\n'
  local candidates
  candidates=($("${words[0]}" __complete "${words[@]:1:cword}" 2>/dev/null))
  if [[ ${#candidates[@]} -eq 1 && ${candidates[0]} == __files ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
    return
  fi
  COMPREPLY=("${candidates[@]}")
  if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
    compopt -o nospace 2>/dev/null
  fi
}
complete -F _gantry gantry
)";

constexpr char kZsh[] = R"(#compdef gantry
# gantry completion for zsh: source <(gantry completion zsh)
_gantry() {
  local -a candidates
  candidates=("${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(${candidates:#})
  if [[ ${#candidates} -eq 1 && ${candidates[1]} == __files ]]; then
    _files
    return
  fi
  local -a dirs plain
  dirs=(${(M)candidates:#*/})
  plain=(${candidates:#*/})
  (( ${#plain} )) && compadd -- "${plain[@]}"
  (( ${#dirs} )) && compadd -S '' -- "${dirs[@]}"
  return 0
}
if (( $+functions[compdef] )); then
  compdef _gantry gantry
fi
)";

}  // namespace

absl::StatusOr<std::string> CompletionScript(const std::string& shell) {
  if (shell == "bash") return std::string(kBash);
  if (shell == "zsh") return std::string(kZsh);
  return absl::InvalidArgumentError(
      absl::StrCat("no completion for shell '", shell, "': give bash or zsh"));
}

}  // namespace gantry::cli
