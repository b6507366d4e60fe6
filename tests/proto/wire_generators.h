// rapidcheck Arbitrary generators for every wire type of protocol.md §7.2 / §9.3 and
// substrate.md §5.1, shared by codec_test.cc and wire_test.cc. Generated values are always
// *valid* (sorted sets, matching ticket ids, real signatures, canonical participant sets) so
// decode(encode(x)) == x must hold; sizes stay small so properties run fast.
#pragma once

#include <rapidcheck.h>

#include <algorithm>
#include <memory>
#include <set>

#include "proto/ed25519.h"
#include "proto/wire.h"

namespace zipnet::proto::testgen {

/// Bytes of a length in [0, max_len].
inline rc::Gen<Bytes> bytes_upto(std::size_t max_len) {
  return rc::gen::exec([max_len] {
    auto n = *rc::gen::inRange<std::size_t>(0, max_len + 1);
    return *rc::gen::container<Bytes>(n, rc::gen::arbitrary<std::uint8_t>());
  });
}

inline rc::Gen<UniqueId> unique_id() {
  return rc::gen::map(rc::gen::arbitrary<ByteArray<32>>(),
                      [](const ByteArray<32>& a) { return UniqueId(a); });
}

/// A strictly ascending vector of distinct ids (at most max_n).
inline rc::Gen<std::vector<UniqueId>> sorted_ids(std::size_t max_n) {
  return rc::gen::exec([max_n] {
    auto n = *rc::gen::inRange<std::size_t>(0, max_n + 1);
    std::set<UniqueId> s;
    for (std::size_t i = 0; i < n; ++i) s.insert(*unique_id());
    return std::vector<UniqueId>(s.begin(), s.end());
  });
}

inline rc::Gen<RoundParams> round_params() {
  return rc::gen::exec([] {
    RoundParams p;
    p.num_slots = *rc::gen::inRange<std::uint32_t>(1, 70000);
    p.slot_bytes = *rc::gen::arbitrary<std::uint32_t>();
    p.tag_len = *rc::gen::arbitrary<std::uint32_t>();
    return p;  // the codec carries any shape; only wire_version is checked on decode
  });
}

/// A small pool of deterministic signing keys (Ed25519 key setup is not free).
inline const SigningKey& signing_key(std::size_t i) {
  static const std::vector<std::shared_ptr<SigningKey>> keys = [] {
    std::vector<std::shared_ptr<SigningKey>> v;
    for (int k = 0; k < 4; ++k)
      v.push_back(std::make_shared<SigningKey>(
          Secret32(UniqueId::from("wire-generators-key-" + std::to_string(k)).bytes())));
    return v;
  }();
  return *keys[i % keys.size()];
}

/// Valid UTF-8 of at most max_bytes bytes (ASCII plus 2-, 3- and 4-byte code points).
inline rc::Gen<std::string> utf8_string(std::size_t max_bytes) {
  return rc::gen::exec([max_bytes] {
    static const std::string kPieces[] = {"a", "z", "0", "/", ".", "-", "\xc3\xa9",
                                          "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f", "\xc2\x80"};
    auto n = *rc::gen::inRange<std::size_t>(0, 40);
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& piece = kPieces[*rc::gen::inRange<std::size_t>(0, std::size(kPieces))];
      if (s.size() + piece.size() > max_bytes) break;
      s += piece;
    }
    return s;
  });
}

inline rc::Gen<SocketAddr> socket_addr() {
  return rc::gen::exec([] {
    SocketAddr a;
    a.family = *rc::gen::element(std::uint8_t{4}, std::uint8_t{6});
    a.ip = *rc::gen::arbitrary<ByteArray<16>>();
    if (a.family == 4) std::fill(a.ip.begin() + 4, a.ip.end(), 0);  // only 4 bytes travel
    a.port = *rc::gen::arbitrary<std::uint16_t>();
    return a;
  });
}

inline rc::Gen<PeerEntry> peer_entry(std::size_t key_index) {
  return rc::gen::exec([key_index] {
    PeerEntry e;
    e.protocol = *utf8_string(PeerEntry::kMaxProtocol);
    e.network = *unique_id();
    e.start_ms = *rc::gen::arbitrary<std::int64_t>();
    e.update_ms = *rc::gen::arbitrary<std::int64_t>();
    e.peer_id = signing_key(key_index).peer_id();
    auto na = *rc::gen::inRange<std::size_t>(0, 4);
    for (std::size_t i = 0; i < na; ++i) e.addrs.push_back(*socket_addr());
    for (auto* set : {&e.tags, &e.streams, &e.groups, &e.stores})
      for (const auto& id : *sorted_ids(3)) set->insert(id);
    auto nt = *rc::gen::inRange<std::size_t>(0, 3);
    for (std::size_t i = 0; i < nt; ++i) e.add_ticket(Ticket{*unique_id(), *bytes_upto(100)});
    return e;
  });
}

