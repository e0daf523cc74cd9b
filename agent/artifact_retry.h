// Retries an artifact transfer that failed because the controller was out
// of reach: a restart, a takeover by a standby ("not the leader"), a cut
// connection. Each retry asks for the session's current channel again (the
// caller's attempt does), waits a jittered, growing delay (backoff.h) and
// says so on the job's console. It gives up when the failure is anything
// else, when the transfer is interrupted (Cancel, Abort, the job's
// timeouts), past the context's deadline, or once `cap` has passed since
// the first failure.
#pragma once

#include <algorithm>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/artifact_handlers.h"
#include "agent/backoff.h"

namespace gantry::agent {

struct TransferRetryOptions {
  BackoffOptions backoff{.initial = absl::Milliseconds(200), .max = absl::Seconds(5)};
  // Longest time spent retrying one transfer.
  absl::Duration cap = absl::Minutes(5);
};

namespace retry_internal {

inline bool Interrupted(const TransferContext& context) {
  return context.interrupter != nullptr && context.interrupter->interrupted();
}

// Waits `delay` unless the transfer is interrupted first; true if it was.
inline bool WaitInterruptibly(const TransferContext& context, absl::Duration delay) {
  absl::Mutex mu;
  bool woken = false;
  if (context.interrupter != nullptr) {
    context.interrupter->Arm([&] {
      absl::MutexLock lock(&mu);
      woken = true;
    });
  }
  {
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(&woken), delay);
  }
  if (context.interrupter != nullptr) context.interrupter->Disarm();
  return Interrupted(context);
}

}  // namespace retry_internal

// Whether a failed call is worth another try: UNAVAILABLE, or CANCELLED
// that this side did not ask for (a controller shutting down cancels its
// calls).
inline bool RetryableTransferError(const absl::Status& status, const TransferContext& context) {
  if (retry_internal::Interrupted(context)) return false;
  return absl::IsUnavailable(status) || absl::IsCancelled(status);
}

// Runs `attempt` (number 1, 2, ...) until it succeeds or must not be
// retried; `what` names the transfer in console lines ("uploading 3
// artifact file(s)"). Returns the last attempt's status.
inline absl::Status RetryTransfer(const std::string& what, const TransferContext& context,
                                  const TransferRetryOptions& options,
                                  const std::function<absl::Status(int attempt)>& attempt) {
  Backoff backoff(options.backoff);
  absl::Time give_up = absl::InfiniteFuture();
  for (int n = 1;; ++n) {
    absl::Status status = attempt(n);
    if (status.ok() || !RetryableTransferError(status, context)) return status;
    const absl::Time now = absl::Now();
    if (give_up == absl::InfiniteFuture()) give_up = std::min(now + options.cap, context.deadline);
    absl::Duration delay = backoff.Next();
    if (now + delay >= give_up) {
      if (context.console) {
        context.console(absl::StrCat("[gantry] ", what, ": giving up after ", n, " attempt(s)\n"));
      }
      return status;
    }
    if (context.console) {
      context.console(absl::StrCat("[gantry] ", status.message(),
                                   "; the controller is out of reach, trying again in ",
                                   absl::FormatDuration(absl::Trunc(delay, absl::Milliseconds(1))),
                                   " (attempt ", n + 1, ")\n"));
    }
    if (retry_internal::WaitInterruptibly(context, delay)) return status;
  }
}

}  // namespace gantry::agent
