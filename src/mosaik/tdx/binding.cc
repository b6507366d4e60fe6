#include "mosaik/tdx/binding.h"

#include <algorithm>

namespace mosaik::tdx {

using zipnet::proto::le64;
using zipnet::proto::UniqueId;

void TdxExtra::encode(zipnet::proto::Writer& w) const {
  w.id(peer_id);
  w.id(network_id);
  w.i64(started_at);
  w.i64(quoted_at);
  w.i64(expiration);
}

TdxExtra TdxExtra::decode(zipnet::proto::Reader& r) {
  TdxExtra e;
  e.peer_id = r.id("TdxExtra.peer_id");
  e.network_id = r.id("TdxExtra.network_id");
  e.started_at = r.i64("TdxExtra.started_at");
  e.quoted_at = r.i64("TdxExtra.quoted_at");
  e.expiration = r.i64("TdxExtra.expiration");
  return e;
}

void TdxTicket::encode(zipnet::proto::Writer& w) const {
  w.bytes(quote);
  extra.encode(w);
}

zipnet::proto::DecodeResult<TdxTicket> TdxTicket::decode(ByteSpan data) {
  zipnet::proto::Reader r(data);
  TdxTicket t;
  ByteSpan q = r.bytes("TdxTicket.quote", kMaxTicketQuote);
  t.quote.assign(q.begin(), q.end());
  t.extra = TdxExtra::decode(r);
  return r.finish(std::move(t), "TdxTicket");
}

ByteArray<64> report_data_for(const TdxExtra& e) {
  static const UniqueId kBase = UniqueId::from("mosaik.tdx.ticket.extra");
  const ByteArray<8> never{};
  auto exp = e.expiration == kNever ? never : le64(static_cast<std::uint64_t>(e.expiration));
  UniqueId id = kBase.derive(e.peer_id)
                    .derive(e.network_id)
                    .derive_bytes(le64(static_cast<std::uint64_t>(e.started_at)))
                    .derive_bytes(le64(static_cast<std::uint64_t>(e.quoted_at)))
                    .derive_bytes(exp);
  ByteArray<64> out{};
  std::copy(id.bytes().begin(), id.bytes().end(), out.begin());
  return out;
}

}  // namespace mosaik::tdx
