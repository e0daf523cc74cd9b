// RunCommand: a child run to completion, its stdin fed and its stdout and
// stderr read concurrently through one poll(2) loop.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "common/process/fds.h"
#include "common/process/process.h"
#include "common/process/start_child.h"
#include "common/status_macros.h"

namespace gantry {
namespace {

using process_internal::DecodeWaitStatus;
using process_internal::ErrnoError;
using process_internal::UniqueFd;

// stdin: /dev/null, or a socket so that writing to a child that stopped
// reading gives EPIPE (MSG_NOSIGNAL) instead of SIGPIPE.
absl::Status OpenStdin(const RunOptions& options, UniqueFd& in_parent, UniqueFd& in_child) {
  if (options.stdin_data.empty()) {
    ASSIGN_OR_RETURN(in_child, process_internal::OpenFile("/dev/null", O_RDONLY));
    return absl::OkStatus();
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoError("socketpair", errno);
  }
  in_parent.reset(sv[0]);
  in_child.reset(sv[1]);
  RETURN_IF_ERROR(process_internal::MoveAboveStdio(in_parent));
  RETURN_IF_ERROR(process_internal::MoveAboveStdio(in_child));
  ::shutdown(in_child.get(), SHUT_WR);
  return absl::OkStatus();
}

// A started command's side of the pipes, until it is reaped and its output
// read (or given up on: a background process may hold the pipes open).
class CommandIo {
 public:
  CommandIo(pid_t pid, const RunOptions& options, UniqueFd in_parent, UniqueFd out_read,
            UniqueFd err_read)
      : pid_(pid),
        options_(options),
        in_parent_(std::move(in_parent)),
        out_read_(std::move(out_read)),
        err_read_(std::move(err_read)),
        pidfd_(process_internal::PidfdOpen(pid)) {
    for (int fd : {in_parent_.get(), out_read_.get(), err_read_.get()}) {
      if (fd >= 0) process_internal::SetNonBlocking(fd);
    }
    deadline_ = absl::Now() + options.timeout;
  }

  absl::StatusOr<RunResult> Run() {
    while (true) {
      if (!reaped_) Reap(WNOHANG);
      bool pipes_open = out_read_.valid() || err_read_.valid();
      if (reaped_ && !pipes_open) break;
      absl::Time now = absl::Now();
      if (reaped_ && now >= drain_deadline_) break;
      if (!reaped_ && !result_.timed_out && now >= deadline_) {
        ::kill(options_.new_process_group ? -pid_ : pid_, SIGKILL);
        result_.timed_out = true;
        continue;
      }
      RETURN_IF_ERROR(PollOnce(now));
    }
    if (!reaped_) Reap(0);
    return std::move(result_);
  }

 private:
  // Waits for whatever comes first (output, room for stdin, the exit, the
  // timeout or the drain deadline) and handles it.
  absl::Status PollOnce(absl::Time now) {
    std::vector<struct pollfd> fds;
    auto add = [&](const UniqueFd& fd, short events) {
      if (fd.valid()) fds.push_back({fd.get(), events, 0});
    };
    add(out_read_, POLLIN);
    add(err_read_, POLLIN);
    add(in_parent_, POLLOUT);
    if (!reaped_) add(pidfd_, POLLIN);
    int n = ::poll(fds.data(), fds.size(), PollTimeout(now));
    if (n < 0) {
      if (errno == EINTR) return absl::OkStatus();
      return ErrnoError("poll", errno);
    }
    for (const struct pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == out_read_.get()) {
        ReadInto(out_read_, result_.out);
      } else if (p.fd == err_read_.get()) {
        ReadInto(err_read_, result_.err);
      } else if (p.fd == in_parent_.get()) {
        WriteStdin();
      }
    }
    return absl::OkStatus();
  }

  int PollTimeout(absl::Time now) const {
    absl::Duration wait = absl::InfiniteDuration();
    if (!reaped_ && !result_.timed_out) wait = deadline_ - now;
    if (reaped_) wait = drain_deadline_ - now;
    // Without a pidfd the child's exit is noticed by polling waitpid.
    if (!reaped_ && !pidfd_.valid()) wait = std::min(wait, absl::Milliseconds(20));
    // Pipes closed but the child still runs: only the pidfd/timer wake us.
    return wait == absl::InfiniteDuration() ? -1 : process_internal::PollMillis(wait);
  }

  void ReadInto(UniqueFd& fd, std::string& sink) {
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n > 0) {
        sink.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      fd.reset();  // EOF or error
      return;
    }
  }

  void WriteStdin() {
    const std::string& data = options_.stdin_data;
    while (in_offset_ < data.size()) {
      ssize_t w = ::send(in_parent_.get(), data.data() + in_offset_, data.size() - in_offset_,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        in_offset_ += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        in_offset_ = data.size();  // child stopped reading
      }
    }
    if (in_offset_ >= data.size()) in_parent_.reset();
  }

  void Reap(int flags) {
    int status;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, flags)) < 0 && errno == EINTR) {
    }
    if (r == pid_) {
      ExitStatus s = DecodeWaitStatus(status);
      result_.exit_code = s.exit_code;
      result_.term_signal = s.term_signal;
      reaped_ = true;
    } else if (r < 0) {
      reaped_ = true;  // ECHILD: reaped elsewhere; status unknown
    }
    if (reaped_ && (out_read_.valid() || err_read_.valid())) {
      drain_deadline_ = absl::Now() + absl::Seconds(1);
    }
  }

  const pid_t pid_;
  const RunOptions& options_;
  UniqueFd in_parent_;
  UniqueFd out_read_;
  UniqueFd err_read_;
  UniqueFd pidfd_;
  RunResult result_;
  size_t in_offset_ = 0;
  bool reaped_ = false;
  absl::Time deadline_;
  // Once the child is gone, a background process may still hold its pipes:
  // read what is there, then stop.
  absl::Time drain_deadline_ = absl::InfiniteFuture();
};

}  // namespace

absl::StatusOr<RunResult> RunCommand(const std::vector<std::string>& argv,
                                     const RunOptions& options) {
  UniqueFd in_parent, in_child;
  RETURN_IF_ERROR(OpenStdin(options, in_parent, in_child));
  UniqueFd out_read, out_write, err_read, err_write;
  RETURN_IF_ERROR(process_internal::MakePipe(out_read, out_write));
  RETURN_IF_ERROR(process_internal::MakePipe(err_read, err_write));

  ASSIGN_OR_RETURN(pid_t pid, process_internal::StartChild(argv, options, in_child.get(),
                                                           out_write.get(), err_write.get()));
  in_child.reset();
  out_write.reset();
  err_write.reset();
  CommandIo io(pid, options, std::move(in_parent), std::move(out_read), std::move(err_read));
  return io.Run();
}

}  // namespace gantry
