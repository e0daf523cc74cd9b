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

}  // namespace
}  // namespace gantry
