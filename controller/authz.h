// Who may do what (docs/security.md), decided from the config in force:
//   - admins (the bootstrap `admin` user, and security.admins) may do
//     everything but approve a gate that names other users or roles;
//   - a pipeline group listed under security.groups is visible to its
//     view/operate/admin grants and operable by operate/admin; a group not
//     listed is visible to and operable by every authenticated user (as in
//     GoCD);
//   - an environment with `deployers` also requires one of them to trigger,
//     approve, cancel or re-run its pipelines;
//   - a pipeline with `triggerers` may be triggered by hand only by them
//     (and admins), on top of operate.
// Every check is a pure function of the config and the caller, so it runs on
// gRPC threads without locks beyond taking the current config.
#pragma once

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "common/config/model.h"
#include "controller/auth.h"
#include "controller/config_cache.h"

namespace gantry {

class Authorizer {
 public:
  explicit Authorizer(const ConfigCache* configs) : configs_(configs) {}

  // The caller behind a valid token: admin flag and roles from the config.
  Principal Resolve(const TokenInfo& token, std::string source) const;

  // PERMISSION_DENIED with a one-line reason naming what was refused.
  absl::Status CheckAdmin(const Principal& who, absl::string_view what) const;
  absl::Status CheckView(const Principal& who, const std::string& pipeline) const;
  absl::Status CheckOperate(const Principal& who, const std::string& pipeline) const;
  // CheckOperate, then the pipeline's `triggerers` when it has any: a
  // hotfix pipeline is triggered by release managers only. Admins pass, as
  // for every permission but a gate (a trigger that opens a gated first
  // stage is still checked by the planner).
  absl::Status CheckTrigger(const Principal& who, const std::string& pipeline) const;
  // Deploy permission on an environment (a rollback, clearing a bad-version
  // mark): one of its `deployers` when it names any, and operate on every
  // pipeline of it. An unknown environment passes (the caller answers
  // NOT_FOUND).
  absl::Status CheckDeploy(const Principal& who, const std::string& environment) const;

  // For filtering lists against one config snapshot.
  static bool MayView(const config::Config& config, const Principal& who,
                      const std::string& pipeline);

  std::shared_ptr<const config::Config> current() const { return configs_->current(); }

 private:
  const ConfigCache* configs_;
};

}  // namespace gantry
