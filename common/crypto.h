// Hashing and secret generation (OpenSSL).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gantry {

// Lower-case hex of `n` bytes.
std::string HexEncode(const unsigned char* data, size_t n);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// SHA-256 over data fed in pieces, so a file of any size is hashed in
// constant memory. Not thread-safe; one hasher per stream of bytes.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  // A moved-from hasher may only be assigned to or destroyed.
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;

  void Update(std::string_view data);
  // Lower-case hex digest of everything fed since construction or the last
  // FinishHex(); the hasher then starts over, empty.
  std::string FinishHex();
  // Bytes fed since the hasher (re)started.
  uint64_t bytes() const { return bytes_; }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  uint64_t bytes_ = 0;
};

// `bytes` random bytes from the OS CSPRNG, hex encoded (2*bytes chars).
std::string RandomHex(size_t bytes);

// Compares two strings in time independent of where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gantry
