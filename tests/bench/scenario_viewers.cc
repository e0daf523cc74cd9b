// viewers: N live dashboard viewers (Server-Sent Events on GET
// /api/v1/events, 1,000 by default) on one controller, all watching one
// pipeline, while runs of it are triggered one after another on a
// simulated agent. Reports the viewers connected, the controller's RSS and
// threads before and with them, its CPU while the runs went, and the event
// delay: when a viewer read a `run` event minus when the controller heard of
// the change (the event's `at`), over every event every viewer received.
//
// The viewers are non-blocking sockets read by one poll() loop here, as a
// thousand browsers would hold a thousand connections.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/bench/bench.h"
#include "tests/bench/operator_client.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {
namespace {

struct Viewer {
  int fd = -1;
  std::string buffer;
  bool ready = false;
};

// Raises this process's open-file limit to its hard limit (a thousand
// sockets is near the usual soft limit of 1,024).
void RaiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

absl::StatusOr<int> Connect(const std::string& address) {
  size_t colon = address.rfind(':');
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(address.substr(0, colon).c_str(), address.substr(colon + 1).c_str(), &hints,
                  &res) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", address));
  }
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  int rc = fd < 0 ? -1 : connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", address, ": ", strerror(errno)));
  }
  return fd;
}

class Viewers {
 public:
  ~Viewers() {
    stop_ = true;
    if (reader_.joinable()) reader_.join();
    for (auto& v : viewers_) close(v.fd);
  }

  absl::Status Open(const std::string& address, const std::string& token, int n,
                    const std::string& pipeline) {
    std::string request =
        absl::StrCat("GET /api/v1/events?pipelines=", pipeline, " HTTP/1.1\r\nHost: ", address,
                     "\r\nAccept: text/event-stream\r\nAuthorization: Bearer ", token, "\r\n\r\n");
    for (int i = 0; i < n; ++i) {
      auto fd = Connect(address);
      if (!fd.ok()) return fd.status();
      if (send(*fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
        close(*fd);
        return absl::UnavailableError("cannot send the events request");
      }
      fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
      viewers_.push_back({*fd, "", false});
    }
    reader_ = std::thread([this] { Read(); });
    return absl::OkStatus();
  }

  int ready() const { return ready_.load(); }
  int closed() const { return closed_.load(); }
  int64_t events() const { return events_.load(); }
  std::vector<absl::Duration> delays() {
    std::lock_guard<std::mutex> lock(mu_);
    return delays_;
  }

 private:
  void Read() {
    std::vector<pollfd> fds;
    for (auto& v : viewers_) fds.push_back({v.fd, POLLIN, 0});
    char chunk[65536];
    while (!stop_) {
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = recv(fds[i].fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
          if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            fds[i].fd = -1;
            ++closed_;
          }
          continue;
        }
        Parse(viewers_[i], std::string_view(chunk, static_cast<size_t>(n)), absl::Now());
      }
    }
  }

  void Parse(Viewer& v, std::string_view data, absl::Time now) {
    v.buffer.append(data);
    size_t end;
    while ((end = v.buffer.find("\n\n")) != std::string::npos) {
      std::string block = v.buffer.substr(0, end);
      v.buffer.erase(0, end + 2);
      if (!v.ready && block.find("event: ready") != std::string::npos) {
        v.ready = true;
        ++ready_;
      }
      if (block.find("event: run\n") == std::string::npos) continue;
      ++events_;
      size_t at = block.find("\"at\":");
      int64_t us = 0;
      if (at == std::string::npos) continue;
      size_t stop = block.find_first_of(",}", at + 5);
      if (!absl::SimpleAtoi(absl::string_view(block).substr(at + 5, stop - at - 5), &us) ||
          us == 0) {
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      delays_.push_back(now - absl::FromUnixMicros(us));
    }
  }

  std::vector<Viewer> viewers_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ready_{0}, closed_{0};
  std::atomic<int64_t> events_{0};
  std::mutex mu_;
  std::vector<absl::Duration> delays_;
};

