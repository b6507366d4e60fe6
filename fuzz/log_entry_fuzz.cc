// Fuzz target: LogEntry::decode (protocol.md §9.3): format 1, all nine command tags. A success
// re-encodes to the input; a RegisterClient entry is decoded structurally (apply() verifies).
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = LogEntry::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  if (r) {
    require(size >= 2 && data[0] == LogEntry::kFormat && std::size_t{data[1]} == r->command.index() + 1);
    require(!command_name(r->command).empty());
  }
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  Lineage lineage{};
  lineage.fill(0x11);
  push(out, LogEntry{FormCmd{lineage, sid("founder"), 1700000000000}});
  push(out, LogEntry{RegisterServerCmd{sample_server_bundle()}});
  push(out, LogEntry{DeregisterServerCmd{sid("server")}});
  push(out, LogEntry{RegisterClientCmd{sample_signed_entry(1), 1700000100000}});
  push(out, LogEntry{UnregisterClientsCmd{{sid("a"), sid("b")}, UnregisterReason::purged}});
  push(out, LogEntry{OpenRoundCmd{3, 1700000000000, {sid("s0")}}});
  push(out, LogEntry{SubmitAggregateCmd{sample_aggregate(10, {1, 2, 3, 4, 5, 6, 7}, 16)}});
  push(out, LogEntry{SubmitPartialCmd{sample_partial(16)}});
  push(out, LogEntry{YieldCmd{lineage}});
}
