// The runbook conformance suite (operations.md §11, §12): one GoogleTest case per row of the
// conformance matrix, named by its id (`Runbook.S1`, `Runbook.B3`, …), on real `zipnet`
// processes through the scenario harness (tests/ops). `make runbook` runs the suite alone
// and prints `PASS|FAIL|SKIP <case>` lines plus a closing count (tests/runbook/main.cc);
// `make runbook CASE=S1` runs one case. In `make test` ctest runs each case separately.
//
// Conventions for a case:
//   * build the deployment with `ops::Deployment` (tests/ops/deployment.h);
//   * every wait is a condition with a deadline (harness wait_for_log / eventually);
//   * a network case calls `note_fault_mode(h)` so its result line says whether namespaces
//     or /debug/block were used;
//   * a case that cannot run calls `GTEST_SKIP() << reason` — never a silent pass;
//   * end with `expect_post_scenario(d)` (E1 reserved words + state agreement).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/deployment.h"
#include "ops/harness.h"

namespace zipnet::runbook {

using ops::Deployment;
using ops::DeploymentOptions;
using ops::Env;
using ops::Harness;
using ops::Millis;

/// STALL = 3 × ROUND_PERIOD + ROUND_DEADLINE for the §11 defaults (1 s, 5 s).
inline constexpr Millis kStall{8000};
/// ELECTION_TIMEOUT + jitter + BOOTSTRAP_DELAY bound of S2/S2a/Q1 (operations.md: ≤ 5.5 s).
inline constexpr Millis kLeaderBound{5500};

/// Records the fault mode for the result line (`PASS B3 (fault injection: /debug/block)`).
inline void note_fault_mode(Harness& h) {
  auto note = h.fault_note();
  if (!note.empty()) ::testing::Test::RecordProperty("fault_note", note);
}

/// §12 post-scenario checks: no reserved-word violation on any node, and (when `servers`
/// is non-empty) equal lineage / version / state_digest across them.
inline void expect_post_scenario(Deployment& d, const std::vector<std::string>& servers = {}) {
  auto v = d.h().reserved_word_violations();
  EXPECT_TRUE(v.empty()) << "reserved-word violations: " << ::testing::PrintToString(v);
  if (!servers.empty()) {
    std::vector<std::string> diff;
    bool agree = ops::eventually(
        [&] {
          diff = d.h().state_disagreements(servers);
          return diff.empty();
        },
        Millis(10000));
    EXPECT_TRUE(agree) << ::testing::PrintToString(diff);
  }
}

}  // namespace zipnet::runbook
