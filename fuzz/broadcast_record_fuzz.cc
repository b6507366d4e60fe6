// Fuzz target: BroadcastRecord::decode (protocol.md §7.2). A success re-encodes to the input
// (B + 52 + 32·N_S bytes).
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = BroadcastRecord::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  if (r) {
    require(size == r->payload.size() + 52 + 32 * r->servers.size());
    require(r->params.wire_version == WIRE_VERSION);
  }
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  BroadcastRecord b;
  b.round = 11;
  b.opened_at_ms = 1700000000000;
  b.finalized_version = 99;
  b.params.num_slots = 2;
  b.params.slot_bytes = 32;
  b.params.tag_len = 8;
  b.participants = 2;
  b.payload = pattern(64);
  push(out, b);
  b.servers = {sid("s0"), sid("s1")};
  push(out, b);
}
