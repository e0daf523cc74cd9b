// Reads the top-level `security` section (admins, roles, group permissions)
// and the `deployers` of an environment. Whether the roles they name exist
// is checked later, once every file is read (validate_security.cc).
#include "absl/strings/str_cat.h"
#include "common/config/parse_internal.h"
#include "common/names.h"

namespace gantry::config::internal {
namespace {

const KeySet kSecurityKeys = {{"admins", "roles", "groups"}, {}};
const KeySet kGrantKeys = {{"users", "roles"}, {}};
const KeySet kGroupKeys = {{"view", "operate", "admin"}, {}};

// A list of user or role names, each checked.
std::vector<std::string> ReadNames(YamlReader& reader, const Field& field,
                                   absl::string_view kind) {
  std::vector<std::string> out;
  for (const Field& element : reader.List(field, absl::StrCat("'", field.key, "'"))) {
    if (!element.value.IsScalar()) {
      reader.TypeError(element, absl::StrCat("a ", kind, " name"),
                       absl::StrCat("an entry of '", field.key, "'"));
      continue;
    }
    std::string name = element.value.Scalar();
    if (!IsValidUserName(name)) {
      reader.Error(element.value_location,
                   absl::StrCat("invalid ", kind, " name '", name,
                                "': use letters, digits, '-', '_', '.' and '@'"));
      continue;
    }
    out.push_back(std::move(name));
  }
  return out;
}

std::vector<Role> ParseRoles(YamlReader& reader, const Field& field) {
  std::vector<Role> roles;
  for (const Field& entry : reader.Entries(field, "'roles'", "role", /*ignore_case=*/false)) {
    Role role;
    role.name = entry.key;
    role.location = entry.key_location;
    if (!IsValidUserName(role.name)) {
      reader.Error(entry.key_location,
                   absl::StrCat("invalid role name '", role.name,
                                "': use letters, digits, '-', '_', '.' and '@'"));
      continue;
    }
    Field users = entry;
    users.key = "users";
    role.users = ReadNames(reader, users, "user");
    roles.push_back(std::move(role));
  }
  return roles;
}

}  // namespace

Grant ParseGrant(YamlReader& reader, const Field& field, absl::string_view what) {
  Grant grant;
  grant.location = field.key_location;
  std::optional<Fields> fields = reader.Object(field, what, kGrantKeys);
  if (!fields) return grant;
  if (const Field* f = fields->Get("users")) grant.users = ReadNames(reader, *f, "user");
  if (const Field* f = fields->Get("roles")) grant.roles = ReadNames(reader, *f, "role");
  return grant;
}

Security ParseSecurity(YamlReader& reader, const Field& field) {
  Security security;
  security.defined = true;
  security.location = field.key_location;
  std::optional<Fields> fields = reader.Object(field, "'security'", kSecurityKeys);
  if (!fields) return security;
  if (const Field* f = fields->Get("admins")) {
    security.admins = ParseGrant(reader, *f, "'admins'");
  }
  if (const Field* f = fields->Get("roles")) security.roles = ParseRoles(reader, *f);
  if (const Field* f = fields->Get("groups")) {
    for (const Field& entry : reader.Entries(*f, "'groups'", "group", /*ignore_case=*/false)) {
      GroupAuthorization group;
      group.group = entry.key;
      group.location = entry.key_location;
      std::string what = absl::StrCat("group '", entry.key, "'");
      std::optional<Fields> grants = reader.Object(entry, what, kGroupKeys);
      if (grants) {
        if (const Field* g = grants->Get("view")) group.view = ParseGrant(reader, *g, "'view'");
        if (const Field* g = grants->Get("operate")) {
          group.operate = ParseGrant(reader, *g, "'operate'");
        }
        if (const Field* g = grants->Get("admin")) group.admin = ParseGrant(reader, *g, "'admin'");
      }
      security.groups.push_back(std::move(group));
    }
  }
  std::sort(security.roles.begin(), security.roles.end(),
            [](const Role& a, const Role& b) { return a.name < b.name; });
  std::sort(security.groups.begin(), security.groups.end(),
            [](const GroupAuthorization& a, const GroupAuthorization& b) {
              return a.group < b.group;
            });
  return security;
}

}  // namespace gantry::config::internal
