// Shell completion: `gantry completion bash|zsh` prints a script whose
// function calls `gantry __complete WORD...` on every TAB. The candidates
// come from the CLI11 command tree itself (nouns, verbs, flags), so a new
// command completes without touching the scripts, plus names that only the
// controller knows (pipelines, environments, agents) when it is reachable.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace gantry::cli {

class CommandContext;

// What a value slot holds, for the names only the controller knows.
enum class NameKind { kPipeline, kEnvironment, kAgent };

// Names of one kind from the controller; empty when it cannot be reached.
using NameSource = std::function<std::vector<std::string>(NameKind)>;

// Candidates for the last of `words` (the words after the program name; the
// last one is the word being completed, possibly empty), in `app`'s tree.
// Only candidates starting with that word are returned. A locator slot
// (RUN, STAGE, JOB) offers "PIPELINE/" without a trailing space: the
// scripts leave the cursor after a word ending in '/'. "__files" alone
// means: complete file names.
std::vector<std::string> Complete(CLI::App& app, const std::vector<std::string>& words,
                                  const NameSource& names);

// Names of `kind` the caller may view, from the controller (commands_completion.cc).
absl::StatusOr<std::vector<std::string>> ControllerNames(CommandContext& context, NameKind kind);

// The script for `shell` (bash or zsh).
absl::StatusOr<std::string> CompletionScript(const std::string& shell);

}  // namespace gantry::cli
