// A job's git materials (Assign.git_checkouts), checked out before its
// tasks at exactly the revision the run recorded (docs/materials.md):
//
//   DIR/git-cache/<UrlKey(url)>.git    bare cache per URL, kept between
//                                      jobs; commits are fetched into it by
//                                      SHA (only that commit's history when
//                                      shallow), never with the URL stored
//   <job dir>/<destination>/.git       a repository whose objects come from
//                                      the cache (objects/info/alternates);
//                                      HEAD detached at the revision
//
// Every git call has a timeout; errors carry git's own message with any
// credentials in URLs hidden. git runs with the agent's environment, so the
// agent's own SSH keys and credential helpers apply.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gantry/v1/agent.pb.h"

namespace gantry::agent {

struct CheckoutOptions {
  std::string work_dir;  // the agent's --work-dir
  absl::Duration timeout = absl::Minutes(10);
};

// Checks out every material of `assign` under `job_dir`, telling `say` what
// it does. The first failure is returned ("material src: git fetch failed:
// fatal: ...").
absl::Status CheckoutMaterials(const CheckoutOptions& options, const std::string& job_dir,
                               const gantry::v1::Assign& assign,
                               const std::function<void(const std::string&)>& say);

// clean_workspace: removes everything inside `job_dir`.
absl::Status CleanWorkspace(const std::string& job_dir);

}  // namespace gantry::agent
