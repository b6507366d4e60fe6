#include "proto/params.h"

namespace zipnet::proto {

ByteArray<16> RoundParams::prefix() const {
  ByteArray<16> p{};
  put_le32(p.data(), wire_version);
  put_le32(p.data() + 4, num_slots);
  put_le32(p.data() + 8, slot_bytes);
  put_le32(p.data() + 12, tag_len);
  return p;
}

tl::expected<void, std::string> RoundParams::validate() const {
  if (wire_version != WIRE_VERSION)
    return tl::unexpected("wire_version " + std::to_string(wire_version) +
                          " unsupported (expected " + std::to_string(WIRE_VERSION) + ")");
  if (num_slots < 1 || num_slots > 65'536)
    return tl::unexpected("num_slots " + std::to_string(num_slots) + " outside 1..65536");
  if (tag_len < 8 || tag_len > 32)
    return tl::unexpected("tag_len " + std::to_string(tag_len) + " outside 8..32");
  if (slot_bytes < tag_len + 3 || slot_bytes > 65'536)
    return tl::unexpected("slot_bytes " + std::to_string(slot_bytes) + " outside " +
                          std::to_string(tag_len + 3) + "..65536");
  if (vector_bytes() > MAX_VECTOR_BYTES)
    return tl::unexpected("num_slots x slot_bytes = " + std::to_string(vector_bytes()) +
                          " exceeds 8 MiB");
  return {};
}

std::string RoundParams::shape() const {
  return std::to_string(num_slots) + "x" + std::to_string(slot_bytes) + "/" +
         std::to_string(tag_len);
}

}  // namespace zipnet::proto
