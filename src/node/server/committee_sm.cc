#include "node/server/committee_sm.h"

namespace zipnet::node::server {

namespace col = mosaik::collections;
namespace p = zipnet::proto;

p::Bytes ApplyResult::encode(const ApplyStatus& s) {
  return {static_cast<std::uint8_t>(s.outcome), static_cast<std::uint8_t>(s.reason)};
}

std::optional<ApplyResult> ApplyResult::decode(p::ByteSpan b) {
  if (b.size() != 2 || b[0] > 2 || b[1] > static_cast<std::uint8_t>(Rejection::bad_yield)) return std::nullopt;
  return ApplyResult{static_cast<ApplyOutcome>(b[0]), static_cast<Rejection>(b[1])};
}

CommitteeStateMachine::CommitteeStateMachine(CommitteeConfig config, std::shared_ptr<col::HostStore> host,
                                             EventSink sink)
    : config_(config), host_(std::move(host)), sink_(std::move(sink)), machine_(config) {}

std::map<col::StoreId, col::Kind> CommitteeStateMachine::store_kinds(const p::InstanceIds& ids) {
  return {{ids.server_reg, col::Kind::Map},
          {ids.client_reg, col::Kind::Map},
          {ids.live, col::Kind::Cell},
          {ids.broadcasts, col::Kind::Vec}};
}

p::Bytes CommitteeStateMachine::apply(p::ByteSpan cmd) {
  std::vector<Event> events;
  ApplyStatus st;
  std::uint64_t version = 0;
  {
    std::lock_guard lk(mu_);
    st = machine_.apply(cmd);
    events = machine_.drain_events();
    version = machine_.version();
    // One host version per committee version (followers compare versions with servers).
    col::VersionDeltas vd{version, {}};
    for (auto& d : machine_.drain_deltas())
      for (auto& op : d.ops)
        vd.ops.push_back(col::Delta{op.store, static_cast<col::Op>(op.op), std::move(op.key), std::move(op.value)});
    if (host_->lineage() != machine_.lineage()) host_->set_lineage(machine_.lineage());
    host_->apply(std::move(vd));
  }
  if (sink_) sink_(std::move(events), st, version);
  return ApplyResult::encode(st);
}

mosaik::groups::SnapshotRef CommitteeStateMachine::snapshot() {
  std::lock_guard lk(mu_);
  return machine_.snapshot();
}

p::Bytes CommitteeStateMachine::encode(const mosaik::groups::SnapshotRef& ref) {
  return static_cast<const CommitteeState*>(ref.get())->encode();
}

bool CommitteeStateMachine::restore(p::ByteSpan snapshot) {
  std::lock_guard lk(mu_);
  if (!machine_.restore(snapshot)) return false;
  machine_.drain_events();
  machine_.drain_deltas();
  rebuild_host();
  return true;
}

void CommitteeStateMachine::reset() {
  std::lock_guard lk(mu_);
  machine_ = CommitteeMachine(config_);
  rebuild_host();
}

void CommitteeStateMachine::rebuild_host() {
  const auto& s = machine_.state();
  std::map<col::StoreId, col::StoreState> states;
  auto& sr = states[config_.ids.server_reg];
  sr.kind = col::Kind::Map;
  for (const auto& [id, b] : s.server_registry) sr.map[p::Bytes(id.bytes().begin(), id.bytes().end())] = p::encode(b);
  auto& cr = states[config_.ids.client_reg];
  cr.kind = col::Kind::Map;
  for (const auto& [id, r] : *s.client_registry) cr.map[p::Bytes(id.bytes().begin(), id.bytes().end())] = p::encode(r);
  auto& live = states[config_.ids.live];
  live.kind = col::Kind::Cell;
  if (s.live) live.cell = p::encode(s.live->header);
  auto& bc = states[config_.ids.broadcasts];
  bc.kind = col::Kind::Vec;
  bc.vec_base = s.broadcasts_base;
  for (const auto& r : s.broadcasts) bc.vec.push_back(p::encode(*r));
  host_->reset(s.lineage, s.version, std::move(states));
}

p::Bytes CommitteeStateMachine::query(p::ByteSpan) const { return {}; }

mosaik::groups::Lineage CommitteeStateMachine::lineage() const {
  std::lock_guard lk(mu_);
  return machine_.lineage();
}

mosaik::groups::Lineage CommitteeStateMachine::yielded_to() const {
  std::lock_guard lk(mu_);
  return machine_.yielded_to();
}

std::uint64_t CommitteeStateMachine::version() const {
  std::lock_guard lk(mu_);
  return machine_.version();
}

std::uint64_t CommitteeStateMachine::last_finalized_round() const {
  std::lock_guard lk(mu_);
  return machine_.last_finalized_round();
}

p::Bytes CommitteeStateMachine::form_command(const mosaik::groups::Lineage& lineage, const mosaik::PeerId& founder,
                                             std::int64_t now_ms) {
  return CommitteeMachine::encode_command(p::FormCmd{lineage, founder, now_ms});
}

p::Bytes CommitteeStateMachine::yield_command(const mosaik::groups::Lineage& winner) {
  return CommitteeMachine::encode_command(p::YieldCmd{winner});
}

bool CommitteeStateMachine::may_join(const mosaik::PeerId& peer) const {
  std::lock_guard lk(mu_);
  return machine_.may_join(peer);
}

std::optional<p::Bytes> CommitteeStateMachine::removal_command(const mosaik::PeerId& peer) const {
  return CommitteeMachine::encode_command(p::DeregisterServerCmd{peer});
}

bool CommitteeStateMachine::dedup(p::ByteSpan cmd) const {
  // protocol.md §9.6: RegisterServer (2), RegisterClient (4), SubmitAggregate (7), SubmitPartial (8).
  if (cmd.size() < 2 || cmd[0] != p::LogEntry::kFormat) return false;
  return cmd[1] == 2 || cmd[1] == 4 || cmd[1] == 7 || cmd[1] == 8;
}

std::shared_ptr<const CommitteeState> CommitteeStateMachine::current() const {
  std::lock_guard lk(mu_);
  return machine_.snapshot();
}

p::UniqueId CommitteeStateMachine::state_digest() const {
  std::lock_guard lk(mu_);
  return machine_.state_digest();
}

}  // namespace zipnet::node::server
