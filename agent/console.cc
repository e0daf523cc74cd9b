#include "agent/console.h"

#include <algorithm>

namespace gantry::agent {

SecretMasker::SecretMasker(std::vector<std::string> secrets) {
  for (auto& s : secrets) {
    if (s.size() < kMinSecretLength) continue;
    first_byte_[static_cast<unsigned char>(s[0])] = true;
    secrets_.push_back(std::move(s));
  }
  // Longest first, so a secret that contains another is masked whole.
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  secrets_.erase(std::unique(secrets_.begin(), secrets_.end()), secrets_.end());
}

std::string SecretMasker::Feed(std::string_view data) {
  if (secrets_.empty()) return std::string(data);
  pending_.append(data);
  return Process(/*final=*/false);
}

std::string SecretMasker::Flush() {
  if (secrets_.empty()) return "";
  return Process(/*final=*/true);
}

std::string SecretMasker::Process(bool final) {
  std::string out;
  out.reserve(pending_.size());
  size_t i = 0;
  const size_t n = pending_.size();
  while (i < n) {
    if (!first_byte_[static_cast<unsigned char>(pending_[i])]) {
      out.push_back(pending_[i++]);
      continue;
    }
    const size_t avail = n - i;
    bool matched = false;
    bool maybe = false;
    for (const std::string& s : secrets_) {
      if (avail >= s.size()) {
        if (pending_.compare(i, s.size(), s) == 0) {
          out.append(kMask);
          i += s.size();
          matched = true;
          break;
        }
      } else if (!final && s.compare(0, avail, pending_, i, avail) == 0) {
        // The rest of the input is a prefix of a (longer) secret: wait.
        maybe = true;
        break;
      }
    }
    if (maybe) break;
    if (!matched) out.push_back(pending_[i++]);
  }
  pending_.erase(0, i);
  return out;
}

ConsoleBatcher::ConsoleBatcher(size_t max_bytes, Clock::duration max_delay,
                               Emit emit)
    : max_bytes_(std::max<size_t>(1, max_bytes)),
      max_delay_(max_delay),
      emit_(std::move(emit)) {}

void ConsoleBatcher::Append(std::string_view data, Clock::time_point now) {
  while (!data.empty()) {
    if (buffer_.empty()) first_byte_at_ = now;
    size_t take = std::min(data.size(), max_bytes_ - buffer_.size());
    buffer_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (buffer_.size() >= max_bytes_) Flush();
  }
}

void ConsoleBatcher::FlushIfDue(Clock::time_point now) {
  if (!buffer_.empty() && now >= first_byte_at_ + max_delay_) Flush();
}

void ConsoleBatcher::Flush() {
  if (buffer_.empty()) return;
  std::string chunk;
  chunk.swap(buffer_);
  emit_(std::move(chunk));
}

std::optional<ConsoleBatcher::Clock::time_point> ConsoleBatcher::deadline()
    const {
  if (buffer_.empty()) return std::nullopt;
  return first_byte_at_ + max_delay_;
}

}  // namespace gantry::agent
