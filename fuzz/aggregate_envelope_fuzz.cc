// Fuzz target: AggregateEnvelope::decode (protocol.md §7.2). A success re-encodes to the input,
// whose size is B + 45 + the participant set's own encoding (≤ 4 + 4k).
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = AggregateEnvelope::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  if (r) {
    require(size == r->payload.size() + 44 + r->participants.encoded_size());
    if (r->participants.form == 1) require(r->participants.is_canonical_for(r->participants.roster_len));
  }
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  push(out, sample_aggregate(3, {0, 1, 2}, 32));
  push(out, sample_aggregate(100, {4, 50}, 16));
  push(out, sample_aggregate(0, {}, 0));
}
