// Fuzz target: the mosaik frame decoder and every message decoder behind it (Hello, Close,
// Sync, Announce, Depart, Ping, Pong). Any input must decode or fail cleanly: never crash,
// never allocate beyond the frame maximum.
#include "fuzz_seeds.h"
#include "mosaik/discovery/messages.h"
#include "mosaik/transport/frame.h"

using namespace mosaik;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  transport::FrameDecoder d(64 * 1024);
  // Feed in two pieces to exercise partial frames.
  std::size_t half = size / 2;
  d.feed({data, half});
  d.feed({data + half, size - half});
  while (auto f = d.next()) {
    zipnet::proto::ByteSpan p = f->payload;
    switch (static_cast<transport::FrameType>(f->type)) {
      case transport::FrameType::Hello: (void)transport::Hello::decode(p); break;
      case transport::FrameType::Close: (void)transport::CloseMsg::decode(p); break;
      case transport::FrameType::Sync: (void)discovery::SyncMsg::decode(p); break;
      case transport::FrameType::Announce: (void)discovery::AnnounceMsg::decode(p); break;
      case transport::FrameType::Depart: (void)discovery::DepartMsg::decode(p); break;
      case transport::FrameType::Ping: (void)discovery::PingMsg::decode(p); break;
      case transport::FrameType::Pong: (void)discovery::PongMsg::decode(p); break;
      default: break;
    }
  }
  return 0;
}

void zipnet_fuzz_seeds(std::vector<std::vector<std::uint8_t>>& out) {
  using transport::encode_frame;
  using transport::FrameType;
  transport::Hello h;
  h.network = zipnet::proto::UniqueId::from("mosaik.universe");
  h.channel = {1, 2, 3};
  out.push_back(encode_frame(FrameType::Hello, zipnet::proto::encode(h)));
  transport::CloseMsg c{101, "different network"};
  out.push_back(encode_frame(FrameType::Close, zipnet::proto::encode(c)));
  zipnet::proto::SigningKey k(zipnet::proto::Secret32::random());
  zipnet::proto::PeerEntry e;
  e.protocol = "zipnet-cpp/0.1.0";
  e.peer_id = k.peer_id();
  auto se = zipnet::proto::SignedPeerEntry::sign(e, k);
  discovery::SyncMsg s;
  s.entries.push_back(se);
  out.push_back(encode_frame(FrameType::Sync, s.encode()));
  out.push_back(encode_frame(FrameType::Announce, discovery::AnnounceMsg::encode(se)));
  discovery::DepartMsg dm;
  dm.peer_id = k.peer_id();
  dm.sign(k);
  out.push_back(encode_frame(FrameType::Depart, dm.encode()));
  discovery::PingMsg pg{7, 8};
  auto both = encode_frame(FrameType::Ping, pg.encode());
  auto more = encode_frame(FrameType::Datum, std::vector<std::uint8_t>(10, 1));
  both.insert(both.end(), more.begin(), more.end());
  out.push_back(both);
}
