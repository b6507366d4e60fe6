#include "core/reader.h"

#include "proto/slot.h"

namespace zipnet::core::reader {

DecodeStats decode(const proto::BroadcastRecord& record, const proto::UniqueId& k_tag,
                   std::vector<Message>& out) {
  DecodeStats st;
  const auto& p = record.params;
  if (!p.validate() || record.payload.size() != p.vector_bytes()) {
    st.bad_record = true;
    return st;
  }
  for (std::uint32_t s = 0; s < p.num_slots; ++s) {
    proto::ByteSpan slot(record.payload.data() + std::size_t{s} * p.slot_bytes, p.slot_bytes);
    proto::ByteSpan payload;
    switch (proto::read_slot(slot, p, k_tag, record.round, s, &payload)) {
      case proto::SlotStatus::empty: ++st.empty; break;
      case proto::SlotStatus::tag_failure: ++st.tag_failures; break;
      case proto::SlotStatus::malformed: ++st.malformed; break;
      case proto::SlotStatus::message:
        ++st.messages;
        out.push_back(Message{record.round, s, proto::Bytes(payload.begin(), payload.end())});
        break;
    }
  }
  return st;
}

}  // namespace zipnet::core::reader
