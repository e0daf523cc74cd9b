// Reads `materials:`: git repositories and pipeline dependencies, in GoCD's
// shapes (`git: URL` or `type: git` + `url`; `pipeline` + `stage` with an
// optional `type: dependency`).
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/parse_internal.h"

namespace gantry::config::internal {
namespace {

// GoCD material types Gantry does not have, as keys or `type:` values.
const std::vector<absl::string_view> kUnsupportedTypes = {"svn",     "hg",     "p4",  "tfs",
                                                          "package", "plugin", "scm", "configrepo"};

const KeySet kMaterialKeys = {
    {"type", "git", "url", "branch", "destination", "auto_update", "shallow_clone", "name",
     "pipeline", "stage", "ignore_for_scheduling", "ignore", "blacklist", "includes", "whitelist",
     "username", "password", "encrypted_password"},
    {"excludes", "invert_filter", "submodule_folder"}};

// Keys that only a material of an unsupported type has, and that type: GoCD's
// YAML plugin reads a material with `plugin_configuration` as type plugin.
const std::vector<std::pair<absl::string_view, absl::string_view>> kTypeMarkers = {
    {"plugin_configuration", "plugin"}};

const std::vector<absl::string_view> kGitOnly = {
    "git",    "url",       "branch",   "destination", "auto_update",        "shallow_clone",
    "ignore", "blacklist", "includes", "whitelist",   "encrypted_password", "username"};

// The prefix of a secure value's ciphertext (common/secrets/cipher.h).
constexpr absl::string_view kCiphertextPrefix = "AES256GCM:";
const std::vector<absl::string_view> kDependencyOnly = {"pipeline", "stage"};

// The type (reported) if the material is of a type Gantry lacks, whatever
// marks it: its key (`svn: URL`), `type:`, or a key only that type has.
std::optional<std::string> UnsupportedType(YamlReader& reader, const Field& entry) {
  if (!entry.value.IsMap()) return std::nullopt;
  for (auto it = entry.value.begin(); it != entry.value.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string key = it->first.Scalar();
    for (absl::string_view type : kUnsupportedTypes) {
      if (key == type) {
        reader.Error(reader.Location(it->first),
                     absl::StrCat("'", key, "' is not supported by Gantry"));
        return key;
      }
    }
    for (const auto& [marker, type] : kTypeMarkers) {
      if (key == marker) {
        reader.Error(reader.Location(it->first),
                     absl::StrCat("material type '", type, "' (marked by '", marker,
                                  "') is not supported by Gantry"));
        return std::string(type);
      }
    }
    if (key == "type" && it->second.IsScalar()) {
      for (absl::string_view type : kUnsupportedTypes) {
        if (it->second.Scalar() == type) {
          reader.Error(reader.Location(it->second),
                       absl::StrCat("material type '", type, "' is not supported by Gantry"));
          return std::string(type);
        }
      }
    }
  }
  return std::nullopt;
}

void ReportForeignKeys(YamlReader& reader, const Fields& fields,
                       const std::vector<absl::string_view>& keys, absl::string_view kind) {
  for (absl::string_view key : keys) {
    if (const Field* f = fields.Get(key)) {
      reader.Error(f->key_location,
                   absl::StrCat("'", key, "' does not apply to a ", kind, " material"));
    }
  }
}

// GoCD's filters: `ignore` (old name `blacklist`) or `includes` (old name
// `whitelist`), each a list of path patterns (material_filter.h).
void ReadFilter(YamlReader& reader, const Fields& fields, Material& m) {
  const Field* kept = nullptr;  // the first filter key given
  for (auto [key, into] :
       {std::pair<absl::string_view, std::vector<std::string>*>{"ignore", &m.ignore},
        {"blacklist", &m.ignore},
        {"includes", &m.includes},
        {"whitelist", &m.includes}}) {
    const Field* f = fields.Get(key);
    if (f == nullptr) continue;
    if (kept != nullptr) {
      reader.Error(f->key_location,
                   absl::StrCat("give one filter per material: '", key, "' and '", kept->key,
                                "' both set one ('blacklist' is the old name of 'ignore', "
                                "'whitelist' of 'includes')"));
      continue;
    }
    kept = f;
    for (std::string& pattern : reader.StringList(*f)) {
      if (pattern.empty()) {
        reader.Error(f->value_location, absl::StrCat("'", key, "' has an empty pattern"));
        continue;
      }
      into->push_back(std::move(pattern));
    }
  }
}

// `username` and `encrypted_password` (a ciphertext only: a password in
// plain text would be stored, diffed and shown with the config). GoCD's own
// `password` is refused by name, with the way to make a ciphertext.
void ReadCredentials(YamlReader& reader, const Fields& fields, Material& m) {
  if (const Field* f = fields.Get("username")) m.username = reader.String(*f).value_or("");
  if (const Field* f = fields.Get("password")) {
    reader.Error(f->key_location,
                 "'password' would keep the password in plain text: give 'encrypted_password' "
                 "with the output of `gantry secret encrypt`");
  }
  if (const Field* f = fields.Get("encrypted_password")) {
    std::string value = reader.String(*f).value_or("");
    if (!absl::StartsWith(value, kCiphertextPrefix)) {
      reader.Error(f->value_location,
                   "'encrypted_password' is not a Gantry ciphertext: make one with `gantry "
                   "secret encrypt` (GoCD's encrypted values cannot be read)");
    } else {
      m.encrypted_password = std::move(value);
    }
  }
  if (!m.encrypted_password.empty() && m.username.empty()) {
    reader.Error(m.location, absl::StrCat("git material '", m.name,
                                          "' has 'encrypted_password' but no 'username'"));
  }
  if ((!m.username.empty() || !m.encrypted_password.empty()) &&
      m.url.find('@') != std::string::npos && m.url.find("://") != std::string::npos &&
      m.url.find('@') < m.url.find('/', m.url.find("://") + 3)) {
    reader.Error(m.location, absl::StrCat("git material '", m.name,
                                          "': give credentials either in the URL or as "
                                          "'username'/'encrypted_password', not both"));
  }
}

void ReadGit(YamlReader& reader, const Fields& fields, Material& m) {
  const Field* git = fields.Get("git");
  const Field* url = fields.Get("url");
  std::optional<std::string> git_url = git ? reader.String(*git) : std::nullopt;
  std::optional<std::string> url_url = url ? reader.String(*url) : std::nullopt;
  if (git_url && url_url && *git_url != *url_url) {
    reader.Error(url->key_location, "'git' and 'url' give different URLs: give the URL once");
  }
  m.url = git_url ? *git_url : url_url.value_or("");
  if (m.url.empty()) {
    reader.Error(m.location, absl::StrCat("git material '", m.name, "' has no URL"));
  }
  m.branch = "master";
  if (const Field* f = fields.Get("branch")) {
    std::optional<std::string> branch = reader.String(*f);
    if (branch && !branch->empty()) m.branch = *branch;
  }
  if (const Field* f = fields.Get("destination")) {
    m.destination = ReadRelativePath(reader, *f).value_or("");
  }
  if (const Field* f = fields.Get("auto_update")) {
    m.auto_update = reader.Bool(*f).value_or(true);
  }
  if (const Field* f = fields.Get("shallow_clone")) {
    m.shallow_clone = reader.Bool(*f).value_or(false);
  }
  ReadFilter(reader, fields, m);
  ReadCredentials(reader, fields, m);
}

void ReadDependency(YamlReader& reader, const Fields& fields, Material& m) {
  const Field* pipeline = fields.Get("pipeline");
  const Field* stage = fields.Get("stage");
  if (pipeline) m.pipeline = reader.String(*pipeline).value_or("");
  if (stage) m.stage = reader.String(*stage).value_or("");
  if (m.pipeline.empty()) {
    reader.Error(m.location, absl::StrCat("dependency material '", m.name, "' has no 'pipeline'"));
  } else if (!CheckName(reader, pipeline->value_location, "pipeline", m.pipeline)) {
    m.pipeline.clear();
  }
  if (m.stage.empty()) {
    reader.Error(m.location, absl::StrCat("dependency material '", m.name, "' has no 'stage'"));
  } else if (!CheckName(reader, stage->value_location, "stage", m.stage)) {
    m.stage.clear();
  }
}

std::optional<Material> ParseMaterial(YamlReader& reader, const Field& entry,
                                      UnsupportedMaterials* unsupported) {
  Material m;
  m.name = entry.key;
  m.location = entry.key_location;
  if (std::optional<std::string> type = UnsupportedType(reader, entry)) {
    if (unsupported != nullptr) unsupported->emplace_back(entry.key, *type);
    return std::nullopt;
  }
  std::optional<Fields> fields =
      reader.Object(entry, absl::StrCat("material '", m.name, "'"), kMaterialKeys);
  if (!fields) return std::nullopt;
  if (const Field* f = fields->Get("name")) {
    std::optional<std::string> name = reader.String(*f);
    if (name && !name->empty()) m.name = *name;
  }
  CheckName(reader, m.location, "material", m.name);

  const Field* type = fields->Get("type");
  if (type) {
    int choice = ReadChoice(reader, *type, {"git", "dependency"});
    if (choice < 0) return std::nullopt;
    m.type = choice == 0 ? Material::Type::kGit : Material::Type::kPipeline;
  } else if (fields->Get("git") || fields->Get("url")) {
    m.type = Material::Type::kGit;
  } else if (fields->Get("pipeline") || fields->Get("stage")) {
    m.type = Material::Type::kPipeline;
  } else {
    reader.Error(m.location, absl::StrCat("material '", m.name,
                                          "' has no type: give 'git: URL', or 'pipeline' "
                                          "and 'stage'"));
    return std::nullopt;
  }
  if (const Field* f = fields->Get("ignore_for_scheduling")) {
    m.ignore_for_scheduling = reader.Bool(*f).value_or(false);
  }
  if (m.type == Material::Type::kGit) {
    ReportForeignKeys(reader, *fields, kDependencyOnly, "git");
    ReadGit(reader, *fields, m);
  } else {
    ReportForeignKeys(reader, *fields, kGitOnly, "dependency");
    ReadDependency(reader, *fields, m);
  }
  return m;
}

}  // namespace

std::vector<Material> ParseMaterials(YamlReader& reader, const Field& field,
                                     UnsupportedMaterials* unsupported) {
  std::vector<Material> out;
  for (const Field& entry :
       reader.Entries(field, "'materials'", "material", /*ignore_case=*/true)) {
    if (std::optional<Material> m = ParseMaterial(reader, entry, unsupported)) {
      out.push_back(std::move(*m));
    }
  }
  return out;
}

}  // namespace gantry::config::internal
