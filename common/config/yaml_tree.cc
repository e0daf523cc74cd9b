#include "common/config/yaml_tree.h"

#include <algorithm>
#include <deque>
#include <istream>
#include <streambuf>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/exceptions.h"
#include "yaml-cpp/mark.h"
#include "yaml-cpp/parser.h"

namespace gantry::config::internal {
namespace {

// yaml-cpp drops a key candidate once it is this long, and then reports the
// ':' after it as "illegal map value".
constexpr int kYamlMaxImplicitKey = 1024;

// Thrown out of the parser's event loop at the first limit passed.
struct LimitExceeded {
  YAML::Mark mark;
  std::string message;
};

std::string Size(size_t bytes) {
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0) return absl::StrCat(bytes >> 20, " MiB");
  if (bytes >= (1 << 10) && bytes % (1 << 10) == 0) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " bytes");
}

// The parser reads from an istream; this one serves the file's content where
// it is (no copy of up to 8 MiB in an istringstream), a chunk at a time, and
// ends the input early when the parser holds a flow collection it has read
// too far into without reporting a node. yaml-cpp keeps every token of a
// flow collection that might be a key (at the start of a line, after "- ",
// inside another flow collection) until the collection ends: 8 MiB of
// "[x,x,…" took 1.1 GB before a single node came out. Reading far ahead
// through comments, blank lines or a long scalar costs nothing of the kind,
// so a cut needs a flow collection's start in what was read ahead.
class ReadOnlyBuffer : public std::streambuf {
 public:
  // `reported` is just past the offset of the last node the parser reported
  // (0: none yet); the input ends when it is `max_ahead` bytes behind and a
  // flow collection started at or after it.
  ReadOnlyBuffer(const std::string& text, const size_t* reported, size_t max_ahead)
      : text_(text), reported_(reported), max_ahead_(max_ahead) {}

  // Where the input was cut short, or nullopt.
  std::optional<size_t> cut() const { return cut_; }

 protected:
  int_type underflow() override {
    if (served_ >= text_.size() || cut_) return traits_type::eof();
    if (served_ > *reported_ + max_ahead_) {
      while (!flow_starts_.empty() && flow_starts_.front() < *reported_) flow_starts_.pop_front();
      if (!flow_starts_.empty()) {
        cut_ = flow_starts_.front();
        return traits_type::eof();
      }
    }
    constexpr size_t kChunk = 4096;
    size_t n = std::min(kChunk, text_.size() - served_);
    Scan(served_, served_ + n);
    char* begin = const_cast<char*>(text_.data()) + served_;  // only ever read
    setg(begin, begin, begin + n);
    served_ += n;
    return traits_type::to_int_type(*begin);
  }

 private:
  // Notes where a '[' or '{' could start a flow collection: at the start of
  // a token, outside comments. (Quotes are not followed: a bracket inside a
  // quoted scalar only matters if that scalar is far too long anyway.)
  void Scan(size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      char c = text_[i];
      if (c == '\n') {
        in_comment_ = false;
      } else if (!in_comment_) {
        bool token_start = prev_ == ' ' || prev_ == '\n' || prev_ == '\t' || prev_ == '[' ||
                           prev_ == '{' || prev_ == ',';
        if (c == '#' && (prev_ == ' ' || prev_ == '\n' || prev_ == '\t')) {
          in_comment_ = true;
        } else if ((c == '[' || c == '{') && token_start) {
          flow_starts_.push_back(i);
        }
      }
      prev_ = c;
    }
  }

  const std::string& text_;
  const size_t* reported_;
  size_t max_ahead_;
  size_t served_ = 0;
  char prev_ = '\n';
  bool in_comment_ = false;
  std::deque<size_t> flow_starts_;  // after *reported_, once popped
  std::optional<size_t> cut_;
};

