#include "controller/identity_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/names.h"
#include "controller/run_view.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

// Tokens carry a prefix so secret scanners and readers can tell them apart.
constexpr char kTokenPrefix[] = "gantry_";
constexpr int kMaxAuditRows = 10000;

std::vector<std::unique_ptr<store::Db>> One(std::unique_ptr<store::Db> db) {
  std::vector<std::unique_ptr<store::Db>> out;
  out.push_back(std::move(db));
  return out;
}

v1::Token TokenProto(const store::ApiTokenRecord& t) {
  v1::Token out;
  out.set_id(t.id);
  out.set_user(t.user_name);
  out.set_name(t.name);
  out.set_created_by(t.created_by);
  SetTimestamp(t.created_at, out.mutable_created_at());
  if (t.expires_at != 0) SetTimestamp(t.expires_at, out.mutable_expires_at());
  return out;
}

TokenInfo InfoOf(const store::ApiTokenRecord& t) {
  TokenInfo info{t.id, t.user_name, t.name, absl::InfiniteFuture()};
  if (t.expires_at != 0) info.expires_at = absl::FromUnixMillis(t.expires_at);
  return info;
}

}  // namespace

IdentityService::IdentityService(std::unique_ptr<store::Db> db, TokenRegistry* tokens)
    : tokens_(tokens), pool_(One(std::move(db))) {}

void IdentityService::Stop() { pool_.Stop(); }

void IdentityService::CreateToken(v1::CreateTokenRequest request, std::string created_by,
                                  Reply<v1::CreateTokenResponse> done) {
  if (!IsValidUserName(request.user())) {
    done(absl::InvalidArgumentError(absl::StrCat(
        "invalid user name '", request.user(), "': use letters, digits, '-', '_', '.' and '@'")));
    return;
  }
  if (request.name().size() > 200) {
    done(absl::InvalidArgumentError("a token name is at most 200 characters"));
    return;
  }
  if (request.expires_in_seconds() < 0) {
    done(absl::InvalidArgumentError("a token's lifetime must be positive"));
    return;
  }
  pool_.WithDb([this, request = std::move(request), created_by = std::move(created_by),
                done = std::move(done)](store::Db& db) {
    std::string token = absl::StrCat(kTokenPrefix, RandomHex(32));
    store::ApiTokenRecord record;
    record.user_name = request.user();
    record.name = request.name();
    record.token_hash = Sha256Hex(token);
    record.created_by = created_by;
    if (request.expires_in_seconds() > 0) {
      record.expires_at = absl::ToUnixMillis(absl::Now() +
                                             absl::Seconds(request.expires_in_seconds()));
    }
    absl::Status st = db.Run("CreateToken", [&](store::Tx& tx) {
      record.id = tx.InsertApiToken(record);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    record.created_at = absl::ToUnixMillis(absl::Now());
    tokens_->Add(record.token_hash, InfoOf(record));
    v1::CreateTokenResponse response;
    response.set_token(token);
    *response.mutable_info() = TokenProto(record);
    done(std::move(response));
  });
}

void IdentityService::ListTokens(std::string user, Reply<v1::ListTokensResponse> done) {
  pool_.WithDb([user = std::move(user), done = std::move(done)](store::Db& db) {
    std::vector<store::ApiTokenRecord> all;
    absl::Status st = db.Run("ListTokens", [&](store::Tx& tx) {
      all = tx.ApiTokens();
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    v1::ListTokensResponse response;
    for (const auto& t : all) {
      if (user.empty() || t.user_name == user) *response.add_tokens() = TokenProto(t);
    }
    done(std::move(response));
  });
}

void IdentityService::RevokeToken(int64_t id, std::string by,
                                  std::function<absl::Status(const std::string&)> may_revoke,
                                  Reply<v1::Token> done) {
  pool_.WithDb([this, id, by = std::move(by), may_revoke = std::move(may_revoke),
                done = std::move(done)](store::Db& db) {
    std::optional<store::ApiTokenRecord> revoked;
    absl::Status refused;
    absl::Status st = db.Run("RevokeToken", [&](store::Tx& tx) {
      revoked.reset();
      refused = absl::OkStatus();
      for (const auto& t : tx.ApiTokens()) {
        if (t.id != id) continue;
        refused = may_revoke(t.user_name);
        if (refused.ok()) revoked = tx.RevokeApiToken(id, by);
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    if (!refused.ok()) return done(refused);
    if (!revoked) return done(absl::NotFoundError(absl::StrCat("no live token with id ", id)));
    tokens_->Remove(id);
    done(TokenProto(*revoked));
  });
}

void IdentityService::ListAudit(v1::ListAuditRequest request, Reply<v1::ListAuditResponse> done) {
  if (request.limit() < 0 || request.limit() > kMaxAuditRows) {
    done(absl::InvalidArgumentError(
        absl::StrCat("limit must be from 1 to ", kMaxAuditRows, " (0 = 1000)")));
    return;
  }
  pool_.WithDb([request = std::move(request), done = std::move(done)](store::Db& db) {
    store::AuditQuery query;
    if (request.has_since()) {
      query.since = request.since().seconds() * 1000 + request.since().nanos() / 1000000;
    }
    query.actor = request.actor();
    query.pipeline = request.pipeline();
    query.limit = request.limit() == 0 ? 1000 : request.limit();
    std::vector<store::AuditRecord> rows;
    absl::Status st = db.Run("ListAudit", [&](store::Tx& tx) {
      rows = tx.ReadAudit(query);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    v1::ListAuditResponse response;
    for (const auto& r : rows) {
      v1::AuditEntry* e = response.add_entries();
      e->set_id(r.id);
      SetTimestamp(r.at, e->mutable_at());
      e->set_actor(r.actor);
      e->set_source(r.source);
      e->set_action(r.action);
      e->set_target(r.target);
      e->set_outcome(r.outcome);
      e->set_reason(r.reason);
    }
    done(std::move(response));
  });
}

}  // namespace gantry
