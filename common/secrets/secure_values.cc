#include "common/secrets/secure_values.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gantry::secrets {
namespace {

struct Found {
  std::string name;
  std::string value;
  YAML::Mark mark;
  bool flow = false;  // inside a flow map ({a: b})
};

// Every scalar value under a `secure_variables` map, by position (an
// anchored value used through aliases is found once).
void Collect(const YAML::Node& node, std::map<int, Found>& out, int depth = 0) {
  if (depth > 200) return;
  if (node.IsSequence()) {
    for (const YAML::Node& child : node) Collect(child, out, depth + 1);
    return;
  }
  if (!node.IsMap()) return;
  for (const auto& kv : node) {
    if (kv.first.IsScalar() && kv.first.Scalar() == "secure_variables" && kv.second.IsMap()) {
      bool flow = kv.second.Style() == YAML::EmitterStyle::Flow;
      for (const auto& var : kv.second) {
        if (!var.second.IsScalar() || !var.first.IsScalar()) continue;
        YAML::Mark mark = var.second.Mark();
        if (mark.is_null()) continue;
        out[mark.pos] = {var.first.Scalar(), var.second.Scalar(), mark, flow};
      }
      continue;
    }
    Collect(kv.second, out, depth + 1);
  }
}

absl::StatusOr<std::map<int, Found>> Scan(const std::string& path, const std::string& content) {
  std::map<int, Found> found;
  try {
    for (const YAML::Node& doc : YAML::LoadAll(content)) Collect(doc, found);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  return found;
}

// The end of the scalar written at `pos`, or npos when it cannot be told
// (a block scalar).
size_t ScalarEnd(const std::string& text, size_t pos, bool flow) {
  if (pos >= text.size()) return std::string::npos;
  char c = text[pos];
  if (c == '"') {
    for (size_t i = pos + 1; i < text.size(); ++i) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '"') {
        return i + 1;
      }
    }
    return std::string::npos;
  }
  if (c == '\'') {
    for (size_t i = pos + 1; i < text.size(); ++i) {
      if (text[i] != '\'') continue;
      if (i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;
        continue;
      }
      return i + 1;
    }
    return std::string::npos;
  }
  if (c == '|' || c == '>' || c == '&' || c == '!' || c == '*') return std::string::npos;
  size_t end = pos;
  while (end < text.size() && text[end] != '\n' && text[end] != '\r') {
    if (text[end] == '#' && end > pos && (text[end - 1] == ' ' || text[end - 1] == '\t')) break;
    if (flow && (text[end] == ',' || text[end] == '}' || text[end] == ']')) break;
    ++end;
  }
  while (end > pos && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  return end;
}

absl::Status CannotReplace(const std::string& path, const Found& f) {
  return absl::InvalidArgumentError(absl::StrCat(
      path, ":", f.mark.line + 1, ":", f.mark.column + 1, ": secure variable '", f.name,
      "' cannot be encrypted in place: write its value on one line, or give the output of "
      "`gantry secret encrypt`"));
}

}  // namespace

absl::StatusOr<EncryptedFile> EncryptSecureValues(const std::string& path,
                                                  const std::string& content,
                                                  const Cipher& cipher) {
  auto found = Scan(path, content);
  if (!found.ok()) return found.status();
  EncryptedFile out;
  out.content = content;
  std::map<std::string, std::string> expected;  // ciphertext -> plain
  // From the end, so earlier positions stay valid.
  for (auto it = found->rbegin(); it != found->rend(); ++it) {
    const Found& f = it->second;
    if (IsCiphertext(f.value) || f.value.empty() || f.value == "~") continue;
    size_t pos = static_cast<size_t>(f.mark.pos);
    size_t end = ScalarEnd(out.content, pos, f.flow);
    if (end == std::string::npos || end <= pos) return CannotReplace(path, f);
    auto encrypted = cipher.Encrypt(f.value, /*deterministic=*/true);
    if (!encrypted.ok()) return encrypted.status();
    out.content.replace(pos, end - pos, absl::StrCat("\"", *encrypted, "\""));
    expected[*encrypted] = f.value;
    ++out.encrypted;
  }
  if (out.encrypted == 0) return out;
  // What was replaced must read back as exactly the ciphertext, and nothing
  // plain may be left (a plain scalar continued on the next line is not).
  auto again = Scan(path, out.content);
  if (!again.ok()) return again.status();
  for (const auto& [pos, f] : *again) {
    if (f.value.empty() || f.value == "~") continue;
    if (!IsCiphertext(f.value)) return CannotReplace(path, f);
    expected.erase(f.value);
  }
  if (!expected.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": secure variables could not be encrypted in place: write each value on one "
                     "line, or give the output of `gantry secret encrypt`"));
  }
  return out;
}

}  // namespace gantry::secrets
