#include "common/config/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config/utf8.h"

namespace gantry::config::internal {
namespace {

// Optimal string alignment distance: Levenshtein plus adjacent swaps.
int EditDistance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

bool Contains(const std::vector<absl::string_view>& list, absl::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// Long scalars are cut in messages; a message is one line.
std::string Quote(const std::string& text) {
  std::string shown = text.size() > 40 ? text.substr(0, 37) + "..." : text;
  std::replace(shown.begin(), shown.end(), '\n', ' ');
  return absl::StrCat("'", shown, "'");
}

// Names seen in a map, compared as written or ignoring ASCII case.
struct NameHash {
  bool ignore_case;
  size_t operator()(absl::string_view name) const {
    if (!ignore_case) return absl::Hash<absl::string_view>()(name);
    return absl::Hash<std::string>()(absl::AsciiStrToLower(name));
  }
};
struct NameEq {
  bool ignore_case;
  bool operator()(absl::string_view a, absl::string_view b) const {
    return ignore_case ? absl::EqualsIgnoreCase(a, b) : a == b;
  }
};
class NameMap : public absl::flat_hash_map<absl::string_view, YamlNode, NameHash, NameEq> {
 public:
  NameMap(bool ignore_case, size_t expected)
      : flat_hash_map(expected, NameHash{ignore_case}, NameEq{ignore_case}) {}
};

}  // namespace

void Diagnostics::Add(const SourceLocation& at, std::string message) {
  // Messages quote what was written, which may be long or hold line breaks;
  // an error is one line of readable length.
  constexpr size_t kMaxMessageBytes = 1000;
  if (message.size() > kMaxMessageBytes) {
    // A sequence cut in two becomes '?' below.
    message.resize(kMaxMessageBytes);
    message += "...";
  }
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::replace(message.begin(), message.end(), '\r', ' ');
  if (at.anchor_line > 0) {
    absl::StrAppend(&message, " (through the alias used here; written at line ", at.anchor_line,
                    ":", at.anchor_column, ")");
  }
  errors_.push_back(ConfigError{at, ToValidUtf8(message)});
  // Trimming at twice the cap keeps adding amortized O(log n).
  if (errors_.size() >= 2 * max_kept_ + 1) Trim();
}

void Diagnostics::Trim() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.location.file, a.location.line, a.location.column) <
           std::tie(b.location.file, b.location.line, b.location.column);
  });
  // One mistake read twice (a YAML node shared by two readers) is one error.
  errors_.erase(std::unique(errors_.begin(), errors_.end(),
                            [](const ConfigError& a, const ConfigError& b) {
                              return a.location.file == b.location.file &&
                                     a.location.line == b.location.line &&
                                     a.location.column == b.location.column &&
                                     a.message == b.message;
                            }),
                errors_.end());
  if (errors_.size() > max_kept_) {
    dropped_ += errors_.size() - max_kept_;
    errors_.resize(max_kept_);
  }
}

std::vector<ConfigError> Diagnostics::Take() {
  Trim();
  return std::move(errors_);
}

std::string LocationText(const SourceLocation& at) {
  return absl::StrCat(at.file.str(), ":", at.line, ":", at.column);
}