// 1-based line and column (in bytes) of `offset` in `text`.
SourceLocation LocationOf(const ConfigFile& file, size_t offset) {
  offset = std::min(offset, file.content.size());
  absl::string_view before = absl::string_view(file.content).substr(0, offset);
  size_t line_start = before.rfind('\n');
  line_start = line_start == absl::string_view::npos ? 0 : line_start + 1;
  return SourceLocation{file.path,
                        static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1,
                        static_cast<int>(offset - line_start) + 1};
}

// The flow collection at `at` was read too far without a node coming out.
ConfigError ReadAheadError(const ConfigFile& file, size_t at, const Limits& limits) {
  return ConfigError{LocationOf(file, at),
                     absl::StrCat("a flow collection ('", std::string(1, file.content[at]),
                                  "…') longer than ", Size(limits.max_read_ahead_bytes),
                                  " where a key may stand (at the start of a line, after '- ' "
                                  "or inside another flow collection); that is the limit on "
                                  "read-ahead: write it in block style")};
}

ConfigError At(const ConfigFile& file, const YAML::Mark& mark, std::string message) {
  SourceLocation at{file.path, 1, 1};
  if (!mark.is_null()) at = {file.path, mark.line + 1, mark.column + 1};
  return ConfigError{std::move(at), std::move(message)};
}

}  // namespace

