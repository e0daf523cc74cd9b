// Agents' certificates and the texts a cipher key rotation rewrites. Plain
// parameterised statements rather than prepared ones: each runs at an
// agent's registration or revocation, or once per rotation.
#include <pqxx/pqxx>

#include "controller/store/tx.h"

namespace gantry::store {

void Tx::InsertAgentCertificate(const AgentCertificateRecord& cert) {
  work_.exec_params(
      "INSERT INTO agent_certificates (serial, agent_id, fingerprint, not_after) "
      "VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000))",
      cert.serial, cert.agent_id, cert.fingerprint, cert.not_after_ms);
}

std::vector<AgentCertificateRecord> Tx::AgentCertificates() {
  std::vector<AgentCertificateRecord> out;
  for (const auto& row : work_.exec(
           "SELECT c.serial, c.agent_id, c.fingerprint, "
           "(extract(epoch FROM c.not_after) * 1000)::bigint, COALESCE(c.revoked_reason, ''), "
           "COALESCE(a.state, '') FROM agent_certificates c "
           "LEFT JOIN agents a ON a.id = c.agent_id")) {
    AgentCertificateRecord r;
    r.serial = row[0].as<std::string>();
    r.agent_id = row[1].as<std::string>();
    r.fingerprint = row[2].as<std::string>();
    r.not_after_ms = row[3].as<int64_t>();
    r.revoked_reason = row[4].as<std::string>();
    r.agent_state = row[5].as<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

void Tx::SetAgentCertificatesRevoked(const std::string& agent_id, const std::string& reason) {
  if (reason.empty()) {
    // Reinstated: only what disabling revoked; a deleted agent's stays.
    work_.exec_params(
        "UPDATE agent_certificates SET revoked_at = NULL, revoked_reason = NULL "
        "WHERE agent_id = $1 AND revoked_reason = 'agent disabled'",
        agent_id);
    return;
  }
  work_.exec_params(
      "UPDATE agent_certificates SET revoked_at = now(), revoked_reason = $2 "
      "WHERE agent_id = $1 AND (revoked_reason IS NULL OR revoked_reason <> 'agent deleted')",
      agent_id, reason);
}

std::vector<EncryptedText> Tx::EncryptedTexts() {
  std::vector<EncryptedText> out;
  auto add = [&](EncryptedText::Kind kind, const pqxx::result& rows) {
    for (const auto& row : rows) {
      EncryptedText t;
      t.kind = kind;
      t.id = row[0].as<int64_t>();
      t.position = row[1].as<int32_t>();
      t.text = row[2].as<std::string>();
      out.push_back(std::move(t));
    }
  };
  // Row locks: a rotation and a concurrent write to the same row serialize.
  add(EncryptedText::Kind::kConfigFile,
      work_.exec("SELECT revision, position, content FROM config_files "
                 "WHERE strpos(content, 'AES256GCM:') > 0 FOR UPDATE"));
  add(EncryptedText::Kind::kConfigDiff,
      work_.exec("SELECT revision, 0, diff FROM config_revisions "
                 "WHERE strpos(diff, 'AES256GCM:') > 0 FOR UPDATE"));
  add(EncryptedText::Kind::kRunVariable,
      work_.exec("SELECT run_id, position, value FROM run_variables "
                 "WHERE secure AND strpos(value, 'AES256GCM:') = 1 FOR UPDATE"));
  return out;
}

void Tx::UpdateEncryptedText(const EncryptedText& t) {
  switch (t.kind) {
    case EncryptedText::Kind::kConfigFile:
      work_.exec_params(
          "UPDATE config_files SET content = $3 WHERE revision = $1 AND position = $2", t.id,
          t.position, t.text);
      return;
    case EncryptedText::Kind::kConfigDiff:
      work_.exec_params("UPDATE config_revisions SET diff = $2 WHERE revision = $1", t.id, t.text);
      return;
    case EncryptedText::Kind::kRunVariable:
      work_.exec_params("UPDATE run_variables SET value = $3 WHERE run_id = $1 AND position = $2",
                        t.id, t.position, t.text);
      return;
  }
}

void Tx::SetConfigRevisionHash(int64_t revision, const std::string& content_hash) {
  work_.exec_params("UPDATE config_revisions SET content_hash = $2 WHERE revision = $1", revision,
                    content_hash);
}

}  // namespace gantry::store