const Field* Fields::Get(absl::string_view key) const {
  for (const Field& f : fields_) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::string ClosestMatch(absl::string_view word,
                         const std::vector<absl::string_view>& candidates) {
  std::string lower = absl::AsciiStrToLower(std::string(word));
  std::string best;
  int best_distance = 3;
  for (absl::string_view c : candidates) {
    // Lengths that differ by more than the distance wanted cannot match;
    // skipping them keeps a long word from costing length² per candidate.
    size_t a = lower.size(), b = c.size();
    if ((a > b ? a - b : b - a) >= static_cast<size_t>(best_distance)) continue;
    int d = EditDistance(lower, absl::AsciiStrToLower(std::string(c)));
    if (d < best_distance && d < static_cast<int>(lower.size())) {
      best_distance = d;
      best = std::string(c);
    }
  }
  return best;
}

std::string Describe(const YamlNode& node) {
  switch (node.Type()) {
    case NodeType::kMap:
      return "a map";
    case NodeType::kSequence:
      return "a list";
    case NodeType::kScalar:
      return Quote(node.Scalar());
    default:
      return "nothing";
  }
}

SourceLocation YamlReader::Location(const YamlNode& node) const {
  if (!node.IsDefined()) return SourceLocation{file_, 1, 1};
  if (node.alias_line() > 0) {
    return SourceLocation{file_, node.alias_line(), node.alias_column(), node.line(),
                          node.column()};
  }
  return SourceLocation{file_, node.line(), node.column()};
}

void YamlReader::Error(const SourceLocation& at, std::string message) {
  if (!context_.empty()) absl::StrAppend(&message, " ", context_);
  diagnostics_->Add(at, std::move(message));
}

Field YamlReader::Element(const YamlNode& node, const SourceLocation& fallback) const {
  Field f;
  f.value = node;
  f.key_location = fallback;
  f.value_location = node.IsNull() || !node.IsDefined() ? fallback : Location(node);
  return f;
}

void YamlReader::TypeError(const Field& field, absl::string_view expected,
                           absl::string_view what) {
  Error(field.value_location, absl::StrCat("expected ", expected, " for ", what,
                                           ", got ", Describe(field.value)));
}

std::vector<YamlReader::Pair> YamlReader::Pairs(const YamlNode& map) {
  auto is_merge = [](const YamlNode& key) {
    return key.IsScalar() && !key.IsQuoted() && key.Scalar() == "<<";
  };
  std::vector<Pair> out;
  out.reserve(map.size());
  bool has_merge = false;
  for (auto it = map.begin(); it != map.end(); ++it) has_merge = has_merge || is_merge(it->first);
  if (!has_merge) {
    // The common case, kept cheap: a large map costs only its pairs here.
    for (auto it = map.begin(); it != map.end(); ++it) out.emplace_back(it->first, it->second);
    return out;
  }
  std::set<std::string> written;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && !is_merge(it->first)) {
      written.insert(it->first.Scalar());
    }
  }
  std::set<std::string> merged;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: `it->` is a proxy that dies with the full expression.
    YamlNode key = it->first;
    YamlNode value = it->second;
    if (!is_merge(key)) {
      out.emplace_back(key, value);
      continue;
    }
    std::vector<YamlNode> sources;
    if (value.IsMap()) {
      sources.push_back(value);
    } else if (value.IsSequence()) {
      for (const YamlNode& n : value) sources.push_back(n);
    }
    for (const YamlNode& source : sources) {
      if (!source.IsMap()) {
        sources.clear();
        break;
      }
    }
    if (sources.empty()) {
      Field f = Element(value, Location(key));
      TypeError(f, "a map or a list of maps", "merge key '<<'");
      continue;
    }
    for (const YamlNode& source : sources) {
      for (Pair& pair : Pairs(source)) {
        if (pair.first.IsScalar()) {
          const std::string& name = pair.first.Scalar();
          if (written.count(name) || !merged.insert(name).second) continue;
        }
        out.push_back(std::move(pair));
      }
    }
  }
  return out;
}

std::optional<Fields> YamlReader::Object(const Field& field,
                                         absl::string_view what,
                                         const KeySet& keys) {
  Fields out;
  if (!field.value.IsDefined() || field.value.IsNull()) return out;
  if (!field.value.IsMap()) {
    TypeError(field, "a map", what);
    return std::nullopt;
  }
  // Key -> where it was first written. Views into the tree, in a hash map:
  // a hostile map may have hundreds of thousands of keys.
  std::vector<Pair> pairs = Pairs(field.value);
  NameMap seen(/*ignore_case=*/false, pairs.size());
  for (const auto& [key_node, value_node] : pairs) {
    SourceLocation key_location = Location(key_node);
    if (!key_node.IsScalar()) {
      Error(key_location, absl::StrCat("expected a plain key in ", what,
                                       ", got ", Describe(key_node)));
      continue;
    }
    const std::string key = key_node.Scalar();
    auto [prev, inserted] = seen.emplace(key_node.ScalarView(), key_node);
    if (!inserted) {
      Error(key_location, absl::StrCat("duplicate key '", key, "' (first at ",
                                       LocationText(Location(prev->second)), ")"));
      continue;
    }
    if (Contains(keys.unsupported, key)) {
      Error(key_location,
            absl::StrCat("'", key, "' is not supported by Gantry"));
      continue;
    }
    if (!Contains(keys.known, key)) {
      std::vector<absl::string_view> all = keys.known;
      all.insert(all.end(), keys.unsupported.begin(), keys.unsupported.end());
      std::string message =
          absl::StrCat("unknown key ", Quote(key), " in ", what);
      std::string suggestion = ClosestMatch(key, all);
      // "arguments:`" (no space after ':') parses as one odd key.
      size_t colon = key.find(':');
      if (suggestion.empty() && colon != std::string::npos &&
          Contains(all, absl::string_view(key).substr(0, colon))) {
        suggestion = key.substr(0, colon);
        absl::StrAppend(&message, "; did you mean '", suggestion,
                        "'? (put a space after ':')");
      } else if (!suggestion.empty()) {
        absl::StrAppend(&message, "; did you mean '", suggestion, "'?");
      }
      Error(key_location, std::move(message));
      continue;
    }
    Field f = Element(value_node, key_location);
    f.key = key;
    out.Add(std::move(f));
  }
  return out;
}

