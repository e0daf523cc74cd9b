// ParseConfig: reads each file's top level, merges the files (pipeline names
// are global, environments of the same name are merged, as GoCD merges
// partial environments), then checks cross-references.
#include "common/config/parser.h"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/parse_internal.h"
#include "common/config/utf8.h"
#include "common/config/validator.h"
#include "common/config/yaml_reader.h"
#include "common/config/yaml_tree.h"

namespace gantry::config {
namespace {

using internal::Diagnostics;
using internal::Field;
using internal::Fields;
using internal::KeySet;
using internal::YamlReader;

constexpr int kMaxFormatVersion = 10;

const KeySet kTopKeys = {
    {"format_version", "pipelines", "environments", "common", "security", "templates",
     "config_repos"},
    {}};
// Sections only the main config (`config apply`) may hold, not a file of a
// config repository.
constexpr const char* kMainOnlyKeys[] = {"security", "config_repos"};

// What one file contributes before merging.
struct FileContent {
  int format_version = 1;
  std::vector<Pipeline> pipelines;
  std::vector<Environment> environments;
  std::optional<Security> security;
  std::vector<ConfigRepo> config_repos;
};

// One file, read in two passes: its tree and top level first (so the
// templates of every file are known), then its pipelines and the rest.
struct OpenFile {
  std::unique_ptr<internal::YamlTree> tree;
  std::unique_ptr<YamlReader> reader;
  std::optional<Fields> fields;  // the top level; nullopt: nothing to read
  FileContent content;
  std::string config_repo;  // ConfigFile::config_repo
};

OpenFile OpenOneFile(const ConfigFile& file, const Limits& limits, internal::YamlBudget* budget,
                     Diagnostics* diagnostics, internal::TemplateSet* templates) {
  OpenFile open;
  open.config_repo = file.config_repo;
  open.tree = std::make_unique<internal::YamlTree>();
  open.reader = std::make_unique<YamlReader>(file.path, diagnostics);
  YamlReader& reader = *open.reader;
  if (std::optional<Utf8Error> bad = FindInvalidUtf8(file.content)) {
    reader.Error({file.path, bad->line, bad->column},
                 absl::StrCat(bad->message, "; config files must be UTF-8"));
    return open;
  }
  if (std::optional<ConfigError> e = open.tree->Build(file, limits, budget)) {
    reader.Error(e->location, std::move(e->message));
    return open;
  }
  const std::vector<internal::YamlNode>& documents = open.tree->documents();
  if (documents.empty()) return open;
  if (documents.size() > 1) {
    reader.Error(reader.Location(documents[1]),
                 "a config file holds one YAML document; this is a second one");
  }
  Field top = reader.Element(documents[0], SourceLocation{file.path, 1, 1});
  open.fields = reader.Object(top, "the top level", kTopKeys);
  if (!open.fields) return open;
  if (!file.config_repo.empty()) {
    for (const char* key : kMainOnlyKeys) {
      if (const Field* f = open.fields->Get(key)) {
        reader.Error(f->key_location,
                     absl::StrCat("a file of config repo '", file.config_repo, "' may not hold '",
                                  key, "': only the main config (config apply) does"));
      }
    }
  }

  if (const Field* f = open.fields->Get("format_version")) {
    std::optional<int64_t> version = reader.Integer(*f);
    if (version && (*version < 1 || *version > kMaxFormatVersion)) {
      reader.Error(f->value_location,
                   absl::StrCat("format_version must be from 1 to ",
                                kMaxFormatVersion, ", got ", *version));
    } else if (version) {
      open.content.format_version = static_cast<int>(*version);
    } else if (f->value.IsNull()) {
      reader.Error(f->value_location, "format_version is empty");
    }
  }
  if (const Field* f = open.fields->Get("templates")) templates->Read(reader, *f);
  return open;
}

void ReadOpenFile(OpenFile& open, const internal::PipelineContext& context) {
  if (!open.fields) return;
  YamlReader& reader = *open.reader;
  FileContent& content = open.content;
  // `common:` only holds YAML anchors for use elsewhere: nothing to read.
  if (const Field* f = open.fields->Get("pipelines")) {
    for (const Field& entry :
         reader.Entries(*f, "'pipelines'", "pipeline", /*ignore_case=*/true)) {
      content.pipelines.push_back(internal::ParsePipeline(reader, entry, context));
      content.pipelines.back().config_repo = open.config_repo;
    }
  }
  if (const Field* f = open.fields->Get("environments")) {
    for (const Field& entry :
         reader.Entries(*f, "'environments'", "environment",
                        /*ignore_case=*/true)) {
      content.environments.push_back(internal::ParseEnvironment(reader, entry));
    }
  }
  if (const Field* f = open.fields->Get("security")) {
    content.security = internal::ParseSecurity(reader, *f);
  }
  if (const Field* f = open.fields->Get("config_repos")) {
    content.config_repos = internal::ParseConfigRepos(reader, *f);
  }
}

// Where a pipeline comes from, for messages: "config repo 'ci'" or "the
// main config".
std::string Origin(const std::string& config_repo) {
  return config_repo.empty() ? "the main config"
                             : absl::StrCat("config repo '", config_repo, "'");
}

// A pipeline defined twice. When the two come from different places (the
// main config and a config repo, or two repos) the message names both: a
// repo's pipelines belong to it, and `config apply` cannot change them.
std::string DuplicatePipelineMessage(const Pipeline& p, const std::string& first_name,
                                     const SourceLocation& first_at,
                                     const std::string& first_repo) {
  if (first_repo != p.config_repo) {
    std::string text = absl::StrCat("pipeline '", p.name, "' is already defined by ",
                                    Origin(first_repo), " at ", internal::LocationText(first_at));
    if (!first_repo.empty() && p.config_repo.empty()) {
      absl::StrAppend(&text, "; change it in that repository: config apply cannot change it");
    } else {
      absl::StrAppend(&text, "; pipeline names are shared by the main config and config repos");
    }
    return text;
  }
  return first_name == p.name
             ? absl::StrCat("duplicate pipeline '", p.name, "' (first at ",
                            internal::LocationText(first_at), ")")
             : absl::StrCat("duplicate pipeline '", p.name, "': same as '", first_name, "' at ",
                            internal::LocationText(first_at), " (names ignore case)");
}

// Adds `env` into `into`, an environment of the same name from another file.
void MergeEnvironment(Environment& into, Environment env,
                      Diagnostics* diagnostics) {
  into.pipelines.insert(into.pipelines.end(), env.pipelines.begin(),
                        env.pipelines.end());
  into.pipeline_locations.insert(into.pipeline_locations.end(),
                                 env.pipeline_locations.begin(),
                                 env.pipeline_locations.end());
  for (std::string& agent : env.agents) {
    if (std::find(into.agents.begin(), into.agents.end(), agent) ==
        into.agents.end()) {
      into.agents.push_back(std::move(agent));
    }
  }
  for (std::string& user : env.deployers.users) into.deployers.users.push_back(std::move(user));
  for (std::string& role : env.deployers.roles) into.deployers.roles.push_back(std::move(role));
  if (into.deployers.location.line == 0) into.deployers.location = env.deployers.location;
  into.lock = into.lock || env.lock;
  for (Variable& v : env.variables) {
    bool clash =
        std::any_of(into.variables.begin(), into.variables.end(),
                    [&](const Variable& w) { return w.name == v.name; });
    if (clash) {
      diagnostics->Add(
          env.location,
          absl::StrCat("environment '", env.name, "': variable '", v.name,
                       "' is also set where this environment is "
                       "defined at ",
                       internal::LocationText(into.location)));
      continue;
    }
    into.variables.push_back(std::move(v));
  }
}

}  // namespace

std::string ConfigError::ToString() const {
  return absl::StrCat(location.file.str(), ":", location.line, ":", location.column, ": ", message);
}

std::string MoreErrorsText(size_t more_errors) {
  return absl::StrCat("and ", more_errors, " more error", more_errors == 1 ? "" : "s");
}

std::string ParseResult::ErrorText() const {
  std::vector<std::string> lines;
  for (const ConfigError& e : errors) lines.push_back(e.ToString());
  if (more_errors > 0) lines.push_back(MoreErrorsText(more_errors));
  return absl::StrJoin(lines, "\n");
}

ParseResult ParseConfig(const std::vector<ConfigFile>& files, const Limits& limits) {
  ParseResult result;
  Diagnostics diagnostics(limits.max_errors);
  internal::YamlBudget budget;
  // Lower-cased name -> (name, where, config repo) of the pipeline first
  // defined.
  std::map<std::string, std::tuple<std::string, SourceLocation, std::string>> pipelines_seen;
  std::map<std::string, SourceLocation> config_repos_seen;  // lower-cased id
  std::map<std::string, size_t> environments_seen;  // lower-cased -> index
  internal::TemplateSet templates;
  std::vector<OpenFile> open_files;
  open_files.reserve(files.size());
  for (const ConfigFile& file : files) {
    open_files.push_back(OpenOneFile(file, limits, &budget, &diagnostics, &templates));
  }
  internal::SubstitutionBudget substitution;
  internal::PipelineContext context{&templates, &limits, &substitution};
  for (OpenFile& open : open_files) ReadOpenFile(open, context);
  Config& config = result.config;
  config.format_version = files.empty() ? 0 : 1;
  for (OpenFile& open : open_files) {
    FileContent& content = open.content;
    config.format_version =
        std::max(config.format_version, content.format_version);
    for (Pipeline& p : content.pipelines) {
      std::string key = absl::AsciiStrToLower(p.name);
      auto [it, fresh] =
          pipelines_seen.emplace(key, std::tuple(p.name, p.location, p.config_repo));
      if (!fresh) {
        const auto& [first_name, first_at, first_repo] = it->second;
        diagnostics.Add(p.location,
                        DuplicatePipelineMessage(p, first_name, first_at, first_repo));
        continue;
      }
      config.pipelines.push_back(std::move(p));
    }
    if (content.security) {
      if (config.security.defined) {
        diagnostics.Add(content.security->location,
                        absl::StrCat("a second 'security' section (the first is at ",
                                     internal::LocationText(config.security.location),
                                     "); write it in one file"));
      } else {
        config.security = std::move(*content.security);
      }
    }
    for (ConfigRepo& repo : content.config_repos) {
      auto [it, fresh] =
          config_repos_seen.emplace(absl::AsciiStrToLower(repo.id), repo.location);
      if (!fresh) {
        diagnostics.Add(repo.location,
                        absl::StrCat("duplicate config repo '", repo.id, "' (first at ",
                                     internal::LocationText(it->second), ")"));
        continue;
      }
      config.config_repos.push_back(std::move(repo));
    }
    for (Environment& env : content.environments) {
      std::string key = absl::AsciiStrToLower(env.name);
      auto it = environments_seen.find(key);
      if (it == environments_seen.end()) {
        environments_seen.emplace(key, config.environments.size());
        config.environments.push_back(std::move(env));
      } else {
        MergeEnvironment(config.environments[it->second], std::move(env),
                         &diagnostics);
      }
    }
  }
  std::sort(
      config.pipelines.begin(), config.pipelines.end(),
      [](const Pipeline& a, const Pipeline& b) { return a.name < b.name; });
  std::sort(config.config_repos.begin(), config.config_repos.end(),
            [](const ConfigRepo& a, const ConfigRepo& b) { return a.id < b.id; });
  std::sort(config.environments.begin(), config.environments.end(),
            [](const Environment& a, const Environment& b) {
              return a.name < b.name;
            });
  internal::ValidateReferences(config, &diagnostics);
  internal::ValidateSecurity(config, &diagnostics);

  result.errors = diagnostics.Take();
  result.more_errors = diagnostics.dropped();
  return result;
}

absl::StatusOr<Config> ParseConfigOrError(
    const std::vector<ConfigFile>& files) {
  ParseResult result = ParseConfig(files);
  if (!result.ok()) return absl::InvalidArgumentError(result.ErrorText());
  return std::move(result.config);
}

}  // namespace gantry::config
