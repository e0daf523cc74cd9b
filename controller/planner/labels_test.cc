#include "controller/planner/labels.h"

#include <gtest/gtest.h>

namespace gantry {
namespace {

TEST(ExpandLabelTest, CounterAndMaterials) {
  std::vector<store::MaterialRevisionRecord> materials(2);
  materials[0].material = "src";
  materials[0].type = "git";
  materials[0].revision = "0123456789abcdef";
  materials[1].material = "up";
  materials[1].type = "pipeline";
  materials[1].upstream_pipeline = "build";
  materials[1].upstream_counter = 7;
  EXPECT_EQ(ExpandLabel("", 3, materials), "3");
  EXPECT_EQ(ExpandLabel("1.${COUNT}-${src[:8]}", 12, materials), "1.12-01234567");
  EXPECT_EQ(ExpandLabel("${up}", 1, materials), "build-7");
  EXPECT_EQ(ExpandLabel("v${unknown}x", 1, materials), "vx");
  EXPECT_EQ(ExpandLabel("broken ${COUNT", 1, materials), "broken ${COUNT");
}

}  // namespace
}  // namespace gantry
