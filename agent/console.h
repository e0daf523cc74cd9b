// What happens to a job's console output between the task's pipe and the
// JobSink: secure values are masked (SecretMasker), then the bytes are cut
// into chunks that are sent at most every flush interval or when they reach
// the size limit (ConsoleBatcher), so lines appear live without one message
// per write().
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::agent {

// Replaces every occurrence of a secret in a byte stream with "********".
// A secret split across two Feed() calls is still masked: output that could
// be the start of a secret is held back until more bytes (or Flush) decide.
// At most (longest secret - 1) bytes are ever held, so a long line without a
// newline is not delayed.
class SecretMasker {
 public:
  static constexpr std::string_view kMask = "********";
  // Values shorter than this are not masked: masking "1" or "no" would
  // shred the log and protect nothing.
  static constexpr size_t kMinSecretLength = 3;

  explicit SecretMasker(std::vector<std::string> secrets);

  // Returns the masked bytes that are certain; keeps a possible secret
  // prefix at the end for the next call.
  std::string Feed(std::string_view data);
  // Returns everything held (masked); call at the end of a stream.
  std::string Flush();

 private:
  std::string Process(bool final);

  std::vector<std::string> secrets_;  // longest first
  bool first_byte_[256] = {};
  std::string pending_;
};

// Accumulates console bytes and emits chunks of at most max_bytes, each no
// later than max_delay after its first byte arrived. Time is passed in, so
// the caller's event loop decides when to look.
class ConsoleBatcher {
 public:
  using Clock = std::chrono::steady_clock;
  using Emit = std::function<void(std::string)>;

  ConsoleBatcher(size_t max_bytes, Clock::duration max_delay, Emit emit);

  // Appends; emits full chunks right away.
  void Append(std::string_view data, Clock::time_point now);
  // Emits the buffered bytes if the oldest has waited max_delay.
  void FlushIfDue(Clock::time_point now);
  // Emits whatever is buffered.
  void Flush();
  // When FlushIfDue will next have something to do; nullopt when empty.
  std::optional<Clock::time_point> deadline() const;

 private:
  size_t max_bytes_;
  Clock::duration max_delay_;
  Emit emit_;
  std::string buffer_;
  Clock::time_point first_byte_at_;
};

}  // namespace gantry::agent
