// The YAML of one config file as a compact tree, built from the YAML
// parser's events and checked against the Limits as it grows, so no input can
// make it large: a node costs about 32 bytes (yaml-cpp's own tree costs about
// 460), an alias costs one child reference (it shares what it names), and a
// limit passed stops the build at that node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/config/limits.h"
#include "common/config/model.h"
#include "common/config/parser.h"

namespace gantry::config::internal {

// What the files of one configuration have used so far.
struct YamlBudget {
  size_t bytes = 0;
  size_t nodes = 0;
  size_t aliases = 0;
  size_t expanded_nodes = 0;
  size_t expanded_bytes = 0;
};

class YamlTree;

enum class NodeType : uint8_t { kUndefined, kNull, kScalar, kSequence, kMap };

// A node of a YamlTree, or an undefined node (a key a map does not have).
// Cheap to copy; valid while its tree lives. The subset of yaml-cpp's
// YAML::Node that the config readers use, with the same meanings.
class YamlNode {
 public:
  class Iterator;

  YamlNode() = default;
  YamlNode(const YamlTree* tree, uint32_t index, uint32_t via = 0)
      : tree_(tree), index_(index), via_(via) {}

  NodeType Type() const;
  bool IsDefined() const { return tree_ != nullptr; }
  bool IsNull() const { return Type() == NodeType::kNull; }
  bool IsScalar() const { return Type() == NodeType::kScalar; }
  bool IsSequence() const { return Type() == NodeType::kSequence; }
  bool IsMap() const { return Type() == NodeType::kMap; }

  // The text of a scalar; "" for any other node.
  std::string Scalar() const;
  // The same, as a view into the tree (valid while it lives).
  absl::string_view ScalarView() const;
  // Written in quotes (YAML's "!" tag): such a "<<" is a plain key, not a merge.
  bool IsQuoted() const;
  // 1-based; 0 for an undefined node. Where the node is written (for a
  // node reached through an alias: inside the anchored node).
  int line() const;
  int column() const;
  // Reached through an alias (`*name`, also a merge key's): where the
  // outermost alias on the way was written, the place that differs between
  // two uses of one anchor. 0 when not reached through an alias.
  int alias_line() const;
  int alias_column() const;

  // Parameter substitution (parameters.h): while one pipeline is read, a
  // scalar may read as another text. The node is not changed, so every
  // reader of the tree sees the override until ClearOverrides().
  void OverrideScalar(std::string text) const;
  void ClearOverrides() const;  // of the node's whole tree
  bool IsOverridden() const;

  // Elements of a sequence, entries (key/value pairs) of a map; 0 otherwise.
  size_t size() const;
  // A map's value for a scalar key; undefined if it has none.
  YamlNode operator[](absl::string_view key) const;

  // Iterates a sequence's elements (as YamlNode) or a map's entries (as
  // ->first and ->second), as yaml-cpp's iterators do.
  Iterator begin() const;
  Iterator end() const;

 private:
  friend class YamlTree;
  const YamlTree* tree_ = nullptr;
  uint32_t index_ = 0;
  uint32_t via_ = 0;  // 1 + index of the alias use in the tree, or 0
};

// What an Iterator points at: the element itself, or an entry's key and value.
struct YamlIteratorValue : YamlNode, std::pair<YamlNode, YamlNode> {
  YamlIteratorValue(YamlNode node, YamlNode key, YamlNode value)
      : YamlNode(node), std::pair<YamlNode, YamlNode>(key, value) {}
};

class YamlNode::Iterator {
 public:
  Iterator(YamlNode node, size_t position) : node_(node), position_(position) {}
  YamlIteratorValue operator*() const;
  // A proxy: the value is made on the fly.
  struct Arrow {
    YamlIteratorValue value;
    const YamlIteratorValue* operator->() const { return &value; }
  };
  Arrow operator->() const { return Arrow{**this}; }
  Iterator& operator++() {
    ++position_;
    return *this;
  }
  bool operator==(const Iterator& other) const { return position_ == other.position_; }
  bool operator!=(const Iterator& other) const { return position_ != other.position_; }

 private:
  YamlNode node_;
  size_t position_;
};

// The documents of one file.
class YamlTree {
 public:
  const std::vector<YamlNode>& documents() const { return documents_; }

  // Builds the tree of `file`, counting into `budget` (shared by the files
  // of one configuration). Returns the first limit passed, naming it, or the
  // file's YAML syntax error; the tree is then incomplete. Also refuses an
  // alias used inside the node it names (a cycle the readers would follow
  // forever).
  std::optional<ConfigError> Build(const ConfigFile& file, const Limits& limits,
                                   YamlBudget* budget);

 private:
  friend class YamlNode;
  friend class TreeBuilder;

  struct Node {
    NodeType type = NodeType::kNull;
    bool quoted = false;
    int32_t line = 0;
    int32_t column = 0;
    // Scalars: text_[first, first + count). Collections: children_[first,
    // first + count) (a map's keys and values alternate).
    uint32_t first = 0;
    uint32_t count = 0;
  };

  // The node a child reference stands for, reached through `via` (see
  // YamlNode::via_) or through the alias the reference is.
  YamlNode Resolve(uint32_t ref, uint32_t via) const;

  // A child reference with this bit set is an alias use (the rest is its
  // index in alias_uses_); without it, a node index.
  static constexpr uint32_t kAliasBit = 0x80000000u;
  struct AliasUse {
    uint32_t target = 0;
    int32_t line = 0;
    int32_t column = 0;
  };

  std::vector<Node> nodes_;
  std::vector<uint32_t> children_;
  std::vector<AliasUse> alias_uses_;
  std::string text_;
  std::vector<YamlNode> documents_;
  // Node index -> the text it reads as (see YamlNode::OverrideScalar).
  mutable std::map<uint32_t, std::string> overrides_;
};

// "YAML syntax error: …" for an exception of the YAML parser, with a plainer
// explanation where its own message misleads (a key longer than YAML allows).
ConfigError YamlSyntaxError(const ConfigFile& file, const std::exception& error);

// YAML 1.1 booleans as yaml-cpp reads them: y/n, yes/no, true/false, on/off,
// in lower case, upper case or capitalized.
std::optional<bool> ParseYamlBool(absl::string_view text);

}  // namespace gantry::config::internal
