// Reads `tasks:`: each entry is a one-key map naming the task type (exec,
// fetch or script), with run_if and an optional on_cancel task inside the
// body.
#include "absl/strings/str_cat.h"
#include "common/config/parse_internal.h"

namespace gantry::config::internal {
namespace {

// GoCD task types Gantry does not run.
const std::vector<absl::string_view> kUnsupportedTasks = {"ant", "nant", "rake"};

// GoCD's script-executor plugin, the one task plugin Gantry runs: as the
// plugin does, the script goes to bash, whose status is the task's.
constexpr absl::string_view kScriptPluginId = "script-executor";
const KeySet kScriptKeys = {{"script", "run_if", "on_cancel"}, {}};
const KeySet kPluginKeys = {{"configuration", "options", "run_if", "on_cancel"},
                            {"secure_options"}};

const KeySet kExecKeys = {
    {"command", "arguments", "working_directory", "run_if", "on_cancel"}, {}};
const KeySet kFetchKeys = {
    {"pipeline", "stage", "job", "source", "file", "destination", "is_file",
     "run_if", "on_cancel", "artifact_origin"},
    {"artifact_id", "configuration"}};

std::optional<Task> ParseTask(YamlReader& reader, const Field& element,
                              bool nested);

void ReadExec(YamlReader& reader, const Field& body, const Fields& fields,
              Task& task) {
  task.kind = Task::Kind::kExec;
  if (const Field* f = fields.Get("command")) {
    task.exec.command = reader.String(*f).value_or("");
  }
  if (task.exec.command.empty()) {
    reader.Error(body.key_location, "exec task has no 'command'");
  }
  if (const Field* f = fields.Get("arguments")) {
    task.exec.arguments = reader.StringList(*f);
  }
  if (const Field* f = fields.Get("working_directory")) {
    task.exec.working_directory = ReadRelativePath(reader, *f).value_or("");
  }
}

// False when the fetch is of a kind Gantry lacks (reported): its other keys
// then mean something else and are not checked.
bool ReadFetch(YamlReader& reader, const Field& body, const Fields& fields, Task& task) {
  task.kind = Task::Kind::kFetch;
  FetchTask& fetch = task.fetch;
  if (const Field* f = fields.Get("artifact_origin")) {
    std::optional<std::string> origin = reader.String(*f);
    if (origin && *origin == "external") {
      reader.Error(f->value_location,
                   "artifact_origin 'external' (a fetch from an external artifact store) is not "
                   "supported by Gantry");
      return false;
    } else if (origin && *origin != "gocd") {
      reader.Error(f->value_location,
                   absl::StrCat("invalid artifact_origin '", *origin,
                                "': expected gocd"));
    }
  }
  if (const Field* f = fields.Get("pipeline")) {
    fetch.pipeline = reader.String(*f).value_or("");
  }
  for (auto [key, out] :
       {std::pair{"stage", &fetch.stage}, std::pair{"job", &fetch.job}}) {
    const Field* f = fields.Get(key);
    if (f) *out = reader.String(*f).value_or("");
    if (out->empty()) {
      reader.Error(body.key_location,
                   absl::StrCat("fetch task has no '", key, "'"));
    }
  }
  const Field* source = fields.Get("source");
  const Field* file = fields.Get("file");
  if (source && file) {
    reader.Error(file->key_location,
                 "give either 'source' (with 'is_file') or 'file', not both");
  } else if (source || file) {
    const Field* f = source ? source : file;
    fetch.source = ReadRelativePath(reader, *f).value_or("");
    fetch.is_file = file != nullptr;
  }
  if (!source && !file) {
    reader.Error(body.key_location,
                 "fetch task has no 'source' (a directory, or a file with "
                 "'is_file: true') or 'file'");
  }
  if (const Field* f = fields.Get("is_file")) {
    std::optional<bool> is_file = reader.Bool(*f);
    if (is_file && file) {
      reader.Error(f->key_location, "'is_file' goes with 'source', not 'file'");
    } else if (is_file) {
      fetch.is_file = *is_file;
    }
  }
  if (const Field* f = fields.Get("destination")) {
    fetch.destination = ReadRelativePath(reader, *f).value_or("");
  }
  return true;
}

// The script as an exec of bash: `bash -c SCRIPT`, in the working directory.
void SetScript(const std::string& script, Task& task) {
  task.kind = Task::Kind::kExec;
  task.exec.command = "bash";
  task.exec.arguments = {"-c", script};
  task.script = script;
}

void ReadScript(YamlReader& reader, const Field& body, const Field* script, Task& task) {
  std::optional<std::string> text = script ? reader.String(*script) : std::nullopt;
  if (!text || text->empty()) {
    if (!script || script->value.IsNull()) reader.Error(body.key_location, "script task is empty");
    return;
  }
  SetScript(*text, task);
}

// A `plugin` task: the script-executor plugin's is a script task, any other
// plugin is refused naming it. False when refused.
bool ReadPlugin(YamlReader& reader, const Field& body, const Fields& fields, Task& task) {
  std::string id;
  if (const Field* f = fields.Get("configuration"); f && f->value.IsMap()) {
    YamlNode node = f->value["id"];
    if (node.IsScalar()) id = node.Scalar();
  }
  if (id != kScriptPluginId) {
    reader.Error(body.key_location,
                 id.empty() ? std::string("'plugin' tasks are not supported by Gantry (only the "
                                          "script-executor plugin's, as 'script')")
                            : absl::StrCat("task plugin '", id,
                                           "' is not supported by Gantry (only script-executor, "
                                           "as 'script')"));
    return false;
  }
  const Field* options = fields.Get("options");
  std::optional<Fields> option_fields;
  if (options) {
    option_fields =
        reader.Object(*options, "script-executor options", KeySet{{"script", "shtype"}, {}});
  }
  const Field* script = option_fields ? option_fields->Get("script") : nullptr;
  if (const Field* f = option_fields ? option_fields->Get("shtype") : nullptr) {
    if (std::optional<std::string> shell = reader.String(*f); shell && *shell != "bash") {
      reader.Error(f->value_location, absl::StrCat("shtype '", *shell,
                                                   "' is not supported by Gantry: scripts run "
                                                   "with bash"));
    }
  }
  ReadScript(reader, body, script, task);
  return true;
}

std::optional<Task> ParseTask(YamlReader& reader, const Field& element,
                              bool nested) {
  absl::string_view what = nested ? "'on_cancel'" : "'tasks' entry";
  std::optional<Field> body =
      ReadOneKeyMap(reader, element, what, "the task type: exec, fetch or script");
  if (!body) return std::nullopt;
  for (absl::string_view unsupported : kUnsupportedTasks) {
    if (body->key == unsupported) {
      reader.Error(
          body->key_location,
          absl::StrCat("'", body->key, "' is not supported by Gantry"));
      return std::nullopt;
    }
  }
  const std::string& type = body->key;
  Task task;
  task.location = body->key_location;
  // The shorthand: `script: TEXT`.
  if (type == "script" && !body->value.IsMap()) {
    ReadScript(reader, *body, &*body, task);
    if (task.exec.command.empty()) return std::nullopt;
    return task;
  }
  const KeySet* keys = type == "exec"     ? &kExecKeys
                       : type == "fetch"  ? &kFetchKeys
                       : type == "script" ? &kScriptKeys
                       : type == "plugin" ? &kPluginKeys
                                          : nullptr;
  if (keys == nullptr) {
    std::string message =
        absl::StrCat("unknown task type '", body->key, "': expected exec, fetch or script");
    std::string close = ClosestMatch(body->key, {"exec", "fetch", "script"});
    if (!close.empty())
      absl::StrAppend(&message, "; did you mean '", close, "'?");
    reader.Error(body->key_location, message);
    return std::nullopt;
  }
  std::optional<Fields> fields = reader.Object(*body, absl::StrCat(type, " task"), *keys);
  if (!fields) return std::nullopt;
  if (type == "exec") {
    ReadExec(reader, *body, *fields, task);
  } else if (type == "fetch") {
    if (!ReadFetch(reader, *body, *fields, task)) return std::nullopt;
  } else if (type == "script") {
    ReadScript(reader, *body, fields->Get("script"), task);
  } else if (!ReadPlugin(reader, *body, *fields, task)) {
    return std::nullopt;
  }
  if (const Field* f = fields->Get("run_if")) {
    int choice = ReadChoice(reader, *f, {"passed", "failed", "any"});
    if (choice >= 0) task.run_if = static_cast<RunIf>(choice);
  }
  if (const Field* f = fields->Get("on_cancel")) {
    if (nested) {
      reader.Error(f->key_location,
                   "an on_cancel task cannot have its own 'on_cancel'");
    } else if (std::optional<Task> cancel = ParseTask(reader, *f, true)) {
      task.on_cancel.push_back(std::move(*cancel));
    }
  }
  return task;
}

}  // namespace

std::vector<Task> ParseTasks(YamlReader& reader, const Field& field) {
  std::vector<Task> out;
  // A Task is large; growing by doubling would hold three times the tasks.
  out.reserve(YamlReader::FlatSize(field.value));
  reader.ForEachElement(field, "'tasks'", [&](const Field& element) {
    if (std::optional<Task> task = ParseTask(reader, element, false)) {
      out.push_back(std::move(*task));
    }
  });
  return out;
}

}  // namespace gantry::config::internal
