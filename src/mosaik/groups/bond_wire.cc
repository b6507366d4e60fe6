#include "mosaik/groups/bond_wire.h"

#include <openssl/crypto.h>

#include "proto/blake3.h"
#include "proto/hex.h"

namespace mosaik::groups {

using zipnet::proto::DecodeResult;
using zipnet::proto::Reader;
using zipnet::proto::Writer;

bool is_zero(const Lineage& l) {
  for (auto b : l)
    if (b) return false;
  return true;
}

std::string lineage_hex(const Lineage& l) { return zipnet::proto::to_hex(ByteSpan(l.data(), l.size())); }
std::string lineage_short(const Lineage& l) { return lineage_hex(l).substr(0, 10); }

ByteArray<32> bond_proof(const ByteArray<32>& secret_digest, const GroupId& group_id,
                         const ByteArray<32>& exporter, const PeerId& peer_id) {
  Bytes msg;
  msg.reserve(96);
  msg.insert(msg.end(), group_id.span().begin(), group_id.span().end());
  msg.insert(msg.end(), exporter.begin(), exporter.end());
  msg.insert(msg.end(), peer_id.span().begin(), peer_id.span().end());
  return zipnet::proto::blake3_keyed(secret_digest, msg);
}

bool proof_equal(const ByteArray<32>& a, const ByteArray<32>& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---------------------------------------------------------------------------------------------

void ClusterInfo::encode(Writer& w) const {
  w.fixed(ByteSpan(lineage.data(), lineage.size()));
  w.u32(voters);
  w.u64(version);
  w.u64(last_finalized_round);
  w.boolean(has_leader);
  w.id(leader);
  w.u64(term);
  w.boolean(may_form);
}

void ClusterInfo::decode_into(Reader& r, ClusterInfo& c) {
  c.lineage = r.array<16>("ClusterInfo.lineage");
  c.voters = r.u32("ClusterInfo.voters");
  c.version = r.u64("ClusterInfo.version");
  c.last_finalized_round = r.u64("ClusterInfo.last_finalized_round");
  c.has_leader = r.boolean("ClusterInfo.has_leader");
  c.leader = r.id("ClusterInfo.leader");
  c.term = r.u64("ClusterInfo.term");
  c.may_form = r.boolean("ClusterInfo.may_form");
}

DecodeResult<ClusterInfo> ClusterInfo::decode(ByteSpan in) {
  Reader r(in);
  ClusterInfo c;
  decode_into(r, c);
  return r.finish(std::move(c), "ClusterInfo");
}

void HandshakeStart::encode(Writer& w) const {
  w.id(group_id);
  w.fixed(ByteSpan(proof.data(), proof.size()));
  cluster.encode(w);
}

DecodeResult<HandshakeStart> HandshakeStart::decode(ByteSpan in) {
  Reader r(in);
  HandshakeStart h;
  h.group_id = r.id("HandshakeStart.group_id");
  h.proof = r.array<32>("HandshakeStart.proof");
  ClusterInfo::decode_into(r, h.cluster);
  return r.finish(std::move(h), "HandshakeStart");
}

void HandshakeEnd::encode(Writer& w) const {
  w.fixed(ByteSpan(proof.data(), proof.size()));
  cluster.encode(w);
}

DecodeResult<HandshakeEnd> HandshakeEnd::decode(ByteSpan in) {
  Reader r(in);
  HandshakeEnd h;
  h.proof = r.array<32>("HandshakeEnd.proof");
  ClusterInfo::decode_into(r, h.cluster);
  return r.finish(std::move(h), "HandshakeEnd");
}

void RaftOpen::encode(Writer& w) const {
  w.u32(conn);
  w.fixed(ByteSpan(lineage.data(), lineage.size()));
}

DecodeResult<RaftOpen> RaftOpen::decode(ByteSpan in) {
  Reader r(in);
  RaftOpen o;
  o.conn = r.u32("RaftOpen.conn");
  o.lineage = r.array<16>("RaftOpen.lineage");
  return r.finish(std::move(o), "RaftOpen");
}

Bytes encode_raft_data(std::uint32_t conn, ByteSpan data) {
  Bytes out;
  out.reserve(8 + data.size());
  Writer w(out);
  w.u32(conn);
  w.bytes(data);
  return out;
}

DecodeResult<RaftDataView> decode_raft_data(ByteSpan in) {
  Reader r(in);
  RaftDataView v;
  v.conn = r.u32("RaftData.conn");
  v.data = r.bytes("RaftData.bytes", kMaxRaftData);
  return r.finish(std::move(v), "RaftData");
}

void RaftClose::encode(Writer& w) const { w.u32(conn); }

DecodeResult<RaftClose> RaftClose::decode(ByteSpan in) {
  Reader r(in);
  RaftClose c;
  c.conn = r.u32("RaftClose.conn");
  return r.finish(std::move(c), "RaftClose");
}

void Forward::encode(Writer& w) const {
  w.u64(request_id);
  w.bytes(command);
}

DecodeResult<Forward> Forward::decode(ByteSpan in) {
  Reader r(in);
  Forward f;
  f.request_id = r.u64("Forward.request_id");
  auto c = r.bytes("Forward.command", kMaxCommand);
  f.command.assign(c.begin(), c.end());
  return r.finish(std::move(f), "Forward");
}

void ForwardAck::encode(Writer& w) const {
  w.u64(request_id);
  w.u8(status);
  w.string(detail);
  w.bytes(result);
}

DecodeResult<ForwardAck> ForwardAck::decode(ByteSpan in) {
  Reader r(in);
  ForwardAck a;
  a.request_id = r.u64("ForwardAck.request_id");
  a.status = r.u8("ForwardAck.status");
  a.detail = r.string("ForwardAck.detail", 4096);
  auto b = r.bytes("ForwardAck.result", kMaxCommand);
  a.result.assign(b.begin(), b.end());
  return r.finish(std::move(a), "ForwardAck");
}

void QueryMsg::encode(Writer& w) const {
  w.u64(request_id);
  w.boolean(strong);
  w.bytes(query);
}

DecodeResult<QueryMsg> QueryMsg::decode(ByteSpan in) {
  Reader r(in);
  QueryMsg q;
  q.request_id = r.u64("Query.request_id");
  q.strong = r.boolean("Query.strong");
  auto b = r.bytes("Query.query", kMaxCommand);
  q.query.assign(b.begin(), b.end());
  return r.finish(std::move(q), "Query");
}

void QueryResult::encode(Writer& w) const {
  w.u64(request_id);
  w.u8(status);
  w.bytes(result);
  w.u64(version);
}

DecodeResult<QueryResult> QueryResult::decode(ByteSpan in) {
  Reader r(in);
  QueryResult q;
  q.request_id = r.u64("QueryResult.request_id");
  q.status = r.u8("QueryResult.status");
  auto b = r.bytes("QueryResult.result", kMaxCommand);
  q.result.assign(b.begin(), b.end());
  q.version = r.u64("QueryResult.version");
  return r.finish(std::move(q), "QueryResult");
}

void JoinRequest::encode(Writer& w) const {
  w.u64(raft_id);
  w.boolean(has_state);
}

DecodeResult<JoinRequest> JoinRequest::decode(ByteSpan in) {
  Reader r(in);
  JoinRequest j;
  j.raft_id = r.u64("JoinRequest.raft_id");
  j.has_state = r.boolean("JoinRequest.has_state");
  return r.finish(std::move(j), "JoinRequest");
}

void JoinResult::encode(Writer& w) const {
  w.u8(status);
  w.id(leader);
  w.fixed(ByteSpan(lineage.data(), lineage.size()));
}

DecodeResult<JoinResult> JoinResult::decode(ByteSpan in) {
  Reader r(in);
  JoinResult j;
  j.status = r.u8("JoinResult.status");
  j.leader = r.id("JoinResult.leader");
  j.lineage = r.array<16>("JoinResult.lineage");
  return r.finish(std::move(j), "JoinResult");
}

void RemoveRequest::encode(Writer& w) const { w.id(peer_id); }

DecodeResult<RemoveRequest> RemoveRequest::decode(ByteSpan in) {
  Reader r(in);
  RemoveRequest q;
  q.peer_id = r.id("RemoveRequest.peer_id");
  return r.finish(std::move(q), "RemoveRequest");
}

void RemoveResult::encode(Writer& w) const {
  w.u8(status);
  w.id(leader);
  w.string(detail);
}

DecodeResult<RemoveResult> RemoveResult::decode(ByteSpan in) {
  Reader r(in);
  RemoveResult q;
  q.status = r.u8("RemoveResult.status");
  q.leader = r.id("RemoveResult.leader");
  q.detail = r.string("RemoveResult.detail", 1024);
  return r.finish(std::move(q), "RemoveResult");
}

}  // namespace mosaik::groups
