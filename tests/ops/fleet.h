// ops::Fleet: many simulated clients in the test process, for load scenarios (operations.md §12,
// runbook A2). Each simulated client is a real mosaik::Network identity — its own PeerId and
// key, listener, SUBMIT producer and ClientBundle ticket in its signed PeerEntry — so the
// aggregator registers, subscribes to and folds it exactly like a `zipnet client` process.
// What is shared is what a client only reads: ONE hub Network in the fleet follows LiveRound,
// ServerRegistry and ClientRegistry, and one sealing loop seals (core::client::seal, Algorithm 1)
// and sends for every client at each new round header. After sending it pre-seals every
// client's envelope for the next round, so that at the next open all of them leave at once (as
// N clients sealing on their own CPUs would); one whose header did not come as expected is
// dropped unsent.
//
// Scale: the clients' Networks run discovery in leaf mode (mosaik discovery::Config::leaf): they
// keep no catalog of their own; the fleet feeds each of them the entries of the instance's real
// nodes (so a SUBMIT consumer is recognised) and publishes their entries through the hub
// (Discovery::ingest with relay). N in-process full discovery members would cost O(N²)
// signature checks. See docs/harness.md (fleet) and docs/decisions.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/util.h"

namespace zipnet::ops {

struct FleetOptions {
  std::string instance;
  /// Pinned committee (server PeerIds, hex); the header must list every one of them.
  std::vector<std::string> committee;
  /// `<peer>@<host:port>` of a node of the instance (the hub bootstraps from it).
  std::string bootstrap;
  std::size_t clients = 100;
  /// Each client talks "<prefix><index>" every round (truncated to max_payload); "" = cover.
  std::string message_prefix = "fleet client ";
  /// Threads starting the clients' Networks, and sealing at round open.
  unsigned start_threads = 2;
  unsigned seal_threads = 2;
  /// How often the fleet re-publishes changed client entries and feeds the clients changed
  /// entries of the real nodes (nominal; not scaled).
  Millis refresh{1000};
  /// Announce interval of the clients' own entries (±50 %): each re-announce is one catalog
  /// update at every real node; well below the 300 s purge.
  Millis leaf_announce{120000};
};

/// What the sealing loop did for one round header.
struct FleetRound {
  std::uint64_t round = 0;
  std::uint32_t roster_len = 0;  // from the header
  std::size_t sent = 0;          // envelopes queued on SUBMIT
  std::size_t not_in_roster = 0, no_consumer = 0, send_failed = 0, pad_guard = 0;
  std::string skipped;  // whole round skipped: the reason (bad header, bundle, pin)
  double send_ms = 0;   // header seen -> last envelope queued
};

class Fleet {
 public:
  /// Raises RLIMIT_NOFILE as far as needed (throws when the hard limit is too low), starts the
  /// hub (bootstrapped to `bootstrap`) and the clients. Throws std::runtime_error on failure.
  explicit Fleet(FleetOptions o);
  /// Stops sealing and refresh, shuts every Network down (in parallel).
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  std::size_t size() const;
  /// The clients' PeerIds (hex), in index order.
  std::vector<std::string> peer_ids() const;
  /// Seconds spent in the constructor starting the clients.
  double start_seconds() const;

  /// The shared follower is online (nominal timeout, scaled).
  bool wait_online(Millis timeout) const;
  /// Clients registered in the followed ClientRegistry under their own PeerId.
  std::size_t registered() const;
  /// Clients whose SUBMIT producer has at least one consumer (the aggregator).
  std::size_t subscribed() const;
  /// Polls until registered() >= n / subscribed() >= n (nominal timeouts, scaled).
  bool wait_registered(std::size_t n, Millis timeout) const;
  bool wait_subscribed(std::size_t n, Millis timeout) const;

  /// From now on, every new LiveRound header makes every client seal and send (the clients all
  /// send at round open). Idempotent.
  void start_sending();
  void stop_sending();
  /// Rounds handled since start_sending(), oldest first.
  std::vector<FleetRound> rounds() const;
  /// Polls until `n` more rounds were handled after `after` (a rounds().size() value).
  bool wait_rounds(std::size_t after, std::size_t n, Millis timeout) const;

  /// VmRSS of this process in bytes (the fleet is the bulk of it).
  static std::uint64_t process_rss();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace zipnet::ops
