#pragma once

namespace gantry {

// Process-wide settings for the controller: the open-file limit raised to its
// hard maximum, because every connected agent costs a socket and the default
// soft limit of 1,024 would refuse the 1,025th; and Abseil's mutex deadlock
// detector off, which Debian's build leaves on and which costs a graph update
// per lock. Agents keep the defaults: their tasks inherit the limit, and some
// programs walk every possible descriptor.
void PrepareServerProcess();

}  // namespace gantry
