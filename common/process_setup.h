#pragma once

namespace gantry {

// Process-wide settings for the controller: the open-file limit raised to its
// hard maximum, because every connected agent costs a socket and the default
// soft limit of 1,024 would refuse the 1,025th; and Abseil's mutex deadlock
// detector off, which Debian's build leaves on and which costs a graph update
// per lock. Agents keep the defaults: their tasks inherit the limit, and some
// programs walk every possible descriptor.
void PrepareServerProcess();

// glibc serves every allocation of 128 KiB or more with its own mmap, and
// gives it back with munmap when freed: each artifact message (and gRPC's
// read buffers) then costs page faults, zeroed pages and an unmap. Artifact
// transfers were a third to a half faster (docs/performance.md) with such
// buffers kept in the heap and reused. Memory freed stays mapped up to the
// trim threshold, so the peak stays independent of the transfer's size.
// Controller and agent (and the bench, which plays the agent) call it first.
void TuneMallocForStreaming();

}  // namespace gantry
