// `gantry secret rotate-key` (docs/security.md, "Rotating the cipher key"):
// a new key is put first in the key file (written atomically; the older
// keys stay after it, so anything still under them decrypts), becomes the
// process's cipher, and every stored ciphertext is re-encrypted under it
// in one transaction: config files, revision diffs and secure run
// variables. Each step leaves every value readable, so a crash anywhere
// loses nothing; running it again finishes the job.
#pragma once

#include "absl/status/statusor.h"
#include "controller/store/db.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

absl::StatusOr<v1::RotateCipherKeyResponse> RotateCipherKey(store::Db& db);

// A standby (each poll) and a controller taking over: the key file again,
// for a rotation another controller did (docs/operations.md, "Setting up
// the second controller"). Logs what changed, and a file that cannot be
// used once per distinct error; the keys held so far stay in use then.
// Returns whether the keys changed.
bool PickUpRotatedCipherKey();

}  // namespace gantry
