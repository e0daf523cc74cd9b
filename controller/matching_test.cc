#include "controller/matching.h"

#include <gtest/gtest.h>

namespace gantry {
namespace {

AgentProfile Agent(bool enabled, std::vector<std::string> resources,
                   std::set<std::string> environments) {
  AgentProfile a;
  a.id = "id";
  a.name = "a";
  a.enabled = enabled;
  a.resources = std::move(resources);
  a.environments = std::move(environments);
  return a;
}

JobRequirements Job(std::vector<std::string> resources, std::string environment) {
  return JobRequirements{std::move(resources), std::move(environment)};
}

// The environment rule and resources, over a matrix of agents and jobs.
TEST(MatchingTest, Matrix) {
  struct Case {
    JobRequirements job;
    AgentProfile agent;
    bool expected;
    const char* why;
  } cases[] = {
      {Job({}, ""), Agent(true, {}, {}), true, "no env, no resources"},
      {Job({}, ""), Agent(false, {}, {}), false, "disabled agent"},
      {Job({"linux"}, ""), Agent(true, {"LINUX", "docker"}, {}), true, "case-insensitive"},
      {Job({"linux", "gpu"}, ""), Agent(true, {"linux"}, {}), false, "missing a resource"},
      {Job({}, "prod"), Agent(true, {}, {"prod"}), true, "same environment"},
      {Job({}, "prod"), Agent(true, {}, {"staging"}), false, "other environment"},
      {Job({}, "prod"), Agent(true, {}, {}), false, "agent in no environment"},
      {Job({}, ""), Agent(true, {}, {"prod"}), false, "pipeline in none, agent in one"},
      {Job({}, "prod"), Agent(true, {}, {"staging", "prod"}), true, "agent in several"},
      {Job({"win"}, "prod"), Agent(true, {"win"}, {"prod"}), true, "both rules hold"},
      {Job({"win"}, "prod"), Agent(true, {"linux"}, {"prod"}), false, "env ok, resource not"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Matches(c.job, c.agent), c.expected) << c.why;
  }
}

TEST(MatchingTest, ExplainsWhyNothingMatches) {
  EXPECT_EQ(ExplainNoMatch(Job({"windows"}, "prod"), {}),
            "no enabled agent has resources [windows] in environment prod");
  EXPECT_EQ(ExplainNoMatch(Job({}, ""), {Agent(false, {}, {})}),
            "no enabled agent outside every environment (1 matching agent is disabled or "
            "pending)");
}

// A `run_instances: all` instance is pinned: only its own agent takes it,
// and the reason names that agent.
TEST(MatchingTest, PinnedInstanceMatchesOnlyItsAgent) {
  JobRequirements job = Job({"linux"}, "");
  job.agent_id = "id";
  AgentProfile mine = Agent(true, {"linux"}, {});
  AgentProfile other = mine;
  other.id = "other";
  other.name = "b";
  EXPECT_TRUE(Matches(job, mine));
  EXPECT_FALSE(Matches(job, other));
  EXPECT_EQ(ExplainNoMatch(job, {other}), "its agent id is gone");
  AgentProfile disabled = Agent(false, {"linux"}, {});
  EXPECT_EQ(ExplainNoMatch(job, {disabled, other}), "its agent a is disabled or pending");
  AgentProfile stripped = Agent(true, {}, {});
  EXPECT_EQ(ExplainNoMatch(job, {stripped}), "its agent a no longer has what the job needs");
}

}  // namespace
}  // namespace gantry
