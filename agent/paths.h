// The on-disk layout of an agent's work dir (--work-dir), and the checks that
// keep job and task directories inside it.
//
//   DIR/                               --work-dir
//   |-- agent.json                     identity from Register: agent id,
//   |                                  token, name (mode 0600; the token is
//   |                                  the agent's only credential)
//   |-- agent.key, agent.crt           the agent's private key (0600, made
//   |                                  here, never sent) and the client
//   |                                  certificate the controller signed for
//   |                                  it at registration: its identity
//   |-- agent.lock                     flock held by the running agent
//   |                                  (identity_lock.h); holds its pid
//   |-- pipelines/
//       |-- <pipeline>/                where the pipeline's jobs run (kept
//           |                          between runs, as GoCD's
//           |                          pipelines/<name>; materials are
//           |                          checked out here by the tasks)
//           |-- <task working_directory>/
//                                      an exec task's cwd, relative to the
//                                      job directory
//
// The controller may name another job directory (Assign.working_directory,
// relative to DIR). Neither it nor a task's working_directory may be absolute
// or contain a ".." component. Symbolic links inside the work dir are
// followed: they are the work dir owner's business.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "gantry/v1/agent.pb.h"

namespace gantry::agent {

// DIR/agent.json.
std::string IdentityPath(const std::string& work_dir);

// DIR/agent.key and DIR/agent.crt.
std::string ClientKeyPath(const std::string& work_dir);
std::string ClientCertPath(const std::string& work_dir);

// DIR/agent.lock.
std::string LockPath(const std::string& work_dir);

// DIR/pipelines.
std::string PipelinesDir(const std::string& work_dir);

// DIR/pipelines/<pipeline>. The name must be a valid Gantry name.
absl::StatusOr<std::string> PipelineDir(const std::string& work_dir,
                                        const std::string& pipeline);

// The directory an Assign's tasks run in: DIR/<assign.working_directory>
// when the controller sent one, else DIR/pipelines/<assign.pipeline>.
absl::StatusOr<std::string> JobDir(const std::string& work_dir,
                                   const gantry::v1::Assign& assign);

// base/relative, refusing an absolute `relative` or one with a ".."
// component (InvalidArgument, message says why). "" and "." give `base`.
absl::StatusOr<std::string> JoinInside(const std::string& base,
                                       const std::string& relative);

}  // namespace gantry::agent
