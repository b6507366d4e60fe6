// The canonical codec (protocol.md §7.1): fixed-width little-endian, no varints, u32 length
// prefixes, strictly ascending sets/maps, u8 enum tags. One Writer and one Reader, used by every
// wire type in every layer. The Reader is bounded: it never reads past its input, never
// allocates more than a field's declared maximum, and reports the first error with the field
// name ("truncated input reading LiveRound.servers").
#pragma once

#include <string>
#include <tl/expected.hpp>

#include "proto/bytes.h"
#include "proto/unique_id.h"

namespace zipnet::proto {

struct DecodeError {
  std::string message;
};
template <class T>
using DecodeResult = tl::expected<T, DecodeError>;

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void u64(std::uint64_t v);
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void fixed(ByteSpan v) { append(out_, v); }
  void id(const UniqueId& v) { fixed(v.span()); }
  void bytes(ByteSpan v);
  void string(std::string_view v);
  Bytes& buffer() { return out_; }

 private:
  Bytes& out_;
};

class Reader {
 public:
  explicit Reader(ByteSpan in) : in_(in) {}

  std::uint8_t u8(const char* field);
  std::uint16_t u16(const char* field);
  std::uint32_t u32(const char* field);
  std::uint64_t u64(const char* field);
  std::int64_t i64(const char* field) { return static_cast<std::int64_t>(u64(field)); }
  bool boolean(const char* field);
  /// A fixed-size array (no length prefix); zero-copy view.
  ByteSpan fixed(const char* field, std::size_t n);
  template <std::size_t N>
  ByteArray<N> array(const char* field) {
    ByteArray<N> a{};
    ByteSpan s = fixed(field, N);
    if (!s.empty()) std::copy(s.begin(), s.end(), a.begin());
    return a;
  }
  UniqueId id(const char* field);
  /// u32 length ‖ bytes, at most `max` bytes; zero-copy view into the input.
  ByteSpan bytes(const char* field, std::size_t max);
  /// u32 length ‖ UTF-8 (validated), at most `max` bytes.
  std::string string(const char* field, std::size_t max);
  /// u32 element count, at most `max` and at most remaining() / min_elem_size (so a hostile
  /// count can never trigger a large allocation).
  std::uint32_t count(const char* field, std::size_t max, std::size_t min_elem_size);

  /// Records an error (the first one wins) and returns false.
  bool fail(std::string message);
  bool ok() const { return !error_; }
  std::size_t remaining() const { return in_.size() - pos_; }
  std::size_t position() const { return pos_; }
  ByteSpan consumed_since(std::size_t start) const { return in_.subspan(start, pos_ - start); }
  const std::string& error() const { return *error_; }

  /// Completes a decode: rejects trailing bytes, returns the first error if any.
  template <class T>
  DecodeResult<T> finish(T&& value, const char* type) {
    if (ok() && pos_ != in_.size())
      fail(std::string("trailing bytes after ") + type + " (" + std::to_string(in_.size() - pos_) +
           " extra)");
    if (!ok()) return tl::unexpected(DecodeError{*error_});
    return std::forward<T>(value);
  }

 private:
  const std::uint8_t* take(const char* field, std::size_t n);
  ByteSpan in_;
  std::size_t pos_ = 0;
  std::optional<std::string> error_;
};

/// Checks that consecutive ids are strictly ascending (sorted sets and map keys).
bool check_ascending(Reader& r, const char* field, const UniqueId* prev, const UniqueId& cur);

/// Encodes any type with `void encode(Writer&) const` into a fresh buffer.
template <class T>
Bytes encode(const T& value) {
  Bytes out;
  Writer w(out);
  value.encode(w);
  return out;
}

}  // namespace zipnet::proto
