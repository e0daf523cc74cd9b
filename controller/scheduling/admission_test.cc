#include "controller/scheduling/admission.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace gantry {
namespace {

using Names = std::vector<std::string>;

// A key's scope keeps what it allows and reports the rest as refused.
TEST(AdmissionTest, ScopeCutsTheRequestToTheKey) {
  Scoped s = Scope({"build", "deploy"}, {"build"}, std::nullopt);
  EXPECT_EQ(s.granted, Names({"build"}));
  EXPECT_EQ(s.refused, Names({"deploy"}));
  s = Scope({"prod", "staging"}, {kAnything}, std::nullopt);
  EXPECT_EQ(s.granted, Names({"prod", "staging"}));
  EXPECT_TRUE(s.refused.empty());
  s = Scope({"prod"}, {}, std::nullopt);
  EXPECT_TRUE(s.granted.empty());
  EXPECT_EQ(s.refused, Names({"prod"}));
}

// An admin's assignment is what the agent has, whatever it asks for.
TEST(AdmissionTest, AnAssignmentReplacesTheRequest) {
  Scoped s = Scope({"prod", "qa"}, {kAnything}, Names{"qa", "uat"});
  EXPECT_EQ(s.granted, Names({"qa", "uat"}));
  EXPECT_EQ(s.refused, Names({"prod"}));
  s = Scope({"prod"}, {kAnything}, Names{});
  EXPECT_TRUE(s.granted.empty());
}

// ApplyScope sets what matching reads from the agent's row.
TEST(AdmissionTest, ApplyScopeSetsWhatIsInEffect) {
  store::AgentRecord a;
  a.requested_resources = {"deploy", "linux"};
  a.requested_environments = {"prod"};
  a.allowed_resources = {"linux"};
  a.allowed_environments = {"staging"};
  AgentScope s = ApplyScope(a);
  EXPECT_EQ(a.resources, Names({"linux"}));
  EXPECT_TRUE(a.environments.empty());
  EXPECT_EQ(s.environments.refused, Names({"prod"}));
  a.assigned_environments = Names{"prod"};
  ApplyScope(a);
  EXPECT_EQ(a.environments, Names({"prod"}));
}

// Lists are checked as names, sorted and de-duplicated; '*' only in keys.
TEST(AdmissionTest, CleanList) {
  Names list = {"b", "a", "b"};
  ASSERT_TRUE(CleanList(list, "resource").ok());
  EXPECT_EQ(list, Names({"a", "b"}));
  list = {"a,b"};
  absl::Status st = CleanList(list, "resource");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "invalid resource 'a,b'")) << st;
  list = {"*"};
  EXPECT_FALSE(CleanList(list, "environment").ok());
  EXPECT_TRUE(CleanList(list, "environment", /*allow_anything=*/true).ok());
  EXPECT_EQ(ValidNames({"x", "bad name", "x"}), Names({"x"}));
  Names many;
  for (size_t i = 0; i <= kMaxListItems; ++i) many.push_back("r" + std::to_string(1000 + i));
  EXPECT_EQ(ValidNames(many).size(), kMaxListItems);
  EXPECT_EQ(CleanList(many, "resource").code(), absl::StatusCode::kInvalidArgument);
}

TEST(AdmissionTest, SourceHost) {
  EXPECT_EQ(SourceHost("ipv4:10.0.0.5:43122"), "10.0.0.5");
  EXPECT_EQ(SourceHost("ipv6:[::1]:5000"), "[::1]");
  EXPECT_EQ(SourceHost("unix:/run/gantry.sock"), "unix:/run/gantry.sock");
}

// One address gets its burst, then one a minute per (rate/60 s); a refusal
// takes nothing, and other addresses keep their own budget.
TEST(AdmissionTest, LimiterPerSource) {
  RegisterLimiter limiter({/*per_source_per_minute=*/3, /*total_per_minute=*/100});
  absl::Time t = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Admit("a", t).ok()) << i;
  absl::Status st = limiter.Admit("a", t);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(st.message(), "from a (at most 3 a minute)")) << st;
  EXPECT_TRUE(limiter.Admit("b", t).ok());
  EXPECT_FALSE(limiter.Admit("a", t + absl::Seconds(19)).ok());
  EXPECT_TRUE(limiter.Admit("a", t + absl::Seconds(20)).ok());
  EXPECT_FALSE(limiter.Admit("a", t + absl::Seconds(21)).ok());
}

// All addresses together are limited too: spreading a flood over many
// addresses does not get past it.
TEST(AdmissionTest, LimiterTotal) {
  RegisterLimiter limiter({/*per_source_per_minute=*/2, /*total_per_minute=*/5});
  absl::Time t = absl::FromUnixSeconds(1000);
  int admitted = 0;
  for (int i = 0; i < 50; ++i) admitted += limiter.Admit("10.0.0." + std::to_string(i), t).ok();
  EXPECT_EQ(admitted, 5);
  absl::Status st = limiter.Admit("10.0.1.1", t);
  EXPECT_TRUE(absl::StrContains(st.message(), "from all addresses")) << st;
  EXPECT_TRUE(limiter.Admit("10.0.1.1", t + absl::Seconds(12)).ok());
}

}  // namespace
}  // namespace gantry
