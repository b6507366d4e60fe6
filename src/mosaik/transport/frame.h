// Transport framing (substrate.md §4): u32 LE length ‖ body, body = u8 frame type ‖ payload,
// bounded by a per-protocol maximum. Plus the handshake messages Hello / HelloAck / Close.
// Pure (no I/O): the Link reads with it and fuzz/frame_fuzz.cc hammers it.
#pragma once

#include <deque>
#include <optional>
#include <string>

#include "proto/codec.h"

namespace mosaik::transport {

using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;

inline constexpr std::size_t kDefaultMaxFrame = 16 * 1024 * 1024;
inline constexpr std::uint16_t kHelloVersion = 1;

enum class FrameType : std::uint8_t {
  Hello = 1,
  HelloAck = 2,
  Close = 3,
  // mosaik/discovery/1
  Sync = 10,
  Announce = 11,
  Depart = 12,
  Ping = 13,
  Pong = 14,
  // mosaik/streams/1
  StartStream = 20,
  Datum = 21,
};

struct Frame {
  std::uint8_t type = 0;
  Bytes payload;
};

/// Whole frame on the wire: length ‖ type ‖ payload.
Bytes encode_frame(FrameType type, ByteSpan payload);
/// Validates a body length read from the 4-byte header; error text when unacceptable.
std::optional<std::string> check_frame_length(std::uint32_t body_len, std::size_t max_frame);

/// Incremental decoder: feed bytes, pop complete frames. After an error it stays failed.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_frame = kDefaultMaxFrame) : max_(max_frame) {}
  void feed(ByteSpan data);
  /// Next complete frame, or nullopt (need more input, or failed: see error()).
  std::optional<Frame> next();
  const std::optional<std::string>& error() const { return error_; }

 private:
  std::size_t max_;
  Bytes buf_;
  std::size_t pos_ = 0;
  std::optional<std::string> error_;
};

struct Hello {
  std::uint16_t version = kHelloVersion;
  zipnet::proto::NetworkId network;
  Bytes channel;  // StreamId bytes for streams, empty for discovery
  static constexpr std::size_t kMaxChannel = 1024;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<Hello> decode(ByteSpan in);
};

struct CloseMsg {
  std::uint16_t code = 0;
  std::string reason;
  static constexpr std::size_t kMaxReason = 4096;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<CloseMsg> decode(ByteSpan in);
};

/// Human-readable name of a close code ("DifferentNetwork"); "Code<n>" when unknown.
std::string close_code_name(std::uint16_t code);

}  // namespace mosaik::transport
