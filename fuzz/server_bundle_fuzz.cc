// Fuzz target: ServerBundle::decode (protocol.md §7.2, 168 bytes). A success re-encodes to the
// input; verify() never crashes on decoded bytes (the committee checks signatures, §9.3 tag 2).
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = ServerBundle::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  require(r.has_value() == (size == 168));
  if (r) (void)r->verify();
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) { push(out, sample_server_bundle()); }
