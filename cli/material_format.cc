#include "cli/material_format.h"

#include "cli/format.h"

namespace gantry::cli {

void PrintMaterialCommits(const gantry::v1::BuildCause& cause, absl::TimeZone tz,
                          std::ostream& out) {
  for (const auto& m : cause.materials()) {
    if (m.commits().empty()) continue;
    out << "commits of " << m.material() << ":\n";
    Table commits({"REVISION", "TIME", "AUTHOR", "MESSAGE"});
    for (const auto& c : m.commits()) {
      commits.AddRow(
          {c.revision().substr(0, 12), FormatTimestamp(c.time(), tz), c.author(), c.message()});
    }
    commits.Print(out, 2);
  }
}

}  // namespace gantry::cli
