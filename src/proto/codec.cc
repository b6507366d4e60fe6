#include "proto/codec.h"

namespace zipnet::proto {

void Writer::u16(std::uint16_t v) {
  std::uint8_t b[2];
  put_le16(b, v);
  out_.insert(out_.end(), b, b + 2);
}
void Writer::u32(std::uint32_t v) {
  std::uint8_t b[4];
  put_le32(b, v);
  out_.insert(out_.end(), b, b + 4);
}
void Writer::u64(std::uint64_t v) {
  std::uint8_t b[8];
  put_le64(b, v);
  out_.insert(out_.end(), b, b + 8);
}
void Writer::bytes(ByteSpan v) {
  u32(static_cast<std::uint32_t>(v.size()));
  append(out_, v);
}
void Writer::string(std::string_view v) { bytes(as_bytes(v)); }

bool Reader::fail(std::string message) {
  if (!error_) error_ = std::move(message);
  return false;
}

const std::uint8_t* Reader::take(const char* field, std::size_t n) {
  if (error_) return nullptr;
  if (in_.size() - pos_ < n) {
    fail(std::string("truncated input reading ") + field);
    return nullptr;
  }
  const std::uint8_t* p = in_.data() + pos_;
  pos_ += n;
  return p;
}

std::uint8_t Reader::u8(const char* field) {
  const std::uint8_t* p = take(field, 1);
  return p ? *p : 0;
}
std::uint16_t Reader::u16(const char* field) {
  const std::uint8_t* p = take(field, 2);
  return p ? get_le16(p) : 0;
}
std::uint32_t Reader::u32(const char* field) {
  const std::uint8_t* p = take(field, 4);
  return p ? get_le32(p) : 0;
}
std::uint64_t Reader::u64(const char* field) {
  const std::uint8_t* p = take(field, 8);
  return p ? get_le64(p) : 0;
}
bool Reader::boolean(const char* field) {
  std::uint8_t v = u8(field);
  if (v > 1) fail(std::string("invalid bool ") + std::to_string(v) + " in " + field);
  return v == 1;
}
ByteSpan Reader::fixed(const char* field, std::size_t n) {
  const std::uint8_t* p = take(field, n);
  return p ? ByteSpan(p, n) : ByteSpan();
}
UniqueId Reader::id(const char* field) { return UniqueId(array<32>(field)); }

ByteSpan Reader::bytes(const char* field, std::size_t max) {
  std::uint32_t len = u32(field);
  if (!ok()) return {};
  if (len > max) {
    fail(std::string(field) + ": length " + std::to_string(len) + " exceeds maximum " +
         std::to_string(max));
    return {};
  }
  return fixed(field, len);
}

static bool valid_utf8(ByteSpan s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint8_t c = s[i];
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // continuation bytes missing
    for (std::size_t k = 1; k <= n; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static constexpr std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

std::string Reader::string(const char* field, std::size_t max) {
  ByteSpan b = bytes(field, max);
  if (!ok()) return {};
  if (!valid_utf8(b)) {
    fail(std::string(field) + ": invalid UTF-8");
    return {};
  }
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::uint32_t Reader::count(const char* field, std::size_t max, std::size_t min_elem_size) {
  std::uint32_t n = u32(field);
  if (!ok()) return 0;
  if (n > max) {
    fail(std::string(field) + ": count " + std::to_string(n) + " exceeds maximum " +
         std::to_string(max));
    return 0;
  }
  if (min_elem_size > 0 && n > remaining() / min_elem_size) {
    fail(std::string("truncated input reading ") + field + " (count " + std::to_string(n) + ")");
    return 0;
  }
  return n;
}

bool check_ascending(Reader& r, const char* field, const UniqueId* prev, const UniqueId& cur) {
  if (prev && !(*prev < cur))
    return r.fail(std::string(field) + ": not strictly ascending (unsorted or duplicate)");
  return true;
}

}  // namespace zipnet::proto
