#include "controller/store/pg_array.h"

namespace gantry::store {

void PgArray::Add(const std::string& text) {
  Separate();
  body_ += '"';
  for (char c : text) {
    // PostgreSQL text cannot hold NUL, and libpq would end the whole
    // parameter at it, failing the batch: an agent's report with one (a job
    // reason, valid UTF-8) would fail every commit it is re-sent in.
    if (c == '\0') continue;
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