inline rc::Gen<SignedPeerEntry> signed_peer_entry() {
  return rc::gen::exec([] {
    auto k = *rc::gen::inRange<std::size_t>(0, 4);
    return SignedPeerEntry::sign(*peer_entry(k), signing_key(k));
  });
}

/// A canonical participant set for a roster of n ≤ 200.
inline rc::Gen<ParticipantSet> participant_set() {
  return rc::gen::exec([] {
    auto n = *rc::gen::inRange<std::uint32_t>(0, 200);
    std::vector<std::uint32_t> idx;
    // Either sparse (form 0 likely) or dense (form 1 likely).
    bool dense = *rc::gen::arbitrary<bool>();
    for (std::uint32_t i = 0; i < n; ++i)
      if (*rc::gen::inRange(0, dense ? 2 : 40) == 0) idx.push_back(i);
    return ParticipantSet::canonical(n, std::move(idx));
  });
}

inline rc::Gen<ServerBundle> server_bundle() {
  return rc::gen::exec([] {
    auto k = *rc::gen::inRange<std::size_t>(0, 4);
    if (*rc::gen::arbitrary<bool>())
      return ServerBundle::sign(*unique_id(), signing_key(k), *rc::gen::arbitrary<ByteArray<32>>(),
                                *rc::gen::arbitrary<std::int64_t>());
    ServerBundle b;  // the codec does not verify bundle signatures (the committee does)
    b.instance = *unique_id();
    b.server_id = *unique_id();
    b.dh_pub = *rc::gen::arbitrary<ByteArray<32>>();
    b.issued_at_ms = *rc::gen::arbitrary<std::int64_t>();
    b.signature = *rc::gen::arbitrary<Signature>();
    return b;
  });
}

inline rc::Gen<UnregisterReason> unregister_reason() {
  return rc::gen::element(UnregisterReason::departed, UnregisterReason::purged,
                          UnregisterReason::ticket_expired);
}

inline rc::Gen<AggregateEnvelope> aggregate_envelope() {
  return rc::gen::exec([] {
    AggregateEnvelope a;
    a.round = *rc::gen::arbitrary<std::uint64_t>();
    a.roster_digest = *unique_id();
    a.participants = *participant_set();
    a.payload = *bytes_upto(300);
    return a;
  });
}

inline rc::Gen<PartialUnblind> partial_unblind() {
  return rc::gen::exec([] {
    PartialUnblind p;
    p.round = *rc::gen::arbitrary<std::uint64_t>();
    p.server_id = *unique_id();
    p.payload = *bytes_upto(300);
    p.signature = *rc::gen::arbitrary<Signature>();
    return p;
  });
}

/// A command with the given tag (1..9).
inline rc::Gen<Command> command_with_tag(int tag) {
  return rc::gen::exec([tag]() -> Command {
    switch (tag) {
      case 1:
        return FormCmd{*rc::gen::arbitrary<Lineage>(), *unique_id(),
                       *rc::gen::arbitrary<std::int64_t>()};
      case 2: return RegisterServerCmd{*server_bundle()};
      case 3: return DeregisterServerCmd{*unique_id()};
      case 4: return RegisterClientCmd{*signed_peer_entry(), *rc::gen::arbitrary<std::int64_t>()};
      case 5: {
        UnregisterClientsCmd c;
        auto n = *rc::gen::inRange<std::size_t>(0, 6);
        for (std::size_t i = 0; i < n; ++i) c.client_ids.push_back(*unique_id());
        c.reason = *unregister_reason();
        return c;
      }
      case 6: {
        OpenRoundCmd c;
        c.round = *rc::gen::arbitrary<std::uint64_t>();
        c.opened_at_ms = *rc::gen::arbitrary<std::int64_t>();
        c.servers = *sorted_ids(5);
        return c;
      }
      case 7: return SubmitAggregateCmd{*aggregate_envelope()};
      case 8: return SubmitPartialCmd{*partial_unblind()};
      default: return YieldCmd{*rc::gen::arbitrary<Lineage>()};
    }
  });
}

}  // namespace zipnet::proto::testgen

