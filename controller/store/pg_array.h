// PostgreSQL array literals, for passing a batch of rows as one parameter
// per column (libpqxx 6 has no array parameters). Every element is quoted,
// so any text (commas, quotes, braces, "NULL") round-trips, except NUL
// characters, which PostgreSQL text cannot hold: they are dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gantry::store {

class PgArray {
 public:
  void Add(const std::string& text);
  void Add(int64_t n);
  void Add(bool b);
  std::string str() const { return body_ + "}"; }

 private:
  void Separate() { body_ += body_.size() > 1 ? "," : ""; }
  std::string body_ = "{";
};

}  // namespace gantry::store
