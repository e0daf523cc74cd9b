// artifacts: a job uploads one big file (UploadArtifact), a later stage's
// fetch task downloads it (DownloadArtifact), both with the real agent's
// ArtifactClient (the simulated agent's channel and identity), against
// `cp` of the same file
// on the same disk in the same run; peak RSS of the controller and of the
// agent (this process) during each transfer, for several file sizes.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "agent/artifact_client.h"
#include "common/crypto.h"
#include "common/process/process.h"
#include "tests/bench/bench.h"
#include "tests/bench/loopback_ceiling.h"
#include "tests/bench/operator_client.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {
namespace {

constexpr char kArtifactsYaml[] =
    "format_version: 10\n"
    "pipelines:\n"
    "  art:\n"
    "    group: bench\n"
    "    stages:\n"
    "      - up:\n"
    "          jobs:\n"
    "            up:\n"
    "              artifacts:\n"
    "                - build: {source: big.bin}\n"
    "              tasks:\n"
    "                - exec: {command: \"true\"}\n"
    "      - down:\n"
    "          jobs:\n"
    "            down:\n"
    "              tasks:\n"
    "                - fetch: {stage: up, job: up, file: big.bin}\n";

// Incompressible content, written in 1 MiB blocks; returns its SHA-256.
absl::StatusOr<std::string> MakeFile(const std::string& path, int64_t mib) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::mt19937_64 rng(42 + mib);
  std::string block(1 << 20, '\0');
  Sha256Hasher hasher;
  for (int64_t i = 0; i < mib; ++i) {
    auto* words = reinterpret_cast<uint64_t*>(block.data());
    for (size_t w = 0; w < block.size() / 8; ++w) words[w] = rng();
    out.write(block.data(), static_cast<std::streamsize>(block.size()));
    hasher.Update(block);
  }
  out.close();
  if (!out) return absl::InternalError("cannot write " + path);
  return hasher.FinishHex();
}

int64_t SelfPeakKiB() { return ProcStatusKiB(getpid(), "VmHWM:"); }
void ResetSelfPeak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

struct Transfer {
  grpc::Status status;
  int64_t bytes = 0;
  absl::Duration took;
  std::string sha256;
};

// The real agent's client (agent/artifact_client.h), over the simulated
// agent's channel, so the figures are what a gantry-agent gets.
std::shared_ptr<v1::AgentService::StubInterface> StubOf(SimAgent& agent) {
  return std::shared_ptr<v1::AgentService::StubInterface>(agent.stub(), [](auto*) {});
}

grpc::Status ToGrpc(const absl::Status& st) {
  return st.ok()
             ? grpc::Status::OK
             : grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

Transfer Upload(SimAgent& agent, const v1::Assign& assign, const std::string& file,
                const std::string& path) {
  const int64_t attempt = assign.attempt_id();
  Transfer t;
  agent::ArtifactClient client(StubOf(agent), agent.id(), agent.token());
  agent::TransferInterrupter interrupter;
  agent::TransferContext ctx;
  ctx.attempt_id = attempt;
  ctx.job_dir = std::filesystem::path(file).parent_path().string();
  ctx.interrupter = &interrupter;
  ctx.xxh128_uploads = assign.transfer_xxh128();
  absl::Time start = absl::Now();
  auto up = client.Upload({file, path, "build"}, ctx);
  t.took = absl::Now() - start;
  t.status = ToGrpc(up.status());
  if (up.ok()) {
    t.bytes = up->size;
    t.sha256 = up->sha256;
  }
  return t;
}

Transfer Download(SimAgent& agent, int64_t attempt, const v1::FetchTask& task, int task_index,
                  const std::string& dir) {
  Transfer t;
  std::filesystem::create_directories(dir);
  agent::ArtifactClient client(StubOf(agent), agent.id(), agent.token());
  agent::TransferInterrupter interrupter;
  agent::TransferContext ctx;
  ctx.attempt_id = attempt;
  ctx.job_dir = dir;
  ctx.interrupter = &interrupter;
  absl::Time start = absl::Now();
  absl::Status st = client.Fetch(task, task_index, ctx);
  t.took = absl::Now() - start;
  t.status = ToGrpc(st);
  if (st.ok()) {
    // Checked again here, outside the timing: what landed is the file.
    std::string path = dir + "/" + task.source();
    t.bytes = static_cast<int64_t>(std::filesystem::file_size(path));
    std::ifstream in(path, std::ios::binary);
    std::string buf(1 << 20, '\0');
    Sha256Hasher hasher;
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
      hasher.Update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
    }
    t.sha256 = hasher.FinishHex();
  }
  return t;
}

double MiBps(int64_t bytes, absl::Duration d) {
  return static_cast<double>(bytes) / (1 << 20) / absl::ToDoubleSeconds(d);
}