absl::Status Measure(const BenchOptions& options, Controller& controller, const std::string& http,
                     Report& report) {
  const int viewers_n = options.smoke ? 20 : options.viewers;
  const int runs = options.smoke ? 3 : options.viewers_runs;
  Operator op(controller.address(), controller.admin_token());
  if (auto r = op.ApplyConfig(SingleJobPipelines("view", 1)); !r.ok()) return r.status();
  RunTracker tracker(runs);
  FleetOptions fo;
  fo.address = controller.address();
  fo.channels = 1;
  fo.name_prefix = "viewers";
  FleetHooks hooks;
  hooks.on_assign = [&tracker](SimAgent&, const v1::Assign& a, absl::Time t) {
    tracker.Assigned(BenchIdOf(a), a.attempt_id(), t);
  };
  hooks.on_completion_ack = [&tracker](SimAgent&, int64_t attempt, absl::Time t) {
    tracker.CompletedAttempt(attempt, t);
  };
  Fleet fleet(fo, hooks);
  if (auto st = fleet.Register(1, controller.register_key()); !st.ok()) return st;
  fleet.ConnectAll();
  if (!fleet.WaitWelcomed(1, absl::Seconds(30))) {
    return absl::DeadlineExceededError("the simulated agent was never welcomed");
  }

  int64_t rss_before = controller.RssKiB();
  int threads_before = controller.Threads();
  Viewers viewers;
  absl::Time t0 = absl::Now();
  if (auto st = viewers.Open(http, controller.admin_token(), viewers_n, "view0"); !st.ok()) {
    return st;
  }
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (viewers.ready() < viewers_n && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // a bench, not a test: polls a counter
  }
  if (viewers.ready() < viewers_n) {
    return absl::DeadlineExceededError(
        absl::StrCat(viewers.ready(), " of ", viewers_n, " viewers connected in 60 s"));
  }
  absl::Duration connect_time = absl::Now() - t0;
  int64_t rss_with = controller.RssKiB();
  int threads_with = controller.Threads();

  double cpu0 = controller.CpuSeconds();
  absl::Time run0 = absl::Now();
  for (int i = 0; i < runs; ++i) {
    tracker.Sent(i, absl::Now());
    auto run = op.Trigger("view0", i);
    if (!run.ok()) return run.status();
    if (!tracker.WaitCompleted(i + 1, absl::Seconds(60))) {
      return absl::DeadlineExceededError(absl::StrCat("run ", i, " did not complete in 60 s"));
    }
  }
  // Every run reaches every viewer at least once (changes within the hub's
  // 50 ms gathering window are one event).
  int64_t expected = static_cast<int64_t>(viewers_n) * runs;
  deadline = absl::Now() + absl::Seconds(30);
  while (viewers.events() < expected && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  double cpu = controller.CpuSeconds() - cpu0;
  absl::Duration elapsed = absl::Now() - run0;

  report.Add("viewers.connected", viewers.ready(), "viewers");
  report.Add("viewers.dropped", viewers.closed(), "viewers");
  report.Add("viewers.connect_all", absl::ToDoubleMilliseconds(connect_time), "ms");
  report.Add("viewers.rss_before", rss_before / 1024.0, "MiB");
  report.Add("viewers.rss_with_viewers", rss_with / 1024.0, "MiB");
  report.Add("viewers.rss_per_viewer", (rss_with - rss_before) / std::max(1, viewers_n), "KiB");
  report.Add("viewers.threads_before", threads_before, "threads");
  report.Add("viewers.threads_with_viewers", threads_with, "threads");
  report.Add("viewers.runs", runs, "runs");
  report.Add("viewers.run_events", viewers.events(), "events");
  report.Add("viewers.cpu_during_runs", cpu, "s");
  report.Add("viewers.cpu_share_during_runs", 100.0 * cpu / absl::ToDoubleSeconds(elapsed), "%");
  report.AddLatencies("viewers.event_delay", viewers.delays());
  if (viewers.events() < expected) {
    return absl::InternalError(absl::StrCat("viewers received ", viewers.events(),
                                            " run events; expected at least ", expected));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunViewers(const BenchOptions& options, Report& report) {
  RaiseFileLimit();
  std::string dir = options.work_dir + "/viewers";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  ControllerOptions co;
  co.binary = options.controller_bin;
  co.data_dir = dir + "/controller";
  co.log_level = options.log_level;
  // Plain HTTP: the figures are of the event fan-out, as before TLS.
  co.extra_args = {"--http-listen", "127.0.0.1:0", "--http-plaintext"};
  Controller controller(co);
  if (auto st = controller.Start(); !st.ok()) return st;
  std::ifstream in(co.data_dir + "/http.addr");
  std::string http;
  std::getline(in, http);
  if (http.empty()) return absl::InternalError("the controller wrote no http.addr");
  absl::Status st = Measure(options, controller, http, report);
  (void)controller.Stop();
  if (st.ok() && !options.keep) std::filesystem::remove_all(dir, ec);
  return st;
}

}  // namespace gantry::bench