// Builds a YamlTree from the parser's events. Totals are counted as nodes
// arrive; a collection's own (with aliases expanded) are known at its end,
// and an anchored one's are kept, so each alias of it adds them in O(1).
class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(YamlTree* tree, const Limits& limits, YamlBudget* budget)
      : tree_(tree), limits_(limits), budget_(budget) {}

  // Just past the byte offset of the last node reported (0: none yet).
  const size_t* reported() const { return &reported_; }

  void OnDocumentStart(const YAML::Mark&) override {
    // Anchors are per document.
    anchors_.clear();
    stack_.clear();
    pending_.clear();
  }
  void OnDocumentEnd() override {}
  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_name_ = name; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Leaf(mark, anchor, NodeType::kNull, false, "");
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (value.size() > limits_.max_scalar_bytes) {
      throw LimitExceeded{
          mark, absl::StrCat("a scalar of ", value.size(), " bytes; the limit on one scalar is ",
                             Size(limits_.max_scalar_bytes))};
    }
    Leaf(mark, anchor, NodeType::kScalar, tag == "!", value);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (!mark.is_null()) reported_ = static_cast<size_t>(mark.pos) + 1;
    // yaml-cpp has checked that the anchor was defined before.
    if (anchor >= anchors_.size()) return;
    const Anchor& a = anchors_[anchor];
    if (a.open) {
      throw LimitExceeded{
          mark, absl::StrCat("alias '*", a.name, "' is used inside the node it names (a cycle)")};
    }
    if (++budget_->aliases > limits_.max_aliases) {
      throw LimitExceeded{mark, absl::StrCat("more than ", limits_.max_aliases,
                                             " aliases; that is the limit on alias uses")};
    }
    CheckDepth(mark, a.height);
    budget_->expanded_nodes += a.nodes;
    budget_->expanded_bytes += a.bytes;
    std::string alias =
        absl::StrCat("alias '*", a.name, "' (", a.nodes, " nodes, ", a.bytes, " bytes of text)");
    if (budget_->expanded_nodes > limits_.max_expanded_nodes) {
      throw LimitExceeded{mark,
                          absl::StrCat(alias, " takes the config past ", limits_.max_expanded_nodes,
                                       " nodes with aliases expanded; that is the limit "
                                       "on alias expansion")};
    }
    if (budget_->expanded_bytes > limits_.max_expanded_bytes) {
      throw LimitExceeded{
          mark, absl::StrCat(alias, " takes the config past ", Size(limits_.max_expanded_bytes),
                             " of text with aliases expanded; that is the "
                             "limit on alias expansion")};
    }
    // Remembered as a use, so readers can tell where the alias was written.
    uint32_t use = static_cast<uint32_t>(tree_->alias_uses_.size());
    tree_->alias_uses_.push_back(YamlTree::AliasUse{a.index, mark.is_null() ? 1 : mark.line + 1,
                                                    mark.is_null() ? 1 : mark.column + 1});
    Attach(use | YamlTree::kAliasBit, a.nodes, a.bytes, a.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor, NodeType::kSequence);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor, NodeType::kMap);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Anchor {
    std::string name;
    uint32_t index = 0;
    bool open = false;
    size_t nodes = 0;
    size_t bytes = 0;
    int height = 0;
  };
  // An open collection: its own totals so far, and where its children start
  // in pending_.
  struct Frame {
    uint32_t index;
    YAML::anchor_t anchor;
    size_t children_start;
    size_t nodes = 1;
    size_t bytes = 0;
    int height = 1;
  };

  // A node as written: counted once towards both totals.
  void CountNode(const YAML::Mark& mark, size_t bytes) {
    if (++budget_->nodes > limits_.max_nodes) {
      throw LimitExceeded{mark, absl::StrCat("more than ", limits_.max_nodes,
                                             " YAML nodes; that is the limit on nodes")};
    }
    budget_->expanded_nodes += 1;
    budget_->expanded_bytes += bytes;
    if (budget_->expanded_nodes > limits_.max_expanded_nodes) {
      throw LimitExceeded{mark, absl::StrCat("more than ", limits_.max_expanded_nodes,
                                             " nodes with aliases expanded; that is the limit "
                                             "on alias expansion")};
    }
    if (budget_->expanded_bytes > limits_.max_expanded_bytes) {
      throw LimitExceeded{mark, absl::StrCat("more than ", Size(limits_.max_expanded_bytes),
                                             " of text with aliases expanded; that is the "
                                             "limit on alias expansion")};
    }
  }

  // A node of `height` levels starting here.
  void CheckDepth(const YAML::Mark& mark, int height) {
    if (static_cast<int>(stack_.size()) + height > limits_.max_depth) {
      throw LimitExceeded{mark, absl::StrCat("nested more than ", limits_.max_depth,
                                             " levels deep; that is the limit on nesting")};
    }
  }

  uint32_t NewNode(const YAML::Mark& mark, NodeType type, bool quoted) {
    if (!mark.is_null()) reported_ = static_cast<size_t>(mark.pos) + 1;
    YamlTree::Node node;
    node.type = type;
    node.quoted = quoted;
    node.line = mark.is_null() ? 1 : mark.line + 1;
    node.column = mark.is_null() ? 1 : mark.column + 1;
    tree_->nodes_.push_back(node);
    return static_cast<uint32_t>(tree_->nodes_.size() - 1);
  }

  Anchor* Register(YAML::anchor_t anchor, uint32_t index) {
    if (anchor == 0) return nullptr;
    if (anchor >= anchors_.size()) anchors_.resize(anchor + 1);
    Anchor& a = anchors_[anchor];
    a = Anchor{};
    a.name = std::move(pending_name_);
    a.index = index;
    pending_name_.clear();
    return &a;
  }

  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor, NodeType type, bool quoted,
            const std::string& text) {
    CheckDepth(mark, 1);
    CountNode(mark, text.size());
    uint32_t index = NewNode(mark, type, quoted);
    YamlTree::Node& node = tree_->nodes_[index];
    node.first = static_cast<uint32_t>(tree_->text_.size());
    node.count = static_cast<uint32_t>(text.size());
    tree_->text_ += text;
    if (Anchor* a = Register(anchor, index)) {
      a->nodes = 1;
      a->bytes = text.size();
      a->height = 1;
    }
    Attach(index, 1, text.size(), 1);
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, NodeType type) {
    CheckDepth(mark, 1);
    CountNode(mark, 0);
    uint32_t index = NewNode(mark, type, false);
    if (Anchor* a = Register(anchor, index)) a->open = true;
    stack_.push_back(Frame{index, anchor, pending_.size()});
  }

  void Close() {
    if (stack_.empty()) return;
    Frame frame = stack_.back();
    stack_.pop_back();
    YamlTree::Node& node = tree_->nodes_[frame.index];
    node.first = static_cast<uint32_t>(tree_->children_.size());
    node.count = static_cast<uint32_t>(pending_.size() - frame.children_start);
    tree_->children_.insert(tree_->children_.end(), pending_.begin() + frame.children_start,
                            pending_.end());
    pending_.resize(frame.children_start);
    if (frame.anchor != 0 && frame.anchor < anchors_.size()) {
      Anchor& a = anchors_[frame.anchor];
      a.open = false;
      a.nodes = frame.nodes;
      a.bytes = frame.bytes;
      a.height = frame.height;
    }
    Attach(frame.index, frame.nodes, frame.bytes, frame.height);
  }

  // Makes `ref` (a node index, or an alias use with kAliasBit) the next
  // child of the open collection (or a document). Totals stay below the
  // limits (checked as they grow), so they cannot overflow.
  void Attach(uint32_t ref, size_t nodes, size_t bytes, int height) {
    if (stack_.empty()) {
      tree_->documents_.push_back(tree_->Resolve(ref, 0));
      return;
    }
    pending_.push_back(ref);
    Frame& parent = stack_.back();
    parent.nodes += nodes;
    parent.bytes += bytes;
    parent.height = std::max(parent.height, height + 1);
  }

  YamlTree* tree_;
  const Limits& limits_;
  YamlBudget* budget_;
  std::vector<Anchor> anchors_;  // by the parser's anchor id
  std::vector<Frame> stack_;
  std::vector<uint32_t> pending_;  // children of the open collections
  std::string pending_name_;
  size_t reported_ = 0;
};

