#include "mosaik/transport/frame.h"

namespace mosaik::transport {

using zipnet::proto::Reader;
using zipnet::proto::Writer;

Bytes encode_frame(FrameType type, ByteSpan payload) {
  Bytes out;
  out.reserve(5 + payload.size());
  out.resize(4);
  zipnet::proto::put_le32(out.data(), static_cast<std::uint32_t>(payload.size() + 1));
  out.push_back(static_cast<std::uint8_t>(type));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::optional<std::string> check_frame_length(std::uint32_t body_len, std::size_t max_frame) {
  if (body_len == 0) return std::string("empty frame (no type byte)");
  if (body_len > max_frame)
    return "oversized frame: " + std::to_string(body_len) + " > " + std::to_string(max_frame) + " bytes";
  return std::nullopt;
}

void FrameDecoder::feed(ByteSpan data) {
  if (error_) return;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
}

std::optional<Frame> FrameDecoder::next() {
  if (error_) return std::nullopt;
  std::size_t avail = buf_.size() - pos_;
  if (avail < 4) return std::nullopt;
  std::uint32_t len = zipnet::proto::get_le32(buf_.data() + pos_);
  if (auto err = check_frame_length(len, max_)) {
    error_ = std::move(err);
    return std::nullopt;
  }
  if (avail - 4 < len) return std::nullopt;
  Frame f;
  f.type = buf_[pos_ + 4];
  f.payload.assign(buf_.begin() + static_cast<std::ptrdiff_t>(pos_ + 5),
                   buf_.begin() + static_cast<std::ptrdiff_t>(pos_ + 4 + len));
  pos_ += 4 + len;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return f;
}

void Hello::encode(Writer& w) const {
  w.u16(version);
  w.id(network);
  w.bytes(channel);
}

zipnet::proto::DecodeResult<Hello> Hello::decode(ByteSpan in) {
  Reader r(in);
  Hello h;
  h.version = r.u16("Hello.version");
  h.network = r.id("Hello.network_id");
  auto ch = r.bytes("Hello.channel", kMaxChannel);
  h.channel.assign(ch.begin(), ch.end());
  if (r.ok() && h.version != kHelloVersion) r.fail("unsupported Hello.version " + std::to_string(h.version));
  return r.finish(std::move(h), "Hello");
}

void CloseMsg::encode(Writer& w) const {
  w.u16(code);
  w.string(reason);
}

zipnet::proto::DecodeResult<CloseMsg> CloseMsg::decode(ByteSpan in) {
  Reader r(in);
  CloseMsg c;
  c.code = r.u16("Close.code");
  c.reason = r.string("Close.reason", kMaxReason);
  return r.finish(std::move(c), "Close");
}

std::string close_code_name(std::uint16_t code) {
  switch (code) {
    case 200: return "Success";
    case 204: return "GracefulShutdown";
    case 100: return "InvalidAlpn";
    case 101: return "DifferentNetwork";
    case 102: return "Cancelled";
    case 103: return "UnexpectedClose";
    case 400: return "ProtocolViolation";
    case 401: return "UnknownPeer";
    case 10403: return "NotAllowed";
    case 10404: return "StreamNotFound";
    case 10413: return "TooSlow";
    case 10509: return "NoCapacity";
    default: return "Code" + std::to_string(code);
  }
}

}  // namespace mosaik::transport
