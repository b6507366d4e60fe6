// Fuzz target: RegistrationMsg::decode (protocol.md §7.2): tag 1 Register (SignedPeerEntry,
// signature verified) and tag 2 Unregister. A success re-encodes to the input.
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = RegistrationMsg::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  if (r) {
    require(size >= 1 && std::size_t{data[0]} == r->msg.index() + 1);
    if (const auto* reg = std::get_if<RegisterMsg>(&r->msg)) require(reg->entry.verify());
  }
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  push(out, RegistrationMsg{RegisterMsg{sample_signed_entry(0)}});
  for (auto reason : {UnregisterReason::departed, UnregisterReason::purged, UnregisterReason::ticket_expired})
    push(out, RegistrationMsg{UnregisterMsg{sid("client"), sid("peer"), reason}});
}