NodeType YamlNode::Type() const {
  return tree_ == nullptr ? NodeType::kUndefined : tree_->nodes_[index_].type;
}

std::string YamlNode::Scalar() const { return std::string(ScalarView()); }

absl::string_view YamlNode::ScalarView() const {
  if (!IsScalar()) return absl::string_view();
  if (!tree_->overrides_.empty()) {
    auto it = tree_->overrides_.find(index_);
    if (it != tree_->overrides_.end()) return it->second;
  }
  const YamlTree::Node& node = tree_->nodes_[index_];
  return absl::string_view(tree_->text_).substr(node.first, node.count);
}

bool YamlNode::IsQuoted() const { return tree_ != nullptr && tree_->nodes_[index_].quoted; }
int YamlNode::line() const { return tree_ == nullptr ? 0 : tree_->nodes_[index_].line; }
int YamlNode::column() const { return tree_ == nullptr ? 0 : tree_->nodes_[index_].column; }
int YamlNode::alias_line() const {
  return tree_ == nullptr || via_ == 0 ? 0 : tree_->alias_uses_[via_ - 1].line;
}
int YamlNode::alias_column() const {
  return tree_ == nullptr || via_ == 0 ? 0 : tree_->alias_uses_[via_ - 1].column;
}

void YamlNode::OverrideScalar(std::string text) const {
  if (IsScalar()) tree_->overrides_[index_] = std::move(text);
}
bool YamlNode::IsOverridden() const {
  return tree_ != nullptr && tree_->overrides_.count(index_) > 0;
}
void YamlNode::ClearOverrides() const {
  if (tree_ != nullptr) tree_->overrides_.clear();
}

YamlNode YamlTree::Resolve(uint32_t ref, uint32_t via) const {
  if ((ref & kAliasBit) == 0) return YamlNode(this, ref, via);
  uint32_t use = ref & ~kAliasBit;
  // The outermost alias names the place: inner ones are inside the anchor.
  return YamlNode(this, alias_uses_[use].target, via != 0 ? via : use + 1);
}

size_t YamlNode::size() const {
  if (IsSequence()) return tree_->nodes_[index_].count;
  if (IsMap()) return tree_->nodes_[index_].count / 2;
  return 0;
}