namespace rc {

template <>
struct Arbitrary<zipnet::proto::UniqueId> {
  static Gen<zipnet::proto::UniqueId> arbitrary() { return zipnet::proto::testgen::unique_id(); }
};

template <>
struct Arbitrary<zipnet::proto::RoundParams> {
  static Gen<zipnet::proto::RoundParams> arbitrary() {
    return zipnet::proto::testgen::round_params();
  }
};

template <>
struct Arbitrary<zipnet::proto::LiveRound> {
  static Gen<zipnet::proto::LiveRound> arbitrary() {
    using namespace zipnet::proto;
    return gen::exec([] {
      LiveRound h;
      h.round = *gen::arbitrary<std::uint64_t>();
      h.opened_at_ms = *gen::arbitrary<std::int64_t>();
      h.open_version = *gen::arbitrary<std::uint64_t>();
      h.params = *testgen::round_params();
      h.min_participants = *gen::arbitrary<std::uint32_t>();
      for (const auto& id : *testgen::sorted_ids(6))
        h.servers.push_back(ServerEntry{id, *gen::arbitrary<ByteArray<32>>()});
      h.roster_len = *gen::arbitrary<std::uint32_t>();
      h.roster_digest = *testgen::unique_id();
      return h;
    });
  }
};

template <>
struct Arbitrary<zipnet::proto::ClientEnvelope> {
  static Gen<zipnet::proto::ClientEnvelope> arbitrary() {
    using namespace zipnet::proto;
    return gen::exec([] {
      ClientEnvelope e;
      e.round = *gen::arbitrary<std::uint64_t>();
      e.client_id = *testgen::unique_id();
      e.payload = *testgen::bytes_upto(300);
      return e;
    });
  }
};

template <>
struct Arbitrary<zipnet::proto::ParticipantSet> {
  static Gen<zipnet::proto::ParticipantSet> arbitrary() {
    return zipnet::proto::testgen::participant_set();
  }
};

template <>
struct Arbitrary<zipnet::proto::AggregateEnvelope> {
  static Gen<zipnet::proto::AggregateEnvelope> arbitrary() {
    return zipnet::proto::testgen::aggregate_envelope();
  }
};

template <>
struct Arbitrary<zipnet::proto::PartialUnblind> {
  static Gen<zipnet::proto::PartialUnblind> arbitrary() {
    return zipnet::proto::testgen::partial_unblind();
  }
};

template <>
struct Arbitrary<zipnet::proto::BroadcastRecord> {
  static Gen<zipnet::proto::BroadcastRecord> arbitrary() {
    using namespace zipnet::proto;
    return gen::exec([] {
      BroadcastRecord b;
      b.round = *gen::arbitrary<std::uint64_t>();
      b.opened_at_ms = *gen::arbitrary<std::int64_t>();
      b.finalized_version = *gen::arbitrary<std::uint64_t>();
      b.params = *testgen::round_params();
      b.participants = *gen::arbitrary<std::uint32_t>();
      b.servers = *testgen::sorted_ids(6);
      b.payload = *testgen::bytes_upto(300);
      return b;
    });
  }
};

template <>
struct Arbitrary<zipnet::proto::ClientBundle> {
  static Gen<zipnet::proto::ClientBundle> arbitrary() {
    using namespace zipnet::proto;
    return gen::exec([] {
      return ClientBundle{*testgen::unique_id(), *testgen::unique_id(),
                          *gen::arbitrary<ByteArray<32>>()};
    });
  }
};

template <>
struct Arbitrary<zipnet::proto::ServerBundle> {
  static Gen<zipnet::proto::ServerBundle> arbitrary() {
    return zipnet::proto::testgen::server_bundle();
  }
};

template <>
struct Arbitrary<zipnet::proto::ClientRecord> {
  static Gen<zipnet::proto::ClientRecord> arbitrary() {
    using namespace zipnet::proto;
    return gen::exec([] {
      ClientRecord c;
      c.client_id = *testgen::unique_id();
      c.dh_pub = *gen::arbitrary<ByteArray<32>>();
      c.peer_id = *testgen::unique_id();
      c.registered_version = *gen::arbitrary<std::uint64_t>();
      c.expires_at_ms = *gen::arbitrary<std::int64_t>();
      return c;
    });
  }
};

template <>
struct Arbitrary<zipnet::proto::SignedPeerEntry> {
  static Gen<zipnet::proto::SignedPeerEntry> arbitrary() {
    return zipnet::proto::testgen::signed_peer_entry();
  }
};

template <>
struct Arbitrary<zipnet::proto::PeerEntry> {
  static Gen<zipnet::proto::PeerEntry> arbitrary() {
    return gen::exec([] {
      return *zipnet::proto::testgen::peer_entry(*gen::inRange<std::size_t>(0, 4));
    });
  }
};

template <>
struct Arbitrary<zipnet::proto::RegistrationMsg> {
  static Gen<zipnet::proto::RegistrationMsg> arbitrary() {
    using namespace zipnet::proto;
    return gen::exec([] {
      RegistrationMsg m;
      if (*gen::arbitrary<bool>()) {
        m.msg = RegisterMsg{*testgen::signed_peer_entry()};
      } else {
        m.msg = UnregisterMsg{*testgen::unique_id(), *testgen::unique_id(),
                              *testgen::unregister_reason()};
      }
      return m;
    });
  }
};

template <>
struct Arbitrary<zipnet::proto::LogEntry> {
  static Gen<zipnet::proto::LogEntry> arbitrary() {
    using namespace zipnet::proto;
    return gen::exec([] {
      return LogEntry{*testgen::command_with_tag(*gen::inRange(1, 10))};
    });
  }
};

}  // namespace rc
