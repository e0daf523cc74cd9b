// Agents' client certificates (docs/security.md, "Agent certificates"): at
// registration the controller's CA signs the agent's CSR (the key never
// leaves the agent) and records the serial with the agent id; from then on
// an agent call is accepted only over a connection whose client certificate
// is a valid one of that agent. Disabling an agent revokes its certificates
// until it is enabled again; deleting it revokes them for good.
//
// Checks are answered from memory (loaded at start, kept with every issue
// and revocation) so the session and artifact RPCs never wait on the
// database; the rows are written on a connection of its own.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/db_pool.h"
#include "controller/tls/server_tls.h"

namespace gantry {

class AgentCertificates {
 public:
  // `token_only_allowed`: --agent-token-auth, a call without a client
  // certificate passes on its token alone (simulated fleets, agents
  // registered before certificates existed).
  AgentCertificates(const ServerTls& tls, std::unique_ptr<store::Db> db, bool token_only_allowed);

  // Reads every certificate row; an agent disabled or deleted meanwhile
  // counts as revoked whatever its row says.
  absl::Status Load();

  // Signs `csr_pem` for `agent_id` and records it; `done` runs on a pool
  // thread with the certificate (PEM).
  void Issue(std::string agent_id, std::string csr_pem,
             std::function<void(absl::StatusOr<std::string>)> done);

  // OK when `serial` (PeerSerial) is a valid certificate of `agent_id`.
  // UNAUTHENTICATED: no certificate, an unknown one or another agent's;
  // PERMISSION_DENIED: revoked because the agent is disabled; NOT_FOUND:
  // revoked because the agent was deleted (it may register again).
  absl::Status Check(const std::string& serial, const std::string& agent_id) const;

  // Revokes (`reason` "agent disabled" or "agent deleted") or reinstates
  // (after an enable) the agent's certificates, then tells the listener,
  // which ends the agent's open session.
  void Revoke(const std::string& agent_id, const std::string& reason);
  void Reinstate(const std::string& agent_id);
  void set_revocation_listener(
      std::function<void(const std::string& agent_id, const absl::Status& why)> listener) {
    listener_ = std::move(listener);
  }

  bool token_only_allowed() const { return token_only_allowed_; }
  void Stop() { pool_.Stop(); }

  // The serial (lower-case hex) of the client certificate the call's peer
  // presented, "" without one.
  static std::string PeerSerial(const grpc::AuthContext& auth);

 private:
  struct Entry {
    std::string agent_id;
    std::string revoked;  // the reason, "" while valid
  };
  // Writes the revocation state of `agent_id`'s rows.
  void Persist(const std::string& agent_id, const std::string& reason);

  std::string ca_cert_pem_;
  std::string ca_key_pem_;
  const bool token_only_allowed_;
  DbPool pool_;
  std::function<void(const std::string&, const absl::Status&)> listener_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> by_serial_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gantry
