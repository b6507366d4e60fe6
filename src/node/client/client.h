// The client role driver (protocol.md §4, §6.4, §8 step 2, §14; operations.md §3.4, §5.3, §7.3):
// owns the client's X25519 key, publishes its ClientBundle ticket in the signed PeerEntry,
// produces ClientEnvelopes on SUBMIT, follows LIVE + SERVER_REG + the tail of BROADCASTS from
// the (pinned) committee and asks for its own ClientRecord with Lookup. For every new LiveRound
// header it runs the step-0 preconditions, the pad-reuse guard, seals and sends.
//
// Two modes share one driver: Repeat (`zipnet client`: ZIPNET_MESSAGE every N-th round, cover
// otherwise) and Queue (the SDK Submitter: SubmitQueue, landed/abandoned decided from the
// client's own slot in the round's BroadcastRecord). One worker thread does all sealing with
// blocking waits; the public methods are thread-safe.
//
// Never logged or exported: whether the client talked, its slot, payload bytes (protocol.md §4).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "mosaik/base/metrics.h"
#include "mosaik/collections/collections.h"
#include "mosaik/network/network.h"
#include "node/client/submit_queue.h"
#include "node/common/role.h"
#include "proto/wire.h"

namespace zipnet::node::client {

struct ClientConfig {
  std::string instance;
  /// Committee pin; empty = unpinned (WARN `committee not pinned: …`, zipnet_committee_pinned 0).
  std::vector<mosaik::PeerId> committee;
  enum class Mode { Repeat, Queue } mode = Mode::Repeat;
  /// Repeat mode: ZIPNET_MESSAGE (nullopt = cover-traffic filler).
  std::optional<proto::Bytes> message;
  /// Repeat mode: talk every N-th round taken part in (≥ 1), cover otherwise.
  unsigned cadence = 1;
  /// Queue mode: send pure-pad envelopes when the queue is idle (else skip, `no_message`).
  bool cover_traffic = true;
  /// ZIPNET_DEBUG_CLIENT_DH_SECRET (fault-injection builds): forces the X25519 secret.
  std::optional<proto::Secret32> dh_secret;
  /// Optional: client-dh.key and client-seal.state (the pad-reuse record, protocol.md §6.4).
  std::filesystem::path data_dir;
  /// Target of the role lines (the SDK uses zipnet_node::sdk).
  std::string log_target = std::string(kTargetClient);
  /// Target of the `committee not pinned` WARN: roles::common for `zipnet client`
  /// (operations.md §5.3); the SDK sets it to zipnet_node::sdk too.
  std::string pin_log_target = std::string(kTargetCommon);
  /// Follower timings (tests shorten them); hosts/vec_tail/instance are set by the driver.
  mosaik::collections::FollowOptions follow;
  /// Bound of each Lookup of the own ClientRecord.
  std::chrono::milliseconds lookup_timeout{2000};
  /// How often the record is looked up while not registered.
  std::chrono::milliseconds registration_poll{500};
};

/// The reasons of zipnet_client_rounds_skipped_total (operations.md §7.3).
enum class SkipReason { not_in_roster, no_consumer, bad_server_bundle, incomplete_servers, bad_params, no_message };
std::string_view to_string(SkipReason r);

class ClientDriver {
 public:
  /// Loads or generates the key, publishes the bundle ticket, starts producing on SUBMIT and
  /// following the committee's collections, and starts the worker. Fails only on local errors
  /// (unreadable data dir, a second SUBMIT producer on this Network).
  static mosaik::Result<std::unique_ptr<ClientDriver>> start(std::shared_ptr<mosaik::Network> net,
                                                             ClientConfig config,
                                                             std::shared_ptr<mosaik::Metrics> metrics);
  ~ClientDriver();
  ClientDriver(const ClientDriver&) = delete;
  ClientDriver& operator=(const ClientDriver&) = delete;

  /// Stops the worker and closes the follower and the producer. Idempotent. The bundle ticket
  /// stays in the PeerEntry (see withdraw_bundle).
  void stop();
  /// Removes the bundle ticket from the local PeerEntry (the aggregator then unregisters the
  /// client). Only while the Network is running (discovery posts to the network thread).
  void withdraw_bundle();

  proto::ClientId client_id() const;
  proto::X25519Public dh_pub() const;
  /// A Lookup showed our ClientRecord (current key, our PeerId).
  bool registered() const;
  /// At least one consumer (the aggregator) is subscribed to our SUBMIT producer.
  bool aggregator_subscribed() const;
  bool wait_registered(std::chrono::milliseconds timeout) const;
  bool wait_subscribed(std::chrono::milliseconds timeout) const;
  /// The aggregator refused our SUBMIT producer for an attestation reason (its close reason
  /// starts `tdx:`: expired quote, MR_TD mismatch, TCB status, …): `refused by <peer>: <reason>`.
  /// The SDK turns it into Error::Attestation (operations.md §8). nullopt otherwise.
  std::optional<std::string> attestation_refusal() const;
  /// Registered and the aggregator subscribed (what the SDK's submitter() waits for).
  bool wait_ready(std::chrono::milliseconds timeout) const;
  /// The collections follower is online.
  bool wait_online(std::chrono::milliseconds timeout) const;

  // --- Queue mode (the SDK Submitter, protocol.md §14) ---
  /// Enqueues a payload (1 ≤ |p| ≤ max_payload()); ids start at 1.
  tl::expected<SubmissionId, SendError> send(proto::ByteSpan payload);
  /// slot_bytes − tag_len − 2 of the live params. Before the first header: the largest payload
  /// any valid shape allows (a payload too large for the real shape is dropped once it is known).
  std::size_t max_payload() const;
  /// Payloads given up after MAX_SEND_ATTEMPTS (in-process only, never a metric).
  std::uint64_t messages_dropped() const;
  /// Payloads whose slot held exactly what was sealed (in-process only).
  std::uint64_t delivered() const;
  /// Payloads still queued (the in-flight one included).
  std::size_t pending() const;

  /// Repeat mode: set when ZIPNET_MESSAGE is empty or longer than max_payload of the first
  /// LiveRound header; the text is the detail of `configuration error: ZIPNET_MESSAGE: <detail>`.
  std::optional<std::string> fatal() const;
  /// Becomes true when fatal() is set (for waiting on it).
  const mosaik::Watch<bool>& fatal_watch() const;

  // --- Introspection (tests, /status) ---
  std::uint64_t envelopes_sent() const;
  std::uint64_t key_rotations() const;
  /// Rounds handled (sealed or skipped) so far; bumps once per new header.
  const mosaik::Watch<std::uint64_t>& headers_handled() const;
  /// The role's part of /status (operations.md §6) as a JSON object: committee pin (null when
  /// unpinned), registered, client_id, subscribed, the follower (lineage, version, host), the
  /// live round and SUBMIT producer stats. Nothing about talking, slots or payloads (§4).
  /// Thread-safe, also during and after stop().
  std::string status_json() const;

  struct Impl;

 private:
  explicit ClientDriver(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace zipnet::node::client
