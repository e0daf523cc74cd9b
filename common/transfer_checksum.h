// The check an agent makes on the bytes of an artifact transfer: XXH3-128,
// about twenty times faster than SHA-256 on one core, so checking costs the
// agent almost nothing beside the copy itself.
//
// It guards against damage (on the wire, in the controller's store, on the
// agent's disk), not against forgery: TLS authenticates the bytes in
// transit, and the controller alone names content, by the SHA-256 it
// computes on every upload (controller/artifacts/blob_store.h). An agent
// that lies about the checksum of its own upload only fails its own job.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/crypto.h"

namespace gantry {

class TransferChecksum {
 public:
  TransferChecksum();
  ~TransferChecksum();
  TransferChecksum(TransferChecksum&&) noexcept;
  TransferChecksum& operator=(TransferChecksum&&) noexcept;

  void Update(std::string_view data);
  // 32 lower-case hex digits of everything fed since construction or the
  // last FinishHex(); the checksum then starts over, empty.
  std::string FinishHex();
  uint64_t bytes() const { return bytes_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  uint64_t bytes_ = 0;
};

// XXH3-128 of `data`, as FinishHex() gives it.
std::string TransferChecksumHex(std::string_view data);

// The check one file of a transfer carries: its XXH3-128, or its SHA-256
// where the other side predates the XXH3-128 (an older controller's upload,
// a file stored before it was recorded).
class TransferDigest {
 public:
  explicit TransferDigest(bool xxh128) : xxh128_(xxh128) {}
  void Update(std::string_view data) { xxh128_ ? fast_.Update(data) : sha_.Update(data); }
  uint64_t bytes() const { return xxh128_ ? fast_.bytes() : sha_.bytes(); }
  // As the hashers' FinishHex: the digest, then empty again.
  std::string FinishHex() { return xxh128_ ? fast_.FinishHex() : sha_.FinishHex(); }
  bool xxh128() const { return xxh128_; }
  const char* name() const { return xxh128_ ? "xxh128" : "sha256"; }

 private:
  bool xxh128_;
  TransferChecksum fast_;
  Sha256Hasher sha_;
};

}  // namespace gantry
