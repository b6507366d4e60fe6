// Fuzz target: PartialUnblind::decode (protocol.md §7.2). A success re-encodes to the input
// (B + 108 bytes).
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = PartialUnblind::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  if (r) require(size == r->payload.size() + 108);
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  for (std::size_t b : {0u, 24u, 64u}) push(out, sample_partial(b));
}
