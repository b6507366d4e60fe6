// Fuzz target: ParticipantSet::decode (protocol.md §7.2). A success re-encodes to the input;
// a decoded form-1 set is canonical for its own roster_len; indices are strictly ascending.
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = ParticipantSet::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  if (r) {
    require(r->encoded_size() == size);
    for (std::size_t i = 1; i < r->indices.size(); ++i) require(r->indices[i - 1] < r->indices[i]);
    if (r->form == 1) require(r->is_canonical_for(r->roster_len));
  }
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  push(out, ParticipantSet::canonical(0, {}));
  push(out, ParticipantSet::canonical(100, {0}));
  push(out, ParticipantSet::canonical(32, {5}));
  push(out, ParticipantSet::canonical(20, {0, 1, 2, 3, 5, 8, 13, 19}));
  push(out, ParticipantSet::canonical(1000, {7, 70, 700}));
}
