#include "controller/http/grpc_counter.h"

#include <mutex>

namespace gantry::http {
namespace {

std::mutex counts_mu;
std::map<std::pair<std::string, int>, int64_t>& Counts() {
  static auto* counts = new std::map<std::pair<std::string, int>, int64_t>();
  return *counts;
}

class CountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() != nullptr ? info->method() : "") {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      int code = methods->GetSendStatus().error_code();
      std::lock_guard<std::mutex> lock(counts_mu);
      ++Counts()[{method_, code}];
    }
    methods->Proceed();
  }

 private:
  std::string method_;
};

class CountingFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CountingInterceptor(info);
  }
};

}  // namespace

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
GrpcCountingInterceptors() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> out;
  out.push_back(std::make_unique<CountingFactory>());
  return out;
}

std::map<std::pair<std::string, int>, int64_t> GrpcCallCounts() {
  std::lock_guard<std::mutex> lock(counts_mu);
  return Counts();
}

}  // namespace gantry::http
