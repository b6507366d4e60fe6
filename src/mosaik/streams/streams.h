// Streams (substrate.md §6): typed producer/consumer channels by StreamId over the catalog.
// RawProducer/RawConsumer move encoded datums (bytes) and are pimpl handles onto the network
// thread; Producer<D>/Consumer<D> and the builders add the datum codec (D::encode(Writer&),
// D::decode(span) -> DecodeResult<D>). All handles are thread-safe; blocking calls take deadlines.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "mosaik/base/watch.h"
#include "mosaik/streams/config.h"
#include "proto/codec.h"

namespace mosaik {

enum class SendError { Offline, Full, Closed };
enum class ChannelState { Connecting, Connected, Terminated };

struct ProducerStats {
  std::uint64_t items_sent = 0, bytes_sent = 0, items_dropped = 0, lagging_disconnects = 0;
  std::size_t consumers = 0;
};

/// The last subscription a consumer refused to keep (it closed the link with NotAllowed):
/// who, and the reason inside the `unauthorized (…)` it sent, e.g. `tdx: mrtd_mismatch,
/// expected=… got=…` (with this clock's opinion appended to an expiry, tickets::refused_detail).
/// The producer cannot otherwise tell a refusal from silence (the SDK maps a TDX refusal to
/// Error::Attestation, operations.md §8).
struct StreamRefusal {
  PeerId by;
  std::string reason;
};

struct ConsumerStats {
  std::uint64_t items_received = 0, bytes_received = 0, too_slow = 0, reconnects = 0;
  std::size_t producers = 0, buffered = 0, capacity = 0;
  double backpressure_seconds = 0;
};

namespace streams {
struct ProducerImpl;
struct ConsumerImpl;
struct StreamsImpl;
}  // namespace streams

class RawProducer {
 public:
  explicit RawProducer(std::shared_ptr<streams::ProducerImpl> impl);
  ~RawProducer();  // closes the sink (consumers see GracefulShutdown)
  RawProducer(RawProducer&&) noexcept;
  RawProducer& operator=(RawProducer&&) noexcept;

  /// Waits for online and capacity (up to `timeout`), then queues the datum.
  tl::expected<void, SendError> send(zipnet::proto::Bytes datum, std::chrono::milliseconds timeout);
  tl::expected<void, SendError> try_send(zipnet::proto::Bytes datum);
  /// Number of subscribed consumers (the online condition watches this).
  const Watch<std::size_t>& consumers() const;
  bool online() const;
  ProducerStats stats() const;
  /// The last refusal by a consumer (nullopt when none since the producer was built).
  std::optional<StreamRefusal> last_refusal() const;
  StreamId id() const;

 private:
  std::shared_ptr<streams::ProducerImpl> impl_;
};

class RawConsumer {
 public:
  explicit RawConsumer(std::shared_ptr<streams::ConsumerImpl> impl);
  ~RawConsumer();
  RawConsumer(RawConsumer&&) noexcept;
  RawConsumer& operator=(RawConsumer&&) noexcept;

  /// Next (producer, datum) in arrival order; nullopt on timeout or after close.
  std::optional<std::pair<PeerId, zipnet::proto::Bytes>> recv(std::chrono::milliseconds timeout);
  std::optional<std::pair<PeerId, zipnet::proto::Bytes>> try_recv();
  /// Number of connected producers (the subscribed condition watches this).
  const Watch<std::size_t>& producers() const;
  bool online() const;
  ConsumerStats stats() const;
  /// Items the application keeps aside after recv() (the aggregator's envelopes that came
  /// before their round's header): they go on counting against the buffer, so that
  /// buffered + reserved + held ≤ buffer size and received data stays within the
  /// buffer × item bound of operations.md §11.4. Lowering it lets producers send again.
  void set_held(std::size_t n);
  ChannelState state_of(const PeerId& producer) const;
  StreamId id() const;

 private:
  std::shared_ptr<streams::ConsumerImpl> impl_;
};

template <class D>
class Producer {
 public:
  explicit Producer(RawProducer raw) : raw_(std::move(raw)) {}
  tl::expected<void, SendError> send(const D& d, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return raw_.send(zipnet::proto::encode(d), timeout);
  }
  tl::expected<void, SendError> try_send(const D& d) { return raw_.try_send(zipnet::proto::encode(d)); }
  RawProducer& raw() { return raw_; }

