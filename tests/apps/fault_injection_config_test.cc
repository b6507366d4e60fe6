// The fault-injection configuration of the roles (operations.md §3.5, apps/role_process.h): a
// build without ZIPNET_FAULT_INJECTION refuses every ZIPNET_DEBUG_* variable with
// `<VAR>: fault injection is not compiled in` (exit 2), and the value parsers of
// ZIPNET_DEBUG_CLOCK_OFFSET / /debug/clock (signed durations) and ZIPNET_DEBUG_BLOCK_PEERS /
// /debug/block (PeerId prefix lists). The refusal is exercised with compiled_in = false, so
// this runs in the fault-injection builds the tests use; the real processes are in
// tests/e2e/status_test.cc.
#include <gtest/gtest.h>

#include <map>

#include "role_process.h"

using namespace zipnet::apps;
using namespace std::chrono_literals;

namespace {

EnvFn env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST(FaultInjectionConfig, ReleaseBuildRefusesEveryDebugVariable) {
  for (const char* var : kFaultInjectionVars) {
    auto e = refuse_fault_injection(env_of({{"ZIPNET_INSTANCE", "a"}, {var, "x"}}), false);
    ASSERT_TRUE(e) << var;
    EXPECT_EQ(e->line(), std::string("configuration error: ") + var + ": fault injection is not compiled in");
    EXPECT_FALSE(refuse_fault_injection(env_of({{var, "x"}}), true)) << var;
  }
  EXPECT_FALSE(refuse_fault_injection(env_of({{"ZIPNET_INSTANCE", "a"}}), false));
#ifdef ZIPNET_FAULT_INJECTION
  EXPECT_TRUE(fault_injection_compiled_in());
#else
  EXPECT_FALSE(fault_injection_compiled_in());
#endif
}

TEST(FaultInjectionConfig, SignedDurations) {
  EXPECT_EQ(parse_signed_duration("+60s").value(), 60s);
  EXPECT_EQ(parse_signed_duration("-8s").value(), -8s);
  EXPECT_EQ(parse_signed_duration("0").value(), 0ms);
  EXPECT_EQ(parse_signed_duration("1500ms").value(), 1500ms);
  EXPECT_EQ(parse_signed_duration("-2m").value(), -120s);
  EXPECT_EQ(parse_signed_duration(" 60s").value(), 60s);  // an unencoded '+' in a query string
  for (const char* bad : {"", "+", "-", "soon", "--1s", "+-1s", "1x"})
    EXPECT_FALSE(parse_signed_duration(bad)) << bad;
}

TEST(FaultInjectionConfig, PeerPrefixLists) {
  EXPECT_EQ(parse_peer_prefixes("").value(), std::vector<std::string>{});
  EXPECT_EQ(parse_peer_prefixes("AbC1, 00ff ,,").value(), (std::vector<std::string>{"abc1", "00ff"}));
  EXPECT_EQ(parse_peer_prefixes(std::string(64, 'e')).value().size(), 1u);
  EXPECT_FALSE(parse_peer_prefixes(std::string(65, 'e')));
  EXPECT_FALSE(parse_peer_prefixes("abc,xyz"));
}