std::vector<Field> YamlReader::Entries(const Field& field,
                                       absl::string_view what,
                                       absl::string_view kind,
                                       bool ignore_case) {
  std::vector<Field> out;
  if (!field.value.IsDefined() || field.value.IsNull()) return out;
  if (!field.value.IsMap()) {
    TypeError(field, "a map", what);
    return out;
  }
  // Name -> its first key (name as written, where).
  std::vector<Pair> pairs = Pairs(field.value);
  NameMap seen(ignore_case, pairs.size());
  out.reserve(pairs.size());
  for (const auto& [key_node, value_node] : pairs) {
    SourceLocation key_location = Location(key_node);
    if (!key_node.IsScalar()) {
      Error(key_location, absl::StrCat("expected a ", kind, " name in ", what,
                                       ", got ", Describe(key_node)));
      continue;
    }
    const std::string name = key_node.Scalar();
    auto [prev, inserted] = seen.emplace(key_node.ScalarView(), key_node);
    if (!inserted) {
      const std::string first_name = prev->second.Scalar();
      const SourceLocation first_at = Location(prev->second);
      if (first_name == name) {
        Error(key_location,
              absl::StrCat("duplicate ", kind, " '", name, "' (first at ",
                           LocationText(first_at), ")"));
      } else {
        Error(key_location,
              absl::StrCat("duplicate ", kind, " '", name, "': same as '",
                           first_name, "' at ", LocationText(first_at),
                           " (names ignore case)"));
      }
      continue;
    }
    Field f = Element(value_node, key_location);
    f.key = name;
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Field> YamlReader::List(const Field& field, absl::string_view what) {
  std::vector<Field> out;
  out.reserve(FlatSize(field.value));
  ForEachElement(field, what, [&out](const Field& f) { out.push_back(f); });
  return out;
}

void YamlReader::ForEachElement(const Field& field, absl::string_view what,
                                const std::function<void(const Field&)>& fn) {
  if (!field.value.IsDefined() || field.value.IsNull()) return;
  if (!field.value.IsSequence()) {
    TypeError(field, "a list", what);
    return;
  }
  for (const YamlNode& element : field.value) {
    Field f = Element(element, field.value_location);
    f.key = field.key;
    if (element.IsSequence()) {
      ForEachElement(f, what, fn);  // spliced in, depth bounded by the nesting limit
    } else {
      fn(f);
    }
  }
}

// Counted first so lists are reserved, instead of holding up to twice their
// elements while they grow.
size_t YamlReader::FlatSize(const YamlNode& node) {
  if (!node.IsSequence()) return 0;
  size_t n = 0;
  for (const YamlNode& element : node) n += element.IsSequence() ? FlatSize(element) : 1;
  return n;
}

std::optional<std::string> YamlReader::String(const Field& field) {
  if (!field.value.IsDefined() || field.value.IsNull()) return std::nullopt;
  if (!field.value.IsScalar()) {
    TypeError(field, "a string", absl::StrCat("'", field.key, "'"));
    return std::nullopt;
  }
  return field.value.Scalar();
}

std::optional<int64_t> YamlReader::Integer(const Field& field) {
  if (!field.value.IsDefined() || field.value.IsNull()) return std::nullopt;
  int64_t value = 0;
  if (!field.value.IsScalar() ||
      !absl::SimpleAtoi(absl::string_view(field.value.Scalar()), &value)) {
    TypeError(field, "an integer", absl::StrCat("'", field.key, "'"));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> YamlReader::Bool(const Field& field) {
  if (!field.value.IsDefined() || field.value.IsNull()) return std::nullopt;
  std::optional<bool> value;
  if (field.value.IsScalar()) value = ParseYamlBool(field.value.Scalar());
  if (!value) {
    TypeError(field, "true or false", absl::StrCat("'", field.key, "'"));
    return std::nullopt;
  }
  return value;
}

std::vector<std::string> YamlReader::StringList(const Field& field) {
  std::vector<std::string> out;
  out.reserve(FlatSize(field.value));
  std::string what = absl::StrCat("'", field.key, "'");
  ForEachElement(field, what, [&](const Field& element) {
    if (!element.value.IsScalar()) {
      TypeError(element, "a string", absl::StrCat("an entry of ", what));
      return;
    }
    out.push_back(element.value.Scalar());
  });
  return out;
}

}  // namespace gantry::config::internal