 private:
  RawProducer raw_;
};

template <class D>
class Consumer {
 public:
  explicit Consumer(RawConsumer raw) : raw_(std::move(raw)) {}
  /// Next decodable datum; undecodable ones are skipped.
  std::optional<std::pair<PeerId, D>> recv(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) return std::nullopt;
      auto item = raw_.recv(left);
      if (!item) return std::nullopt;
      auto d = D::decode(item->second);
      if (d) return std::pair<PeerId, D>{item->first, std::move(*d)};
    }
  }
  RawConsumer& raw() { return raw_; }

 private:
  RawConsumer raw_;
};

class Streams;

template <class D>
class ProducerBuilder {
 public:
  ProducerBuilder(Streams& s, StreamId id) : s_(s), id_(id) {}
  ProducerBuilder& with_buffer_size(std::size_t n) { o_.buffer_size = n; return *this; }
  ProducerBuilder& disconnect_lagging(bool b) { o_.disconnect_lagging = b; return *this; }
  ProducerBuilder& lag_grace(std::chrono::milliseconds d) { o_.lag_grace = d; return *this; }
  ProducerBuilder& online_when_min_consumers(std::size_t n) { o_.min_consumers = n; return *this; }
  ProducerBuilder& max_consumers(std::size_t n) { o_.max_consumers = n; return *this; }
  ProducerBuilder& require_ticket(std::shared_ptr<const TicketValidator> v) { o_.tickets.push_back(std::move(v)); return *this; }
  ProducerBuilder& require(streams::Require r) { o_.require = std::move(r); return *this; }
  /// Labels of this producer's metrics: {instance, stream} (operations.md §7.2).
  ProducerBuilder& with_metrics_label(std::string instance, std::string stream) {
    o_.instance = std::move(instance);
    o_.label = std::move(stream);
    return *this;
  }
  Producer<D> build();
  const streams::ProducerOptions& options() const { return o_; }

 private:
  Streams& s_;
  StreamId id_;
  streams::ProducerOptions o_;
};

template <class D>
class ConsumerBuilder {
 public:
  ConsumerBuilder(Streams& s, StreamId id) : s_(s), id_(id) {}
  ConsumerBuilder& with_buffer_size(std::size_t n) { o_.buffer_size = n; return *this; }
  ConsumerBuilder& online_when_min_producers(std::size_t n) { o_.min_producers = n; return *this; }
  ConsumerBuilder& require_ticket(std::shared_ptr<const TicketValidator> v) { o_.tickets.push_back(std::move(v)); return *this; }
  ConsumerBuilder& require(streams::Require r) { o_.require = std::move(r); return *this; }
  /// Labels of this consumer's metrics: {instance, stream} (operations.md §7.2).
  ConsumerBuilder& with_metrics_label(std::string instance, std::string stream) {
    o_.instance = std::move(instance);
    o_.label = std::move(stream);
    return *this;
  }
  Consumer<D> build();
  const streams::ConsumerOptions& options() const { return o_; }

 private:
  Streams& s_;
  StreamId id_;
  streams::ConsumerOptions o_;
};

class Streams {
 public:
  explicit Streams(streams::StreamsImpl* impl) : impl_(impl) {}
  template <class D>
  ProducerBuilder<D> producer(StreamId id) { return ProducerBuilder<D>(*this, id); }
  template <class D>
  ConsumerBuilder<D> consumer(StreamId id) { return ConsumerBuilder<D>(*this, id); }
  /// Untyped entry points (the builders end here). One producer per (node, StreamId).
  Result<RawProducer> raw_producer(StreamId id, streams::ProducerOptions options);
  RawConsumer raw_consumer(StreamId id, streams::ConsumerOptions options);

 private:
  streams::StreamsImpl* impl_;
};

template <class D>
Producer<D> ProducerBuilder<D>::build() {
  auto p = s_.raw_producer(id_, o_);
  if (!p) throw std::runtime_error("producer: " + p.error().to_string());
  return Producer<D>(std::move(*p));
}

template <class D>
Consumer<D> ConsumerBuilder<D>::build() {
  return Consumer<D>(s_.raw_consumer(id_, o_));
}

}  // namespace mosaik
