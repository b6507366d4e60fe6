// `zipnet sim`: the in-process DC-net simulation behind `make demo` until the networked devnet
// exists. Runs the real core algorithms (seal, fold, partial unblind, finalize, decode) for
// N servers and K clients, re-sending collided messages, until every message is delivered.
#pragma once

#include <cstdint>
#include <string>

namespace zipnet::apps {

struct SimOptions {
  unsigned servers = 3;
  unsigned clients = 8;
  std::string instance = "demo.zipnet";
  unsigned max_rounds = 100;
};

/// Returns the process exit code (0 when every message was delivered exactly once).
int run_sim(const SimOptions& opts);

}  // namespace zipnet::apps
