// Checked access to the YAML of one config file. Every problem found while
// reading (wrong type, unknown key, duplicate key, bad scalar) becomes a
// ConfigError with the file, line and column of the offending node; readers
// return "nothing" for the bad part and carry on, so one pass reports all.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/config/model.h"
#include "common/config/parser.h"
#include "common/config/yaml_tree.h"

namespace gantry::config::internal {

// Collects the errors of one ParseConfig call. Only the first `max_kept` by
// file, line and column are kept (the rest are counted), so a file of a
// million mistakes costs no more memory than one of a thousand.
class Diagnostics {
 public:
  explicit Diagnostics(size_t max_kept = 1000) : max_kept_(max_kept) {}

  void Add(const SourceLocation& at, std::string message);
  // Sorted by file, line and column (in the order added where equal).
  std::vector<ConfigError> Take();
  // How many were added but not kept.
  size_t dropped() const { return dropped_; }

 private:
  // Sorts and drops all but the first max_kept_.
  void Trim();

  size_t max_kept_;
  size_t dropped_ = 0;
  std::vector<ConfigError> errors_;
};

// "a.yaml:3:5": how messages point at another place.
std::string LocationText(const SourceLocation& at);

// Keys an object may have. `unsupported` keys are GoCD's that Gantry lacks:
// they are reported as "'key' is not supported by Gantry".
struct KeySet {
  std::vector<absl::string_view> known;
  std::vector<absl::string_view> unsupported;
};

// One key: value pair of a YAML map.
struct Field {
  std::string key;
  YamlNode value;
  SourceLocation key_location;
  // The value's own location, or the key's when the value is empty (yaml-cpp
  // marks an empty value at the next token, which misleads).
  SourceLocation value_location;
};

// The accepted fields of an object, in file order.
class Fields {
 public:
  const Field* Get(absl::string_view key) const;
  const std::vector<Field>& all() const { return fields_; }
  void Add(Field field) { fields_.push_back(std::move(field)); }

 private:
  std::vector<Field> fields_;
};

// The closest of `candidates` to `word` (edit distance at most 2, ignoring
// case, transpositions count 1), or "" if none is that close.
std::string ClosestMatch(absl::string_view word,
                         const std::vector<absl::string_view>& candidates);

// Describes a node for "got …" in type errors: "a map", "a list",
// "nothing", or the scalar quoted.
std::string Describe(const YamlNode& node);

class YamlReader {
 public:
  YamlReader(std::string file, Diagnostics* diagnostics)
      : file_(std::move(file)), diagnostics_(diagnostics) {}

  const std::string& file() const { return file_.str(); }
  SourceLocation Location(const YamlNode& node) const;
  // Reports `message` at `at`, followed by the context if one is set.
  void Error(const SourceLocation& at, std::string message);
  // Appended to every message reported through this reader until cleared
  // (""): a template's errors name the pipeline that uses it.
  void set_context(std::string context) { context_ = std::move(context); }

  // A field for a whole document or list element (no key of its own).
  Field Element(const YamlNode& node, const SourceLocation& fallback) const;

  // Reads an object (a map with fixed keys). An empty value is an empty
  // object. Reports a non-map ("expected a map for <what>, got …"), non-scalar
  // keys, duplicate keys, unknown keys (with a suggestion) and unsupported
  // keys; returns only the known keys, first occurrence of each. nullopt if
  // the value is not a map.
  std::optional<Fields> Object(const Field& field, absl::string_view what,
                               const KeySet& keys);

  // Reads a map of named entries (pipelines, jobs, materials, variables…):
  // `kind` names one entry for duplicate messages ("duplicate job 'x'").
  // Names are compared ignoring case when `ignore_case`. Empty value: none.
  std::vector<Field> Entries(const Field& field, absl::string_view what,
                             absl::string_view kind, bool ignore_case);

  // Reads a list; elements that are themselves lists are flattened into it
  // (GoCD allows nested lists, which YAML aliases produce). Empty: none.
  std::vector<Field> List(const Field& field, absl::string_view what);
  // As List, one element at a time, without holding them all: for lists
  // that may be long (tasks, strings).
  void ForEachElement(const Field& field, absl::string_view what,
                      const std::function<void(const Field&)>& fn);
  // How many elements List would return.
  static size_t FlatSize(const YamlNode& node);

  // Scalars. An empty value reads as nullopt without an error; anything else
  // that is not the right kind is reported, naming `field.key`.
  std::optional<std::string> String(const Field& field);
  std::optional<int64_t> Integer(const Field& field);
  std::optional<bool> Bool(const Field& field);
  // A list of strings (a single scalar is not accepted).
  std::vector<std::string> StringList(const Field& field);

  // Reports "expected <expected> for <what>, got <Describe(value)>".
  void TypeError(const Field& field, absl::string_view expected,
                 absl::string_view what);

 private:
  using Pair = std::pair<YamlNode, YamlNode>;
  // The key/value pairs of a map, with YAML merge keys (`<<: *anchor` or
  // `<<: [*a, *b]`, which yaml-cpp leaves as plain keys) expanded where they
  // stand: keys written in the map win over merged ones, earlier merged maps
  // over later ones.
  std::vector<Pair> Pairs(const YamlNode& map);

  FileName file_;
  Diagnostics* diagnostics_;
  std::string context_;
};

}  // namespace gantry::config::internal
