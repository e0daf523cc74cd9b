// gantry whoami, gantry token create|list|revoke, gantry audit.
#include <google/protobuf/util/time_util.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command.h"
#include "cli/format.h"
#include "common/config/duration.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

// "30d", "12h", "90m", or a plain number of days.
absl::StatusOr<absl::Duration> ParseLifetime(const std::string& text) {
  std::string t(absl::StripAsciiWhitespace(text));
  if (!t.empty() && t.back() == 'd') {
    int64_t days = 0;
    if (absl::SimpleAtoi(t.substr(0, t.size() - 1), &days) && days > 0) return absl::Hours(24 * days);
  } else if (auto d = config::ParseDuration(t, absl::Hours(24)); d && *d > absl::ZeroDuration()) {
    return *d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid --expires '", text, "': use a duration such as 30d, 12h or 90m"));
}

// An RFC 3339 time, or a duration meaning "that long ago" ("2h", "7d").
absl::StatusOr<absl::Time> ParseSince(const std::string& text, absl::Time now) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return t;
  if (auto ago = ParseLifetime(text); ago.ok()) return now - *ago;
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid --since '", text, "': use an RFC 3339 time or a duration ago such as 2h or 7d"));
}

std::string Expiry(const v1::Token& t, absl::TimeZone tz) {
  return IsSet(t.expires_at()) ? FormatTimestamp(t.expires_at(), tz) : "never";
}

absl::StatusOr<int> WhoAmI(CommandContext& ctx) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::WhoAmIResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().WhoAmI(context.get(), {}, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  ctx.out() << response.user() << (response.admin() ? " (admin)" : "") << "\n";
  if (!response.roles().empty()) {
    ctx.out() << "roles: " << absl::StrJoin(response.roles(), ", ") << "\n";
  }
  const v1::Token& t = response.token();
  ctx.out() << "token: " << t.id() << (t.name().empty() ? "" : " (" + t.name() + ")")
            << ", expires " << Expiry(t, ctx.time_zone()) << "\n";
  return kExitOk;
}

struct CreateFlags {
  std::string user;
  std::string name;
  std::string expires;
};

absl::StatusOr<int> CreateToken(CommandContext& ctx, const CreateFlags& flags) {
  v1::CreateTokenRequest request;
  request.set_user(flags.user);
  request.set_name(flags.name);
  if (!flags.expires.empty()) {
    ASSIGN_OR_RETURN(absl::Duration lifetime, ParseLifetime(flags.expires));
    request.set_expires_in_seconds(absl::ToInt64Seconds(lifetime));
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::CreateTokenResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().CreateToken(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  // The token alone on stdout, so `gantry token create > file` works.
  ctx.out() << response.token() << "\n";
  ctx.err() << "token " << response.info().id() << " for " << response.info().user()
            << " created; expires " << Expiry(response.info(), ctx.time_zone())
            << ". It is shown this once.\n";
  return kExitOk;
}

absl::StatusOr<int> ListTokens(CommandContext& ctx, const std::string& user, bool all) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListTokensRequest request;
  request.set_user(user);
  request.set_all(all);
  v1::ListTokensResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().ListTokens(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  Table table({"ID", "USER", "NAME", "CREATED-BY", "CREATED", "EXPIRES"});
  for (const v1::Token& t : response.tokens()) {
    table.AddRow({std::to_string(t.id()), t.user(), t.name().empty() ? "-" : t.name(),
                  t.created_by(), FormatTimestamp(t.created_at(), ctx.time_zone()),
                  Expiry(t, ctx.time_zone())});
  }
  table.Print(ctx.out());
  return kExitOk;
}

absl::StatusOr<int> RevokeToken(CommandContext& ctx, int64_t id) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::RevokeTokenRequest request;
  request.set_id(id);
  v1::Token revoked;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().RevokeToken(context.get(), request, &revoked)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(revoked));
    return kExitOk;
  }
  ctx.out() << "token " << revoked.id() << " of " << revoked.user() << " revoked\n";
  return kExitOk;
}

struct AuditFlags {
  std::string since;
  std::string actor;
  std::string pipeline;
  int limit = 0;
};

absl::StatusOr<int> Audit(CommandContext& ctx, const AuditFlags& flags) {
  v1::ListAuditRequest request;
  if (!flags.since.empty()) {
    ASSIGN_OR_RETURN(absl::Time since, ParseSince(flags.since, ctx.Now()));
    *request.mutable_since() =
        google::protobuf::util::TimeUtil::MillisecondsToTimestamp(absl::ToUnixMillis(since));
  }
  request.set_actor(flags.actor);
  request.set_pipeline(flags.pipeline);
  request.set_limit(flags.limit);
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListAuditResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().ListAudit(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  Table table({"TIME", "ACTOR", "SOURCE", "ACTION", "TARGET", "OUTCOME", "REASON"});
  for (const v1::AuditEntry& e : response.entries()) {
    table.AddRow({FormatTimestamp(e.at(), ctx.time_zone()), e.actor().empty() ? "-" : e.actor(),
                  e.source(), e.action(), e.target(), e.outcome(),
                  e.reason().empty() ? "-" : e.reason()});
  }
  table.Print(ctx.out());
  return kExitOk;
}

void AddTokenCommands(CLI::App& app, Action* action) {
  CLI::App* token = app.add_subcommand("token", "Manage operator tokens");
  token->require_subcommand(1);

  auto create_flags = std::make_shared<CreateFlags>();
  CLI::App* create = token->add_subcommand("create", "Create a token; prints it once");
  create->add_option("--user", create_flags->user, "For this user (admins; default: you)");
  create->add_option("--name", create_flags->name, "What the token is for");
  create->add_option("--expires", create_flags->expires, "Lifetime, e.g. 30d, 12h (default: never)");
  create->callback([action, create_flags] {
    *action = [create_flags](CommandContext& ctx) { return CreateToken(ctx, *create_flags); };
  });

  auto user = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* list = token->add_subcommand("list", "List live tokens (yours by default)");
  list->add_option("--user", *user, "This user's tokens (admins)");
  list->add_flag("--all", *all, "Everyone's tokens (admins)");
  list->callback([action, user, all] {
    *action = [user, all](CommandContext& ctx) { return ListTokens(ctx, *user, *all); };
  });

  auto id = std::make_shared<int64_t>(0);
  CLI::App* revoke = token->add_subcommand("revoke", "Revoke a token at once");
  revoke->add_option("ID", *id, "Token id (from token list)")->required();
  revoke->callback([action, id] {
    *action = [id](CommandContext& ctx) { return RevokeToken(ctx, *id); };
  });
}

}  // namespace

void AddIdentityCommands(CLI::App& app, Action* action) {
  app.add_subcommand("whoami", "Show who the token belongs to")->callback([action] {
    *action = [](CommandContext& ctx) { return WhoAmI(ctx); };
  });
  AddTokenCommands(app, action);

  auto flags = std::make_shared<AuditFlags>();
  CLI::App* audit = app.add_subcommand("audit", "Read the audit log (admins)");
  audit->add_option("--since", flags->since, "From this RFC 3339 time, or this long ago (2h, 7d)");
  audit->add_option("--actor", flags->actor, "Only this user's actions");
  audit->add_option("--pipeline", flags->pipeline, "Only actions on this pipeline");
  audit->add_option("--limit", flags->limit, "At most this many, the newest (default 1000)")
      ->check(CLI::Range(1, 10000));
  audit->callback([action, flags] {
    *action = [flags](CommandContext& ctx) { return Audit(ctx, *flags); };
  });
}

}  // namespace gantry::cli
