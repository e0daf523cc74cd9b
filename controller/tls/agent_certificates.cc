#include "controller/tls/agent_certificates.h"

#include <spdlog/spdlog.h>

#include <future>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/tls/pki.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

// An agent is not re-issued a certificate (it would need its register key
// again), so the certificate lasts as long as the CA does.
constexpr absl::Duration kAgentValidity = absl::Hours(24 * 365 * 10);

constexpr char kDisabled[] = "agent disabled";
constexpr char kDeleted[] = "agent deleted";

std::vector<std::unique_ptr<store::Db>> One(std::unique_ptr<store::Db> db) {
  std::vector<std::unique_ptr<store::Db>> v;
  v.push_back(std::move(db));
  return v;
}

}  // namespace

AgentCertificates::AgentCertificates(const ServerTls& tls, std::unique_ptr<store::Db> db,
                                     bool token_only_allowed)
    : ca_cert_pem_(tls.ca_cert_pem),
      ca_key_pem_(tls.ca_key_pem),
      token_only_allowed_(token_only_allowed),
      pool_(One(std::move(db))) {}

absl::Status AgentCertificates::Load() {
  std::promise<absl::StatusOr<std::vector<store::AgentCertificateRecord>>> loaded;
  pool_.WithDb([&loaded](store::Db& db) {
    std::vector<store::AgentCertificateRecord> rows;
    absl::Status st = db.Run("AgentCertificates", [&](store::Tx& tx) {
      rows = tx.AgentCertificates();
      return absl::OkStatus();
    });
    if (st.ok()) {
      loaded.set_value(std::move(rows));
    } else {
      loaded.set_value(st);
    }
  });
  auto rows = loaded.get_future().get();
  if (!rows.ok()) return rows.status();
  absl::MutexLock lock(&mu_);
  for (const store::AgentCertificateRecord& r : *rows) {
    Entry e{r.agent_id, r.revoked_reason};
    if (r.agent_state.empty()) {
      e.revoked = kDeleted;
    } else if (r.agent_state == "disabled" && e.revoked.empty()) {
      e.revoked = kDisabled;
    }
    by_serial_[r.serial] = std::move(e);
  }
  spdlog::info("agent certificates: {} issued", by_serial_.size());
  return absl::OkStatus();
}

void AgentCertificates::Issue(std::string agent_id, std::string csr_pem,
                              std::function<void(absl::StatusOr<std::string>)> done) {
  pool_.WithDb([this, agent_id = std::move(agent_id), csr_pem = std::move(csr_pem),
                done = std::move(done)](store::Db& db) {
    // The CSR's own signature proves the agent holds the key it names.
    absl::StatusOr<std::string> key = tls::CsrPublicKey(csr_pem);
    if (!key.ok()) return done(key.status());
    tls::CertificateSpec spec;
    spec.common_name = agent_id;
    spec.client = true;
    spec.validity = kAgentValidity;
    absl::StatusOr<std::string> cert = tls::SignCertificate(ca_cert_pem_, ca_key_pem_, *key, spec);
    if (!cert.ok()) return done(cert.status());
    absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(*cert);
    if (!info.ok()) return done(info.status());
    store::AgentCertificateRecord record;
    record.serial = info->serial_hex;
    record.agent_id = agent_id;
    record.fingerprint = info->fingerprint;
    record.not_after_ms = absl::ToUnixMillis(info->not_after);
    absl::Status st = db.Run("InsertAgentCertificate", [&](store::Tx& tx) {
      tx.InsertAgentCertificate(record);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    {
      absl::MutexLock lock(&mu_);
      by_serial_[record.serial] = Entry{agent_id, ""};
    }
    spdlog::info("agent {}: client certificate issued (serial {})", agent_id, record.serial);
    done(*std::move(cert));
  });
}

absl::Status AgentCertificates::Check(const std::string& serial,
                                      const std::string& agent_id) const {
  if (serial.empty()) {
    if (token_only_allowed_) return absl::OkStatus();
    return absl::UnauthenticatedError(absl::StrCat(
        "agent ", agent_id,
        " presented no client certificate: an agent authenticates with the certificate signed "
        "at its registration (agent.key and agent.crt in its work dir); its agent.json alone "
        "is not enough"));
  }
  absl::MutexLock lock(&mu_);
  auto it = by_serial_.find(serial);
  if (it == by_serial_.end()) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate serial ", serial, " was not issued to an agent"));
  }
  const Entry& e = it->second;
  if (e.agent_id != agent_id) {
    return absl::UnauthenticatedError(absl::StrCat("client certificate serial ", serial,
                                                   " belongs to agent ", e.agent_id, ", not ",
                                                   agent_id));
  }
  if (e.revoked == kDeleted) {
    return absl::NotFoundError(absl::StrCat(
        "agent ", agent_id, " was deleted; its certificate (serial ", serial, ") is revoked"));
  }
  if (!e.revoked.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the certificate of agent ", agent_id, " (serial ", serial,
                     ") is revoked: ", e.revoked, " (gantry agent enable lifts it)"));
  }
  return absl::OkStatus();
}

void AgentCertificates::Revoke(const std::string& agent_id, const std::string& reason) {
  int n = 0;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [serial, e] : by_serial_) {
      if (e.agent_id != agent_id || e.revoked == kDeleted) continue;
      e.revoked = reason;
      ++n;
    }
  }
  if (n == 0) return;
  spdlog::warn("agent {}: {} client certificate(s) revoked: {}", agent_id, n, reason);
  Persist(agent_id, reason);
  if (listener_) {
    listener_(agent_id, reason == kDeleted
                            ? absl::NotFoundError(absl::StrCat("agent ", agent_id,
                                                               " was deleted; its certificate "
                                                               "is revoked"))
                            : absl::PermissionDeniedError(absl::StrCat(
                                  "the certificate of agent ", agent_id, " is revoked: ", reason)));
  }
}

void AgentCertificates::Reinstate(const std::string& agent_id) {
  int n = 0;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [serial, e] : by_serial_) {
      if (e.agent_id != agent_id || e.revoked != kDisabled) continue;
      e.revoked.clear();
      ++n;
    }
  }
  if (n == 0) return;
  spdlog::info("agent {}: client certificate reinstated (agent enabled)", agent_id);
  Persist(agent_id, "");
}

void AgentCertificates::Persist(const std::string& agent_id, const std::string& reason) {
  pool_.WithDb([agent_id, reason](store::Db& db) {
    absl::Status st = db.Run("SetAgentCertificatesRevoked", [&](store::Tx& tx) {
      tx.SetAgentCertificatesRevoked(agent_id, reason);
      return absl::OkStatus();
    });
    // Memory already refuses the certificate; at the next start the agent's
    // state revokes it again.
    if (!st.ok()) spdlog::error("agent {}: recording the revocation: {}", agent_id, st.ToString());
  });
}

std::string AgentCertificates::PeerSerial(const grpc::AuthContext& auth) {
  std::vector<grpc::string_ref> pems = auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return "";
  absl::StatusOr<tls::CertificateInfo> info =
      tls::InspectCertificate(std::string(pems[0].data(), pems[0].size()));
  return info.ok() ? info->serial_hex : "";
}

}  // namespace gantry