YamlNode YamlNode::operator[](absl::string_view key) const {
  if (!IsMap()) return YamlNode();
  for (auto it = begin(); it != end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return YamlNode();
}

YamlNode::Iterator YamlNode::begin() const { return Iterator(*this, 0); }
YamlNode::Iterator YamlNode::end() const { return Iterator(*this, size()); }

YamlIteratorValue YamlNode::Iterator::operator*() const {
  const YamlTree* tree = node_.tree_;
  const YamlTree::Node& n = tree->nodes_[node_.index_];
  const uint32_t via = node_.via_;
  if (node_.IsSequence()) {
    return YamlIteratorValue(tree->Resolve(tree->children_[n.first + position_], via), YamlNode(),
                             YamlNode());
  }
  return YamlIteratorValue(YamlNode(), tree->Resolve(tree->children_[n.first + 2 * position_], via),
                           tree->Resolve(tree->children_[n.first + 2 * position_ + 1], via));
}

std::optional<ConfigError> YamlTree::Build(const ConfigFile& file, const Limits& limits,
                                           YamlBudget* budget) {
  budget->bytes += file.content.size();
  if (budget->bytes > limits.max_total_bytes) {
    return ConfigError{
        {file.path, 1, 1},
        absl::StrCat("the config files come to ", budget->bytes,
                     " bytes with this one; the limit on a configuration (all files together) "
                     "is ",
                     Size(limits.max_total_bytes))};
  }
  // Reserved rather than grown by doubling, which would hold up to three
  // times the nodes while copying. A node takes at least two bytes of source
  // ("1,"), and scalars are rarely longer than theirs. Pages reserved but not
  // used are never touched, so they cost no memory.
  size_t most_nodes = std::min(file.content.size() / 2 + 1, limits.max_nodes + 1);
  nodes_.reserve(most_nodes);
  children_.reserve(most_nodes);
  text_.reserve(file.content.size());
  TreeBuilder builder(this, limits, budget);
  ReadOnlyBuffer buffer(file.content, builder.reported(), limits.max_read_ahead_bytes);
  std::istream in(&buffer);
  std::optional<ConfigError> error;
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const LimitExceeded& e) {
    error = At(file, e.mark, e.message);
  } catch (const std::exception& e) {
    error = YamlSyntaxError(file, e);
  }
  // A cut input makes the parser's own complaint (or silence) meaningless.
  if (buffer.cut()) return ReadAheadError(file, *buffer.cut(), limits);
  return error;
}

ConfigError YamlSyntaxError(const ConfigFile& file, const std::exception& error) {
  const auto* yaml = dynamic_cast<const YAML::Exception*>(&error);
  if (yaml == nullptr) {
    return ConfigError{{file.path, 1, 1}, absl::StrCat("YAML syntax error: ", error.what())};
  }
  if (yaml->msg == YAML::ErrorMsg::MAP_VALUE && yaml->mark.column >= kYamlMaxImplicitKey) {
    return At(file, yaml->mark,
              absl::StrCat("YAML syntax error: a key longer than ", kYamlMaxImplicitKey,
                           " characters ends here; YAML allows no longer key without '? ', "
                           "and names have at most 255 characters"));
  }
  return At(file, yaml->mark, absl::StrCat("YAML syntax error: ", yaml->msg));
}

std::optional<bool> ParseYamlBool(absl::string_view text) {
  // yaml-cpp's convert<bool>: one case throughout, or a capital first letter.
  bool lower = true, upper = true;
  for (char c : text) {
    lower = lower && !absl::ascii_isupper(static_cast<unsigned char>(c));
    upper = upper && !absl::ascii_islower(static_cast<unsigned char>(c));
  }
  bool capitalized = !text.empty() && absl::ascii_isupper(static_cast<unsigned char>(text[0]));
  for (size_t i = 1; capitalized && i < text.size(); ++i) {
    capitalized = !absl::ascii_isupper(static_cast<unsigned char>(text[i]));
  }
  if (!lower && !upper && !capitalized) return std::nullopt;
  std::string folded = absl::AsciiStrToLower(text);
  for (const char* yes : {"y", "yes", "true", "on"}) {
    if (folded == yes) return true;
  }
  for (const char* no : {"n", "no", "false", "off"}) {
    if (folded == no) return false;
  }
  return std::nullopt;
}

}  // namespace gantry::config::internal
