// mosaik::Network (substrate.md §3): one per process (tests run many). Owns the io_context and
// the single network thread, the TLS identity, the listener, Discovery and Streams. All public
// methods are thread-safe; they post to the network thread. Asio stays behind the pimpl.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mosaik/discovery/discovery.h"
#include "mosaik/network/config.h"
#include "mosaik/streams/streams.h"

namespace mosaik {

namespace detail {
struct Core;
}
class Collections;  // mosaik/collections/collections.h

class Network {
 public:
  /// Derives the key, creates the certificate, binds, starts discovery and streams, publishes
  /// the first signed PeerEntry and returns (bootstrap continues in the background).
  static Result<std::shared_ptr<Network>> start(NetworkConfig config);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  PeerId id() const;
  /// The remote NetworkId of the last outbound dial that was closed with DifferentNetwork
  /// (the SDK maps it to Error::WrongUniverse); nullopt when none.
  std::optional<NetworkId> last_wrong_universe() const;
  /// Ed25519 signature by this node's identity key (ServerBundles, partials: protocol.md §4, §6.6).
  zipnet::proto::Signature sign(zipnet::proto::ByteSpan message) const;
  NetworkId network_id() const;
  /// Bound listen addresses ("ip:port").
  std::vector<std::string> local_endpoints() const;
  /// Addresses put in the PeerEntry ("ip:port"); the first one goes into the bootstrap hint.
  std::vector<std::string> advertised() const;
  Discovery& discovery();
  Streams& streams();
  /// Replicated collections (substrate.md §8), created on first use (collections/collections.cc).
  Collections& collections();
  Metrics& metrics();
  /// The registry this Network reports to (roles built on it share it).
  std::shared_ptr<Metrics> metrics_shared() const;
  Clock& clock();
  /// Graceful departure (Depart flood, GracefulShutdown closes), stops the thread; ≤ 5 s.
  /// Idempotent; also run by the destructor.
  void shutdown();
  /// True once shutdown() has completed.
  bool is_down() const;

  // ---- fault injection (operations.md §3.5; the apps expose these only in fault-injection
  // builds, through ZIPNET_DEBUG_* and POST /debug/*)

  /// Refuses every connection to or from a peer whose PeerId hex starts with one of
  /// `prefixes` (case-insensitive): a pinned dial fails before connecting, any other dial and
  /// every inbound link are dropped as soon as TLS names the remote, and links already open to
  /// a newly blocked peer are aborted (no Close frame: what a partition looks like). Replaces
  /// the previous list; an empty list heals. Config error for a prefix that is not 1–64 hex.
  Result<void> set_blocked_peers(std::vector<std::string> prefixes);
  std::vector<std::string> blocked_peers() const;
  /// Sets the offset of this node's wall clock (clock().set_offset) and re-stamps the local
  /// PeerEntry at once, so the clock-stepped-back reset of substrate.md §5.1 applies now
  /// instead of at the next announce.
  void set_clock_offset(std::chrono::milliseconds offset);

  /// Opens one link to `addr` (pinned to `expect` when set) on `alpn`, completes TLS + Hello
  /// and closes it. Returns the remote PeerId; WrongUniverse/UnknownPeer/... otherwise.
  Result<PeerId> probe(const std::string& addr, std::optional<PeerId> expect,
                       const std::string& alpn = "mosaik/discovery/1");

  /// Internal: the shared state behind this Network, for subsystems built as separate
  /// libraries (mosaik::groups registers its ALPN handler and dials through it). Using it
  /// requires mosaik/network/core.h (Asio).
  std::shared_ptr<detail::Core> core_internal() const { return core_; }

 private:
  explicit Network(std::shared_ptr<detail::Core> core);
  std::shared_ptr<detail::Core> core_;
  std::unique_ptr<Discovery> discovery_;
  std::unique_ptr<Streams> streams_;
  std::once_flag collections_once_;
  std::shared_ptr<Collections> collections_;
};

}  // namespace mosaik