// The one agent's jobs, driven by hand: assignments as they arrive, a job
// started (and known committed), a job completed, completions acknowledged.
class Jobs {
 public:
  FleetHooks Hooks() {
    FleetHooks hooks;
    hooks.on_assign = [this](SimAgent&, const v1::Assign& a, absl::Time) {
      std::lock_guard<std::mutex> lock(mu_);
      assigns_.push_back(a);
      cv_.notify_all();
    };
    hooks.on_console_ack = [this](SimAgent&, const v1::ConsoleAck& ack) {
      std::lock_guard<std::mutex> lock(mu_);
      acked_console_ = ack.attempt_id();
      cv_.notify_all();
    };
    hooks.on_completion_ack = [this](SimAgent&, int64_t, absl::Time) {
      std::lock_guard<std::mutex> lock(mu_);
      ++completions_;
      cv_.notify_all();
    };
    return hooks;
  }

  absl::StatusOr<v1::Assign> NextAssign() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(120), [&] { return !assigns_.empty(); })) {
      return absl::DeadlineExceededError("no assignment within 120 s");
    }
    v1::Assign a = assigns_.front();
    assigns_.pop_front();
    return a;
  }

  // JobStarted, then a console chunk whose ack proves JobStarted committed
  // (the controller handles one agent's messages in order).
  absl::Status Start(SimAgent& agent, int64_t attempt) {
    v1::AgentMessage m;
    m.mutable_job_started()->set_attempt_id(attempt);
    agent.Send(m);
    m.Clear();
    m.mutable_console()->set_attempt_id(attempt);
    m.mutable_console()->set_sequence(1);
    m.mutable_console()->set_data("bench: transferring\n");
    agent.Send(m);
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return acked_console_ == attempt; })) {
      return absl::DeadlineExceededError("JobStarted was not acknowledged");
    }
    return absl::OkStatus();
  }

  static void Finish(SimAgent& agent, int64_t attempt) {
    v1::AgentMessage m;
    auto* done = m.mutable_job_completed();
    done->set_attempt_id(attempt);
    done->set_result("passed");
    done->set_last_sequence(1);
    agent.Send(m);
  }

  int completions() {
    std::lock_guard<std::mutex> lock(mu_);
    return completions_;
  }
  bool WaitCompletions(int n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                        [&] { return completions_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::Assign> assigns_;
  int64_t acked_console_ = 0;
  int completions_ = 0;
};

// One file size: what is measured, and where.
struct Round {
  int64_t index = 0;  // BENCH_ID of the run
  int64_t mib = 0;
  std::string tag;  // "artifacts.<mib>MiB"
  std::string src;  // the file to upload
  std::string sha256;
  double cp_rate = 0;        // MiB/s, the last MeasureCp
  double cp_fsync_rate = 0;  // cp and sync of the copy, the last MeasureCp
  double loopback_rate = 0;  // MiB/s through a bare loopback socket, the last MeasureCp
  int64_t bytes() const { return mib << 20; }
};

// Every measured phase starts with no dirty pages left by the one before
// (making the file, cp, the upload): otherwise its writes wait for that
// writeback, and the figure says how busy the disk still was.
void FlushDirtyPages() { ::sync(); }

// cp of the same file on the same disk, with and without a sync, right
// before each transfer, so both write page-cache pages in the same state.
// On a VM whose balloon reports free pages to the host (this one), the
// first touch of memory freed a while ago costs a fault in the host: the
// first writer of a gigabyte after a pause ran at a third of the speed of
// the second, whichever program it was. So an unmeasured cp first makes
// that memory resident again (its copy is deleted, freeing the pages), and
// then the measured cp and the transfer both run on resident memory: the
// figures compare the programs, not the hypervisor. `when` names the
// figures: "" before the upload, ".before_download".
absl::Status MeasureCp(Round& r, Report& report, const std::string& when) {
  std::string copy = r.src + ".cp";
  FlushDirtyPages();
  if (auto warm = RunCommand({"cp", r.src, copy}); !warm.ok() || !warm->success()) {
    return absl::InternalError("cp failed");
  }
  std::filesystem::remove(copy);
  FlushDirtyPages();
  absl::Time c0 = absl::Now();
  auto cp = RunCommand({"cp", r.src, copy});
  absl::Duration cp_took = absl::Now() - c0;
  if (!cp.ok() || !cp->success()) return absl::InternalError("cp failed");
  absl::Time s0 = absl::Now();
  auto sync = RunCommand({"sync", copy});
  absl::Duration sync_took = absl::Now() - s0;
  std::filesystem::remove(copy);
  r.cp_rate = MiBps(r.bytes(), cp_took);
  report.Add(r.tag + ".cp" + when, r.cp_rate, "MiB/s");
  r.cp_fsync_rate = 0;
  if (sync.ok() && sync->success()) {
    r.cp_fsync_rate = MiBps(r.bytes(), cp_took + sync_took);
    report.Add(r.tag + ".cp_and_fsync" + when, r.cp_fsync_rate, "MiB/s");
  }
  // A transfer's ceiling: its one stream, received with recv(), no work.
  auto loopback = TimeLoopbackTcp(r.src);
  if (!loopback.ok()) return loopback.status();
  r.loopback_rate = MiBps(r.bytes(), *loopback);
  report.Add(r.tag + ".loopback_tcp" + when, r.loopback_rate, "MiB/s");
  report.Add(r.tag + ".loopback_tcp_vs_cp" + when, r.loopback_rate / r.cp_rate * 100, "%");
  FlushDirtyPages();
  return absl::OkStatus();
}

// Peak RSS of the controller and of this process (the agent) from now on.
struct PeakRss {
  explicit PeakRss(Controller& c) : controller(c) {
    controller.ResetPeakRss();
    ResetSelfPeak();
    controller_before = controller.RssKiB();
    self_before = ProcStatusKiB(getpid(), "VmRSS:");
  }
  void AddTo(Report& report, const std::string& prefix) const {
    report.Add(prefix + ".controller_peak_rss_growth",
               static_cast<double>(controller.PeakRssKiB() - controller_before), "KiB");
    report.Add(prefix + ".agent_peak_rss_growth", static_cast<double>(SelfPeakKiB() - self_before),
               "KiB");
  }
  Controller& controller;
  int64_t controller_before = 0, self_before = 0;
};

// The upload's figures; an UNIMPLEMENTED answer (an old controller) is
// reported and sets `unimplemented`.
absl::Status ReportUpload(const Transfer& u, const Round& r, const PeakRss& peak,
                          bool& unimplemented, Report& report) {
  if (u.status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    spdlog::error(
        "artifacts: the controller answers UploadArtifact with UNIMPLEMENTED ({}); "
        "no artifact figures",
        u.status.error_message());
    report.Add("artifacts.upload_implemented", 0, "bool", "UploadArtifact returned UNIMPLEMENTED");
    unimplemented = true;
    return absl::OkStatus();
  }
  if (!u.status.ok()) {
    return absl::InternalError(absl::StrCat("UploadArtifact: ", u.status.error_message()));
  }
  report.Add(r.tag + ".upload", MiBps(u.bytes, u.took), "MiB/s");
  report.Add(r.tag + ".upload_vs_cp", MiBps(u.bytes, u.took) / r.cp_rate * 100, "%");
  if (r.cp_fsync_rate > 0) {
    // The upload's target: it ends with the file synced, as cp + sync.
    report.Add(r.tag + ".upload_vs_cp_and_fsync", MiBps(u.bytes, u.took) / r.cp_fsync_rate * 100,
               "%");
  }
  report.Add(r.tag + ".upload_vs_loopback_tcp", MiBps(u.bytes, u.took) / r.loopback_rate * 100,
             "%");
  report.Add(r.tag + ".upload.controller_peak_rss",
             static_cast<double>(peak.controller.PeakRssKiB()), "KiB");
  peak.AddTo(report, r.tag + ".upload");
  return absl::OkStatus();
}

// The download's figures, after checking what arrived.
absl::Status ReportDownload(const Transfer& d, const Round& r, const PeakRss& peak,
                            bool& unimplemented, Report& report) {
  if (d.status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    spdlog::error("artifacts: DownloadArtifact is UNIMPLEMENTED ({})", d.status.error_message());
    report.Add("artifacts.download_implemented", 0, "bool");
    unimplemented = true;
    return absl::OkStatus();
  }
  if (!d.status.ok()) {
    return absl::InternalError(absl::StrCat("DownloadArtifact: ", d.status.error_message()));
  }
  if (d.sha256 != r.sha256 || d.bytes != r.bytes()) {
    return absl::DataLossError(absl::StrCat("downloaded ", d.bytes, " bytes, sha ", d.sha256,
                                            "; expected ", r.bytes(), " bytes, sha ", r.sha256));
  }
  report.Add(r.tag + ".download", MiBps(d.bytes, d.took), "MiB/s");
  report.Add(r.tag + ".download_vs_cp", MiBps(d.bytes, d.took) / r.cp_rate * 100, "%");
  report.Add(r.tag + ".download_vs_loopback_tcp", MiBps(d.bytes, d.took) / r.loopback_rate * 100,
             "%");
  peak.AddTo(report, r.tag + ".download");
  return absl::OkStatus();
}

// Stage "up": the job uploads the file. The job completes after the
// figures are taken, so its completion is not in the peak.
absl::Status UploadStage(const BenchOptions& options, Controller& controller, SimAgent& agent,
                         Jobs& jobs, const Round& r, bool& unimplemented, Report& report) {
  auto up = jobs.NextAssign();
  if (!up.ok()) return up.status();
  if (auto st = jobs.Start(agent, up->attempt_id()); !st.ok()) return st;
  FlushDirtyPages();
  PeakRss peak(controller);
  (void)options;
  Transfer u = Upload(agent, *up, r.src, "big.bin");
  absl::Status st = ReportUpload(u, r, peak, unimplemented, report);
  Jobs::Finish(agent, up->attempt_id());
  return st;
}

// Stage "down": the fetch task (index 0) downloads the file into `dest`.
absl::Status DownloadStage(Controller& controller, SimAgent& agent, Jobs& jobs, Round& r,
                           const std::string& dest, bool& unimplemented, Report& report) {
  auto down = jobs.NextAssign();
  if (!down.ok()) return down.status();
  if (auto st = jobs.Start(agent, down->attempt_id()); !st.ok()) return st;
  PeakRss peak(controller);
  if (down->tasks_size() == 0 || !down->tasks(0).has_fetch()) {
    return absl::InternalError("the down job's first task is not its fetch");
  }
  if (auto st = MeasureCp(r, report, ".before_download"); !st.ok()) return st;
  Transfer d = Download(agent, down->attempt_id(), down->tasks(0).fetch(), 0, dest);
  absl::Status st = ReportDownload(d, r, peak, unimplemented, report);
  Jobs::Finish(agent, down->attempt_id());
  return st;
}

// One run of "art" with a file of `r.mib`: cp, upload, download, both jobs
// acknowledged.
absl::Status MeasureSize(const BenchOptions& options, Env& env, Operator& op, SimAgent& agent,
                         Jobs& jobs, Round& r, bool& unimplemented, Report& report) {
  std::string files = env.dir + "/files";
  std::filesystem::create_directories(files);
  r.tag = absl::StrCat("artifacts.", r.mib, "MiB");
  r.src = absl::StrCat(files, "/big-", r.mib, ".bin");
  auto sha = MakeFile(r.src, r.mib);
  if (!sha.ok()) return sha.status();
  r.sha256 = *sha;
  if (auto st = MeasureCp(r, report, ""); !st.ok()) return st;
  auto run = op.Trigger("art", r.index);
  if (!run.ok()) return run.status();
  int completions_before = jobs.completions();
  Controller& controller = *env.controller;
  absl::Status st = UploadStage(options, controller, agent, jobs, r, unimplemented, report);
  if (!st.ok() || unimplemented) return st;
  std::string dest = absl::StrCat(files, "/agent-", r.index);
  st = DownloadStage(controller, agent, jobs, r, dest, unimplemented, report);
  if (!st.ok() || unimplemented) return st;
  if (!jobs.WaitCompletions(completions_before + 2, absl::Seconds(60))) {
    return absl::DeadlineExceededError("the artifact jobs' completions were not acknowledged");
  }
  std::error_code ec;
  std::filesystem::remove_all(dest, ec);
  std::filesystem::remove(r.src, ec);
  return absl::OkStatus();
}

absl::Status Measure(const BenchOptions& options, Env& env, Report& report) {
  std::vector<int64_t> sizes = options.smoke ? std::vector<int64_t>{4} : options.artifact_mib;
  Controller& controller = *env.controller;
  Operator op(controller.address(), controller.admin_token());
  if (auto r = op.ApplyConfig(kArtifactsYaml); !r.ok()) return r.status();
  Jobs jobs;
  FleetOptions fo;
  fo.address = controller.address();
  fo.channels = 1;
  fo.name_prefix = "artifacts";
  fo.auto_finish = false;
  Fleet fleet(fo, jobs.Hooks());
  if (auto st = fleet.Register(1, controller.register_key()); !st.ok()) return st;
  fleet.ConnectAll();
  if (!fleet.WaitWelcomed(1, absl::Seconds(30))) {
    return absl::DeadlineExceededError("the simulated agent was never welcomed");
  }
  bool unimplemented = false;
  for (size_t k = 0; k < sizes.size() && !unimplemented; ++k) {
    Round r;
    r.index = static_cast<int64_t>(k);
    r.mib = sizes[k];
    if (auto st = MeasureSize(options, env, op, fleet.agent(0), jobs, r, unimplemented, report);
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunArtifacts(const BenchOptions& options, Report& report) {
  auto env = StartEnv(options, "artifacts", report);
  if (!env.ok()) return env.status();
  absl::Status st = Measure(options, *env, report);
  if (st.ok()) StopEnv(options, *env);  // a failed scenario keeps its dir and logs
  return st;
}

}  // namespace gantry::bench
