// Fuzz target: ClientBundle::decode (protocol.md §7.2, 96 bytes). A success re-encodes to the input.
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = ClientBundle::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  require(r.has_value() == (size == ClientBundle::kSize));
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  X25519Public pk{};
  pk.fill(0x42);
  push(out, ClientBundle{sid("instance"), sid("client"), pk});
}
