// `gantry secret encrypt`: any signed-in user may encrypt a value with the
// controller's key (it reveals nothing); the value is never logged.
// `gantry secret rotate-key`: admins; a new key and every stored value
// re-encrypted (controller/cipher_rotation.h), one audit row.
#include "common/secrets/cipher.h"
#include "controller/cipher_rotation.h"
#include "controller/rpc/operator_service.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::EncryptSecret(grpc::CallbackServerContext* ctx,
                                                         const v1::EncryptSecretRequest* req,
                                                         v1::EncryptSecretResponse* resp) {
  return Unary(ctx, resp, {"", "secret", Anyone()}, [&](const Principal&, auto done) {
    const secrets::Cipher* cipher = secrets::ProcessCipher();
    if (cipher == nullptr) {
      done(absl::FailedPreconditionError("this controller has no cipher key"));
      return;
    }
    absl::StatusOr<std::string> encrypted = cipher->Encrypt(req->value());
    if (!encrypted.ok()) {
      done(encrypted.status());
      return;
    }
    v1::EncryptSecretResponse out;
    out.set_encrypted_value(*encrypted);
    done(std::move(out));
  });
}

grpc::ServerUnaryReactor* OperatorService::RotateCipherKey(grpc::CallbackServerContext* ctx,
                                                           const v1::RotateCipherKeyRequest*,
                                                           v1::RotateCipherKeyResponse* resp) {
  return Unary(ctx, resp, {"secret.rotate-key", "cipher-key", Admins("rotate the cipher key")},
               [&](const Principal&, auto done) {
                 // Database work: on a pool thread, never the gRPC one.
                 artifacts_->pool().WithDb([done = std::move(done)](store::Db& db) {
                   done(gantry::RotateCipherKey(db));
                 });
               });
}

}  // namespace gantry::rpc
