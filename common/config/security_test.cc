// The `security` section and environments' `deployers`: what is read, and
// each mistake reported at file:line:col.
#include "common/config/parser.h"
#include "gtest/gtest.h"

namespace gantry::config {
namespace {

using Lines = std::vector<std::string>;

std::string Yaml(const char* text) {
  std::string s(text);
  if (!s.empty() && s[0] == '\n') s.erase(0, 1);
  return s;
}

ParseResult Parse(const char* yaml) { return ParseConfig({{"c.yaml", Yaml(yaml)}}); }

Lines Errors(const std::vector<ConfigFile>& files) {
  Lines out;
  for (const ConfigError& e : ParseConfig(files).errors) out.push_back(e.ToString());
  return out;
}

Lines Errors(const char* yaml) { return Errors({{"c.yaml", Yaml(yaml)}}); }

#define JOBS "{jobs: {j: {tasks: [{exec: {command: ls}}]}}}"

TEST(SecurityConfigTest, ReadsAdminsRolesGroupsAndDeployers) {
  ParseResult r = Parse(R"(
security:
  admins: {users: [root], roles: [platform]}
  roles:
    platform: [pat]
    qa: [quinn, "ann@example.org"]
  groups:
    web:
      view: {roles: [qa]}
      operate: {users: [ole]}
      admin: {users: [ada]}
pipelines:
  site:
    group: web
    stages:
      - ship:
          approval: {type: manual, roles: [qa]}
          jobs: {j: {tasks: [{exec: {command: ls}}]}}
environments:
  prod:
    pipelines: [site]
    deployers: {users: [dee], roles: [platform]}
)");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  const Security& s = r.config.security;
  EXPECT_TRUE(s.defined);
  EXPECT_EQ(s.admins.users, Lines({"root"}));
  EXPECT_EQ(s.admins.roles, Lines({"platform"}));
  ASSERT_EQ(s.roles.size(), 2u);
  EXPECT_EQ(s.roles[1].users, Lines({"quinn", "ann@example.org"}));
  EXPECT_EQ(s.RolesOf("pat"), Lines({"platform"}));
  EXPECT_EQ(s.RolesOf("nobody"), Lines({}));
  const GroupAuthorization* web = s.FindGroup("web");
  ASSERT_NE(web, nullptr);
  EXPECT_TRUE(web->view.Includes("quinn", s.RolesOf("quinn")));
  EXPECT_FALSE(web->view.Includes("ole", s.RolesOf("ole")));
  EXPECT_TRUE(web->operate.Includes("ole", {}));
  EXPECT_TRUE(web->admin.Includes("ada", {}));
  const Environment* prod = r.config.FindEnvironment("prod");
  ASSERT_NE(prod, nullptr);
  EXPECT_TRUE(prod->deployers.Includes("dee", {}));
  EXPECT_TRUE(prod->deployers.Includes("pat", {"platform"}));
  EXPECT_FALSE(prod->deployers.Includes("ole", {}));
}

TEST(SecurityConfigTest, NoSectionMeansNothingDefined) {
  ParseResult r = Parse("pipelines:\n  p:\n    stages:\n      - s: " JOBS "\n");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_FALSE(r.config.security.defined);
  EXPECT_TRUE(r.config.security.admins.empty());
}

TEST(SecurityConfigTest, UnknownRolesAndGroupsAreErrors) {
  EXPECT_EQ(Errors(R"(
security:
  admins: {roles: [platfrom]}
  roles:
    platform: [pat]
  groups:
    wbe:
      view: {roles: [platform]}
pipelines:
  site:
    group: web
    stages:
      - ship:
          approval: {type: manual, roles: [qa]}
          jobs: {j: {tasks: [{exec: {command: ls}}]}}
environments:
  prod:
    pipelines: [site]
    deployers: {roles: [ops]}
)"),
            Lines({"c.yaml:2:3: 'admins': role 'platfrom' is not defined under security.roles; "
                   "did you mean 'platform'?",
                   "c.yaml:6:5: group 'wbe' has no pipelines; did you mean 'web'?",
                   "c.yaml:13:11: stage 'site/ship' approval: role 'qa' is not defined under "
                   "security.roles",
                   "c.yaml:18:5: environment 'prod' deployers: role 'ops' is not defined under "
                   "security.roles"}));
}

TEST(SecurityConfigTest, ShapesAndNamesAreChecked) {
  EXPECT_EQ(Errors(R"(
security:
  admins: [root]
  roles:
    "bad role": [x]
    ok: ["-dash", {a: b}]
  owners: {}
)"),
            Lines({"c.yaml:2:11: expected a map for 'admins', got a list",
                   "c.yaml:4:5: invalid role name 'bad role': use letters, digits, '-', '_', "
                   "'.' and '@'",
                   "c.yaml:5:10: invalid user name '-dash': use letters, digits, '-', '_', '.' "
                   "and '@'",
                   "c.yaml:5:19: expected a user name for an entry of 'users', got a map",
                   "c.yaml:6:3: unknown key 'owners' in 'security'"}));
}

TEST(SecurityConfigTest, OneSectionAcrossFiles) {
  EXPECT_EQ(Errors({{"a.yaml", "security: {roles: {r: [u]}}\n"},
                    {"b.yaml", "security: {roles: {s: [v]}}\n"}}),
            Lines({"b.yaml:1:1: a second 'security' section (the first is at a.yaml:1:1); "
                   "write it in one file"}));
}

TEST(SecurityConfigTest, DeployControls) {
  ParseResult r = Parse(R"(
security:
  roles:
    release: [rita, ram]
pipelines:
  hotfix:
    paused: true
    triggerers: {roles: [release]}
    stages:
      - prod:
          approval: {type: manual, roles: [release], required: 2, approver_not_triggerer: true}
          jobs: {j: {tasks: [{exec: {command: ls}}]}}
environments:
  prod:
    pipelines: [hotfix]
    lock: true
)");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  const Pipeline* p = r.config.FindPipeline("hotfix");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->paused);
  EXPECT_TRUE(p->triggerers.Includes("rita", {"release"}));
  EXPECT_EQ(p->stages[0].approval.required, 2);
  EXPECT_TRUE(p->stages[0].approval.approver_not_triggerer);
  EXPECT_TRUE(r.config.FindEnvironment("prod")->lock);
  // Defaults.
  ParseResult d = Parse("pipelines:\n  p:\n    stages:\n      - s: " JOBS "\n");
  ASSERT_TRUE(d.ok()) << d.ErrorText();
  EXPECT_FALSE(d.config.pipelines[0].paused);
  EXPECT_EQ(d.config.pipelines[0].stages[0].approval.required, 1);
}

TEST(SecurityConfigTest, DeployControlMistakes) {
  EXPECT_EQ(Errors(R"(
pipelines:
  p:
    paused: maybe
    triggerers: {roles: [nobody]}
    stages:
      - a:
          approval: {type: manual, users: [x], required: 2}
          jobs: {j: {tasks: [{exec: {command: ls}}]}}
      - b:
          approval: {type: manual, required: 0}
          jobs: {j: {tasks: [{exec: {command: ls}}]}}
)"),
            Lines({"c.yaml:3:13: expected true or false for 'paused', got 'maybe'",
                   "c.yaml:4:5: pipeline 'p' triggerers: role 'nobody' is not defined under "
                   "security.roles",
                   "c.yaml:7:58: required 2 approvers, but 'users' lists only 1 and no roles",
                   "c.yaml:10:46: required must be from 1 to 100, got 0"}));
}

}  // namespace
}  // namespace gantry::config
