// Fuzz target: ClientRecord::decode (protocol.md §7.2, 112 bytes). A success re-encodes to the input.
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = ClientRecord::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  require(r.has_value() == (size == 112));
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  ClientRecord c;
  c.client_id = sid("client");
  c.peer_id = sid("peer");
  c.registered_version = 3;
  push(out, c);
  c.expires_at_ms = 1700000000000;
  push(out, c);
}
