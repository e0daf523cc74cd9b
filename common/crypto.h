// Hashing and secret generation (OpenSSL).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gantry {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// `bytes` random bytes from the OS CSPRNG, hex encoded (2*bytes chars).
std::string RandomHex(size_t bytes);

// Compares two strings in time independent of where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gantry
