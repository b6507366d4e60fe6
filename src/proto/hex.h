// Lowercase hex encoding and strict decoding (ids are printed as 64 lowercase hex).
#pragma once

#include <optional>

#include "proto/bytes.h"

namespace zipnet::proto {

std::string to_hex(ByteSpan bytes);
/// Decodes hex of either case; nullopt on odd length or a non-hex character.
std::optional<Bytes> from_hex(std::string_view hex);
bool is_hex(std::string_view s);

}  // namespace zipnet::proto
