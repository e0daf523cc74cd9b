#include "common/transfer_checksum.h"

#include <xxhash.h>

#include <stdexcept>

#include "common/crypto.h"

namespace gantry {
namespace {

std::string Hex(XXH128_hash_t h) {
  // The canonical (big-endian) form, as xxhsum prints it.
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, h);
  return HexEncode(canonical.digest, sizeof(canonical.digest));
}

}  // namespace

struct TransferChecksum::State {
  XXH3_state_t* xxh = nullptr;
  ~State() { XXH3_freeState(xxh); }
};

TransferChecksum::TransferChecksum() : state_(std::make_unique<State>()) {
  state_->xxh = XXH3_createState();
  if (state_->xxh == nullptr || XXH3_128bits_reset(state_->xxh) != XXH_OK) {
    throw std::runtime_error("cannot initialise XXH3");
  }
}

TransferChecksum::~TransferChecksum() = default;
TransferChecksum::TransferChecksum(TransferChecksum&&) noexcept = default;
TransferChecksum& TransferChecksum::operator=(TransferChecksum&&) noexcept = default;

void TransferChecksum::Update(std::string_view data) {
  XXH3_128bits_update(state_->xxh, data.data(), data.size());
  bytes_ += data.size();
}

std::string TransferChecksum::FinishHex() {
  std::string hex = Hex(XXH3_128bits_digest(state_->xxh));
  XXH3_128bits_reset(state_->xxh);
  bytes_ = 0;
  return hex;
}

std::string TransferChecksumHex(std::string_view data) {
  return Hex(XXH3_128bits(data.data(), data.size()));
}

}  // namespace gantry
