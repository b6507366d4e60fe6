// Bond wire format of `mosaik/groups/1` (substrate.md §7.2): frame types, close codes,
// ClusterInfo, the handshake and the bond messages, and the admission proof
//   proof_X = KH(secret_digest, group_id ‖ e ‖ peer_id_X),
//   e = exporter("EXPORTER-mosaik-group-bond", context = group_id) (32 bytes).
// Pure (no I/O, no Asio): the codec is shared by group.cc and the unit tests.
#pragma once

#include <string>

#include "proto/codec.h"

namespace mosaik::groups {

using zipnet::proto::ByteArray;
using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;
using zipnet::proto::GroupId;
using zipnet::proto::PeerId;

/// 16-byte lineage id of one formation of a group (zero = not in a lineage yet).
using Lineage = ByteArray<16>;
bool is_zero(const Lineage& l);
std::string lineage_hex(const Lineage& l);
/// First 10 hex characters (logs).
std::string lineage_short(const Lineage& l);

inline constexpr const char* kBondExporterLabel = "EXPORTER-mosaik-group-bond";

/// KH(secret_digest, group_id ‖ e ‖ peer_id).
ByteArray<32> bond_proof(const ByteArray<32>& secret_digest, const GroupId& group_id,
                         const ByteArray<32>& exporter, const PeerId& peer_id);
/// Constant-time comparison (CRYPTO_memcmp).
bool proof_equal(const ByteArray<32>& a, const ByteArray<32>& b);

/// Close codes of the groups protocol (substrate.md §4).
enum class BondClose : std::uint16_t {
  InvalidHandshake = 30400,
  NotAllowed = 30403,
  GroupNotFound = 30404,
  InvalidProof = 30405,
  Timeout = 30408,
  AlreadyBonded = 30429,
};

/// Frame types on a bond (values private to mosaik/groups/1).
enum class BondFrame : std::uint8_t {
  HandshakeStart = 30,
  HandshakeEnd = 31,
  Ping = 32,
  Pong = 33,
  Departure = 34,
  PeerEntryUpdate = 35,
  ClusterUpdate = 36,
  RaftOpen = 37,
  RaftData = 38,
  RaftClose = 39,
  Forward = 40,
  ForwardAck = 41,
  Query = 42,
  QueryResult = 43,
  JoinRequest = 44,
  JoinResult = 45,
  RemoveRequest = 46,
  RemoveResult = 47,
};

inline constexpr std::size_t kMaxRaftData = 64 * 1024;
inline constexpr std::size_t kMaxCommand = 16 * 1024 * 1024 - 64;

struct ClusterInfo {
  Lineage lineage{};
  std::uint32_t voters = 0;
  std::uint64_t version = 0;
  std::uint64_t last_finalized_round = 0;
  bool has_leader = false;
  PeerId leader;
  std::uint64_t term = 0;
  bool may_form = false;
  void encode(zipnet::proto::Writer& w) const;
  static void decode_into(zipnet::proto::Reader& r, ClusterInfo& out);
  static zipnet::proto::DecodeResult<ClusterInfo> decode(ByteSpan in);
  friend bool operator==(const ClusterInfo&, const ClusterInfo&) = default;
};

struct HandshakeStart {
  GroupId group_id;
  ByteArray<32> proof{};
  ClusterInfo cluster;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<HandshakeStart> decode(ByteSpan in);
};

struct HandshakeEnd {
  ByteArray<32> proof{};
  ClusterInfo cluster;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<HandshakeEnd> decode(ByteSpan in);
};

struct RaftOpen {
  std::uint32_t conn = 0;
  Lineage lineage{};
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<RaftOpen> decode(ByteSpan in);
};

/// RaftData{conn, bytes}; decode returns a view into the frame payload.
struct RaftDataView {
  std::uint32_t conn = 0;
  ByteSpan data;
};
Bytes encode_raft_data(std::uint32_t conn, ByteSpan data);
zipnet::proto::DecodeResult<RaftDataView> decode_raft_data(ByteSpan in);

struct RaftClose {
  std::uint32_t conn = 0;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<RaftClose> decode(ByteSpan in);
};

struct Forward {
  std::uint64_t request_id = 0;
  Bytes command;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<Forward> decode(ByteSpan in);
};

/// Status byte of ForwardAck / QueryResult / JoinResult.
enum class ReplyStatus : std::uint8_t {
  Ok = 0,
  Offline = 1,      // no leader / not the leader any more
  Rejected = 2,     // the command failed (detail)
  NotLeader = 3,    // JoinResult: ask `leader`
  Removed = 4,      // JoinResult: the state machine removed this PeerId
  Retry = 5,        // JoinResult: not ready (forming); ask again later
};

struct ForwardAck {
  std::uint64_t request_id = 0;
  std::uint8_t status = 0;
  std::string detail;
  Bytes result;  // the command's own apply() result (extension of §7.2: completion returns it)
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<ForwardAck> decode(ByteSpan in);
};

struct QueryMsg {
  std::uint64_t request_id = 0;
  bool strong = false;
  Bytes query;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<QueryMsg> decode(ByteSpan in);
};

struct QueryResult {
  std::uint64_t request_id = 0;
  std::uint8_t status = 0;
  Bytes result;
  std::uint64_t version = 0;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<QueryResult> decode(ByteSpan in);
};

struct JoinRequest {
  std::uint64_t raft_id = 0;
  bool has_state = false;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<JoinRequest> decode(ByteSpan in);
};

struct JoinResult {
  std::uint8_t status = 0;
  PeerId leader;
  Lineage lineage{};
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<JoinResult> decode(ByteSpan in);
};

/// RemoveRequest{peer_id} (substrate.md §7.2): sent to the leader by a member or by
/// `zipnet committee remove` (a non-voting holder of the secret); one outstanding per bond.
struct RemoveRequest {
  PeerId peer_id;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<RemoveRequest> decode(ByteSpan in);
};

/// RemoveResult{status} (+ `leader` when status is NotLeader, `detail` when Rejected: an
/// extension of §7.2 so the caller can follow the leader and report why).
struct RemoveResult {
  std::uint8_t status = 0;
  PeerId leader;
  std::string detail;
  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<RemoveResult> decode(ByteSpan in);
};

}  // namespace mosaik::groups
