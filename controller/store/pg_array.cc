#include "controller/store/pg_array.h"

namespace gantry::store {

void PgArray::Add(const std::string& text) {
  Separate();
  body_ += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') body_ += '\\';
    body_ += c;
  }
  body_ += '"';
}

void PgArray::Add(int64_t n) {
  Separate();
  body_ += std::to_string(n);
}

void PgArray::Add(bool b) {
  Separate();
  body_ += b ? "t" : "f";
}

}  // namespace gantry::store
