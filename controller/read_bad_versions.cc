// `gantry version list`: the versions rollbacks marked bad, read from the
// database (the scheduler's memory holds only the marks in force).
#include "absl/strings/str_cat.h"
#include "controller/read_service.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/tx.h"

namespace gantry {

void ReadService::ListBadVersions(v1::ListBadVersionsRequest request, MayViewPipeline may_view,
                                  Reply<v1::ListBadVersionsResponse> done) {
  WithDb([request = std::move(request), may_view = std::move(may_view),
          done = std::move(done)](store::Db& db) {
    std::vector<store::BadVersionRecord> marks;
    absl::Status st = db.Run("ListBadVersions", [&](store::Tx& tx) {
      marks = tx.BadVersions(request.environment(), request.include_cleared());
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    v1::ListBadVersionsResponse response;
    for (const auto& m : marks) {
      if (may_view(m.pipeline)) BadVersionView(m, response.add_versions());
    }
    done(std::move(response));
  });
}

}  // namespace gantry
