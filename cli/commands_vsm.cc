// gantry pipeline vsm P[/N]: the value stream around one run, as a tree.
#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "common/locator.h"
#include "common/names.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

std::string Indent(int depth) { return std::string(2 * depth, ' '); }

void PrintRunLine(const v1::VsmNode& node, int depth, std::ostream& out) {
  out << Indent(depth) << node.pipeline() << "/" << node.counter() << " " << node.state()
      << " (label " << node.label() << ")\n";
}

// Upstream nodes list their materials: those are the revisions that fed the
// run asked about (git commits at the roots, upstream runs above them).
void PrintRunAndMaterials(const v1::VsmNode& node, int depth, std::ostream& out) {
  PrintRunLine(node, depth, out);
  for (const auto& m : node.materials()) {
    out << Indent(depth + 1) << "material " << m.material() << ": "
        << (m.revision().empty() ? "(latest)" : m.revision()) << "\n";
  }
}

void PrintUpstream(const v1::VsmNode& node, int depth, std::ostream& out) {
  PrintRunAndMaterials(node, depth, out);
  for (const auto& up : node.upstream()) PrintUpstream(up, depth + 1, out);
}

void PrintDownstream(const v1::VsmNode& node, int depth, std::ostream& out) {
  PrintRunLine(node, depth, out);
  for (const auto& down : node.downstream()) PrintDownstream(down, depth + 1, out);
}

absl::StatusOr<int> Vsm(CommandContext& ctx, const std::string& text) {
  Locator loc;
  if (text.find('/') == std::string::npos && IsValidName(text)) {
    loc.pipeline = text;  // its newest run
  } else {
    ASSIGN_OR_RETURN(loc, ParseLocator(text, LocatorKind::kPipelineRun));
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::GetPipelineRunRequest request;
  request.set_pipeline(loc.pipeline);
  request.set_counter(loc.counter);
  v1::PipelineVsm vsm;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().GetPipelineVsm(context.get(), request, &vsm)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(vsm));
    return kExitOk;
  }
  const v1::VsmNode& run = vsm.run();
  std::ostream& out = ctx.out();
  std::string name = absl::StrCat(run.pipeline(), "/", run.counter());
  PrintRunAndMaterials(run, 0, out);
  out << "upstream (what fed " << name << "):\n";
  if (run.upstream().empty()) out << "  none\n";
  for (const auto& up : run.upstream()) PrintUpstream(up, 1, out);
  out << "downstream (what " << name << " fed):\n";
  if (run.downstream().empty()) out << "  none\n";
  for (const auto& down : run.downstream()) PrintDownstream(down, 1, out);
  if (vsm.truncated()) out << "(more than 2000 runs: the rest is left out)\n";
  return kExitOk;
}

}  // namespace

void AddVsmCommand(CLI::App& pipeline, Action* action) {
  auto locator = std::make_shared<std::string>();
  CLI::App* vsm = pipeline.add_subcommand(
      "vsm", "Show the value stream of a run: the runs that fed it and those it fed");
  vsm->add_option("RUN", *locator, "PIPELINE/COUNTER, or PIPELINE for the newest run")->required();
  vsm->callback([action, locator] {
    *action = [locator](CommandContext& ctx) { return Vsm(ctx, *locator); };
  });
}

}  // namespace gantry::cli
