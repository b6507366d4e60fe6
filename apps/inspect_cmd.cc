#include "inspect_cmd.h"

#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "core/reader.h"
#include "mosaik/collections/collections.h"
#include "proto/hex.h"
#include "proto/ids.h"
#include "proto/wire.h"
#include "role_process.h"
#include "tool_common.h"

namespace zipnet::apps {

using namespace std::chrono_literals;
using json = nlohmann::ordered_json;  // fields in the documented order
using Bytes = proto::Bytes;

std::unique_ptr<InspectCommand> add_inspect_command(CLI::App& app) {
  auto c = std::make_unique<InspectCommand>();
  c->cmd = app.add_subcommand("inspect",
                              "read-only follower of one of the instance's collections: prints its records "
                              "(text, or one JSON object per line with --json) on stdout");
  c->cmd->add_option("collection", c->what, "live-round | server-registry | client-registry | broadcasts")
      ->required()
      ->check(CLI::IsMember({"live-round", "server-registry", "client-registry", "broadcasts"}));
  c->loader = std::make_unique<ConfigLoader>(*c->cmd);
  auto& l = *c->loader;
  add_common_options(l);
  l.add({"ZIPNET_INSTANCE", "instance", "instance name, e.g. acme.mainnet (required)", false, false, false});
  l.add({"ZIPNET_COMMITTEE", "committee", "committee pin: accept collection hosts only from these PeerIds", false,
         false, false});
  c->cmd->add_flag("--follow", c->follow, "keep printing changes until SIGINT/SIGTERM");
  c->cmd->add_flag("--json", c->json, "one JSON object per record and line");
  c->since_opt = c->cmd->add_option("--since", c->since, "broadcasts: only records of rounds >= this round");
  c->expect_opt = c->cmd->add_option(
      "--expect-servers", c->expect_servers,
      "exit 1 if a selected record has another server count (broadcasts, live-round: servers of the round; "
      "server-registry: number of bundles)");
  add_timeout_option(*c->cmd, c->timeout, "30s");
  return c;
}

namespace {

std::string utc(std::int64_t ms) {
  if (ms == INT64_MAX) return "never";
  std::time_t s = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  if (!::gmtime_r(&s, &tm)) return std::to_string(ms) + "ms";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
  return buf;
}

std::string printable(const Bytes& b) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    if (c == '\\') s += "\\\\";
    else if (c >= 0x20 && c < 0x7f) s += static_cast<char>(c);
    else {
      s += "\\x";
      s += kHex[c >> 4];
      s += kHex[c & 15];
    }
  }
  return s;
}

json params_json(const proto::RoundParams& p) {
  return {{"wire_version", p.wire_version}, {"num_slots", p.num_slots}, {"slot_bytes", p.slot_bytes}, {"tag_len", p.tag_len}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

enum class Change { None, Insert, Update, Remove };
const char* op_name(Change c) {
  switch (c) {
    case Change::Insert: return "insert";
    case Change::Update: return "update";
    case Change::Remove: return "remove";
    default: return "";
  }
}
const char* op_prefix(Change c) {
  switch (c) {
    case Change::Insert: return "+ ";
    case Change::Update: return "~ ";
    case Change::Remove: return "- ";
    default: return "";
  }
}

class Inspector {
 public:
  Inspector(const InspectCommand& cmd, ToolOutput& out, const proto::InstanceIds& ids, mosaik::Follower& f)
      : cmd_(cmd), out_(out), ids_(ids), f_(f) {}

  /// Prints the current state (mismatch() tells whether --expect-servers failed).
  void snapshot() {
    lineage_ = f_.lineage();
    if (cmd_.what == "broadcasts") {
      auto [first, next] = f_.vec_bounds(ids_.broadcasts);
      header(next - first);
      print_range(first, next, Change::None);
      cursor_ = next;
    } else if (cmd_.what == "live-round") {
      cell_ = f_.cell_get(ids_.live);
      header(cell_ ? 1 : 0);
      print_live(cell_, Change::None);
    } else {
      const auto& store = cmd_.what == "server-registry" ? ids_.server_reg : ids_.client_reg;
      auto items = f_.map_items(store);
      map_.clear();
      for (auto& [k, v] : items) map_.emplace(k, v);
      header(map_.size());
      for (const auto& [k, v] : map_) print_entry(k, &v, Change::None);
      check_registry_size();
    }
  }

  /// Prints what changed since the last call.
  void update() {
    auto lin = f_.lineage();
    bool lineage_changed = lin != lineage_;
    if (lineage_changed) {
      log_warn("inspect: followed lineage changed from " +
               (lineage_ ? mosaik::collections::hex(*lineage_) : std::string("-")) + " to " +
               (lin ? mosaik::collections::hex(*lin) : std::string("-")));
      lineage_ = lin;
    }
    if (cmd_.what == "broadcasts") {
      auto [first, next] = f_.vec_bounds(ids_.broadcasts);
      if (lineage_changed || next < cursor_) cursor_ = first;  // a new lineage numbers from its own start
      if (cursor_ < first) {
        log_warn("inspect: " + std::to_string(first - cursor_) + " broadcast record(s) left the retained window unseen");
        cursor_ = first;
      }
      if (next > cursor_) print_range(cursor_, next, Change::Insert);
      cursor_ = std::max(cursor_, next);
    } else if (cmd_.what == "live-round") {
      auto c = f_.cell_get(ids_.live);
      if (c != cell_) {
        cell_ = c;
        print_live(cell_, c ? Change::Update : Change::Remove);
      }
    } else {
      const auto& store = cmd_.what == "server-registry" ? ids_.server_reg : ids_.client_reg;
      std::map<Bytes, Bytes> now;
      for (auto& [k, v] : f_.map_items(store)) now.emplace(k, v);
      bool changed = false;
      for (const auto& [k, v] : now) {
        auto it = map_.find(k);
        if (it != map_.end() && it->second == v) continue;
        print_entry(k, &v, it == map_.end() ? Change::Insert : Change::Update);
        changed = true;
      }
      for (const auto& [k, v] : map_) {
        if (now.count(k)) continue;
        print_entry(k, nullptr, Change::Remove);
        changed = true;
      }
      map_ = std::move(now);
      if (changed) check_registry_size();
    }
  }

  bool mismatch() const { return mismatch_; }

 private:
  void header(std::size_t n) {
    if (cmd_.json) return;
    auto host = f_.host();
    out_.line("# " + cmd_.what + " instance=" + ids_.name + " version=" + std::to_string(f_.version()) +
              " lineage=" + (lineage_ ? mosaik::collections::hex(*lineage_) : std::string("-")) +
              " host=" + (host ? host->hex() : std::string("-")) + " records=" + std::to_string(n));
  }

  json base(Change c) const {
    json j = {{"collection", cmd_.what}, {"version", f_.version()}};
    if (c != Change::None) j["op"] = op_name(c);
    return j;
  }

  void emit(const json& j) { out_.line(dump(j)); }

  void expect(std::size_t servers, const std::string& what) {
    if (!cmd_.expect_opt->count() || servers == cmd_.expect_servers) return;
    log_error("expect-servers: " + what + " has " + std::to_string(servers) + " server(s), expected " +
              std::to_string(cmd_.expect_servers));
    mismatch_ = true;
  }

  void check_registry_size() {
    if (cmd_.what == "server-registry") expect(map_.size(), "ServerRegistry");
  }

  void print_entry(const Bytes& key, const Bytes* value, Change c) {
    bool server = cmd_.what == "server-registry";
    auto key_hex = proto::to_hex(key);
    const char* key_name = server ? "server_id" : "client_id";
    if (!value) {  // removal
      if (cmd_.json) {
        auto j = base(c);
        j[key_name] = key_hex;
        emit(j);
      } else {
        out_.line(std::string(op_prefix(c)) + (server ? "server " : "client ") + key_hex);
      }
      return;
    }
    if (server) {
      auto b = proto::ServerBundle::decode(*value);
      std::string problem;
      if (!b) problem = "undecodable: " + b.error().message;
      else if (proto::to_hex(b->server_id.span()) != key_hex) problem = "key does not match server_id";
      else if (b->instance != ids_.instance) problem = "bundle of another instance";
      else if (!b->verify()) problem = "bad signature";
      if (cmd_.json) {
        auto j = base(c);
        j["server_id"] = key_hex;
        if (b) {
          j["dh_pub"] = proto::to_hex(b->dh_pub);
          j["issued_at_ms"] = b->issued_at_ms;
          j["signature"] = proto::to_hex(b->signature);
        }
        j["valid"] = problem.empty();
        if (!problem.empty()) j["error"] = problem;
        emit(j);
      } else if (b) {
        out_.line(std::string(op_prefix(c)) + "server " + key_hex + " dh_pub=" + proto::to_hex(b->dh_pub) +
                  " issued_at=" + utc(b->issued_at_ms) + " issued_at_ms=" + std::to_string(b->issued_at_ms) +
                  " valid=" + (problem.empty() ? "yes" : "no (" + problem + ")"));
      } else {
        out_.line(std::string(op_prefix(c)) + "server " + key_hex + " valid=no (" + problem + ")");
      }
      return;
    }
    auto r = proto::ClientRecord::decode(*value);
    if (cmd_.json) {
      auto j = base(c);
      j["client_id"] = key_hex;
      if (r) {
        j["peer_id"] = r->peer_id.hex();
        j["dh_pub"] = proto::to_hex(r->dh_pub);
        j["registered_version"] = r->registered_version;
        j["expires_at_ms"] = r->expires_at_ms == INT64_MAX ? json(nullptr) : json(r->expires_at_ms);
      } else {
        j["error"] = "undecodable: " + r.error().message;
      }
      emit(j);
    } else if (r) {
      out_.line(std::string(op_prefix(c)) + "client " + key_hex + " peer=" + r->peer_id.hex() +
                " dh_pub=" + proto::to_hex(r->dh_pub) + " registered_version=" + std::to_string(r->registered_version) +
                " expires_at=" + utc(r->expires_at_ms));
    } else {
      out_.line(std::string(op_prefix(c)) + "client " + key_hex + " undecodable: " + r.error().message);
    }
  }

  void print_live(const std::optional<Bytes>& cell, Change c) {
    if (!cell) {
      if (cmd_.json) {
        auto j = base(c);
        j["round"] = nullptr;
        emit(j);
      } else {
        out_.line(std::string(op_prefix(c)) + "live-round: empty (no round opened yet)");
      }
      return;
    }
    auto h = proto::LiveRound::decode(*cell);
    if (!h) {
      if (cmd_.json) {
        auto j = base(c);
        j["error"] = "undecodable: " + h.error().message;
        emit(j);
      } else {
        out_.line(std::string(op_prefix(c)) + "live-round: undecodable: " + h.error().message);
      }
      return;
    }
    if (cmd_.json) {
      auto j = base(c);
      j["round"] = h->round;
      j["opened_at_ms"] = h->opened_at_ms;
      j["open_version"] = h->open_version;
      j["params"] = params_json(h->params);
      j["min_participants"] = h->min_participants;
      json servers = json::array();
      for (const auto& s : h->servers) servers.push_back({{"server_id", s.server_id.hex()}, {"dh_pub", proto::to_hex(s.dh_pub)}});
      j["servers"] = servers;
      j["roster_len"] = h->roster_len;
      j["roster_digest"] = h->roster_digest.hex();
      emit(j);
    } else {
      out_.line(std::string(op_prefix(c)) + "round=" + std::to_string(h->round) + " opened_at=" + utc(h->opened_at_ms) +
                " open_version=" + std::to_string(h->open_version) + " params=" + h->params.shape() +
                " min_participants=" + std::to_string(h->min_participants) +
                " servers=" + std::to_string(h->servers.size()) + " roster_len=" + std::to_string(h->roster_len) +
                " roster_digest=" + h->roster_digest.hex());
      for (const auto& s : h->servers)
        out_.line("  server " + s.server_id.hex() + " dh_pub=" + proto::to_hex(s.dh_pub));
    }
    expect(h->servers.size(), "live round " + std::to_string(h->round));
  }

  void print_range(std::uint64_t a, std::uint64_t b, Change c) {
    auto items = f_.vec_range(ids_.broadcasts, a, b);
    std::uint64_t index = std::max(a, f_.vec_bounds(ids_.broadcasts).first);
    for (const auto& raw : items) print_record(index++, raw, c);
  }

  void print_record(std::uint64_t index, const Bytes& raw, Change c) {
    auto rec = proto::BroadcastRecord::decode(raw);
    if (!rec) {
      if (cmd_.json) {
        auto j = base(c);
        j["index"] = index;
        j["error"] = "undecodable: " + rec.error().message;
        emit(j);
      } else {
        out_.line(std::string(op_prefix(c)) + "index=" + std::to_string(index) + " undecodable: " + rec.error().message);
      }
      return;
    }
    if (cmd_.since_opt->count() && rec->round < cmd_.since) return;
    std::vector<core::reader::Message> msgs;
    auto st = core::reader::decode(*rec, ids_.k_tag, msgs);
    if (cmd_.json) {
      auto j = base(c);
      j["index"] = index;
      j["round"] = rec->round;
      j["opened_at_ms"] = rec->opened_at_ms;
      j["finalized_version"] = rec->finalized_version;
      j["params"] = params_json(rec->params);
      j["participants"] = rec->participants;
      json servers = json::array();
      for (const auto& s : rec->servers) servers.push_back(s.hex());
      j["servers"] = servers;
      json messages = json::array();
      for (const auto& m : msgs)
        messages.push_back({{"slot", m.slot},
                            {"text", std::string(m.payload.begin(), m.payload.end())},
                            {"hex", proto::to_hex(m.payload)}});
      j["messages"] = messages;
      j["tag_failures"] = st.tag_failures;
      j["malformed"] = st.malformed;
      j["empty_slots"] = st.empty;
      j["bad_record"] = st.bad_record;
      emit(j);
    } else {
      out_.line(std::string(op_prefix(c)) + "round=" + std::to_string(rec->round) + " index=" + std::to_string(index) +
                " opened_at=" + utc(rec->opened_at_ms) + " finalized_version=" + std::to_string(rec->finalized_version) +
                " params=" + rec->params.shape() + " participants=" + std::to_string(rec->participants) +
                " servers=" + std::to_string(rec->servers.size()) + " messages=" + std::to_string(st.messages) +
                " tag_failures=" + std::to_string(st.tag_failures) + " malformed=" + std::to_string(st.malformed) +
                (st.bad_record ? " bad_record=yes" : ""));
      for (const auto& m : msgs) out_.line("  slot " + std::to_string(m.slot) + ": " + printable(m.payload));
    }
    expect(rec->servers.size(), "round " + std::to_string(rec->round));
  }

  const InspectCommand& cmd_;
  ToolOutput& out_;
  const proto::InstanceIds& ids_;
  mosaik::Follower& f_;
  std::optional<mosaik::collections::Lineage> lineage_;
  std::map<Bytes, Bytes> map_;
  std::optional<Bytes> cell_;
  std::uint64_t cursor_ = 0;
  bool mismatch_ = false;
};

}  // namespace

std::optional<int> run_inspect_command(const InspectCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  block_termination_signals();
  ToolOutput out;
  auto env = process_env();
  auto& l = *cmd.loader;
  auto resolved = l.resolve(env);
  auto log_err = configure_tool_logging(l, env);
  for (const auto& w : l.warnings()) log_warn(w);
  if (resolved) return config_fail(*resolved);
  if (log_err) return config_fail(*log_err);
  auto name = l.raw("ZIPNET_INSTANCE");
  if (!name || name->empty()) return config_fail({"ZIPNET_INSTANCE", "required (the instance name, e.g. acme.mainnet)"});
  auto pin = l.peer_list("ZIPNET_COMMITTEE");
  if (!pin) return config_fail(pin.error());
  auto boot = l.bootstrap("ZIPNET_BOOTSTRAP");
  if (!boot) return config_fail(boot.error());
  auto timeout = parse_timeout(cmd.timeout);
  if (!timeout) return config_fail(timeout.error());
  if (cmd.since_opt->count() && cmd.what != "broadcasts")
    return config_fail({"--since", "applies to broadcasts only"});
  if (cmd.expect_opt->count() && cmd.what == "client-registry")
    return config_fail({"--expect-servers", "applies to broadcasts, live-round and server-registry"});

  auto ids = proto::InstanceIds::from_name(*name);
  auto net = start_tool_network(l);
  if (!net) return net.error();
  auto& n = **net;
  if (pin->empty())
    log_warn("committee not pinned: trusting any host of instance=" + *name + " (set ZIPNET_COMMITTEE)");

  const std::map<std::string, std::pair<proto::UniqueId, const char*>> stores = {
      {"live-round", {ids.live, "LiveRound"}},
      {"server-registry", {ids.server_reg, "ServerRegistry"}},
      {"client-registry", {ids.client_reg, "ClientRegistry"}},
      {"broadcasts", {ids.broadcasts, "Broadcasts"}}};
  const auto& [store, label] = stores.at(cmd.what);
  mosaik::collections::FollowOptions fo;
  fo.hosts = *pin;
  fo.instance = *name;
  int rc = 0;
  {
    auto f = n.collections().follow({store}, fo);
    auto w = wait_online(f, *timeout);
    if (w == WaitResult::Timeout) {
      log_error(std::string(label) + " of instance=" + *name + " did not come online within " +
                std::to_string(timeout->count()) + "ms: " + explain_offline(n, store, label, *name, *pin, !boot->empty()));
      rc = 1;
    } else if (w == WaitResult::Interrupted) {
      log_error(std::string("interrupted before ") + label + " came online");
      rc = 1;
    } else {
      Inspector in(cmd, out, ids, f);
      in.snapshot();
      if (in.mismatch()) rc = 1;
      while (cmd.follow && rc == 0) {
        auto v0 = f.version();
        f.version_watch().wait_for([v0](const std::uint64_t& v) { return v != v0; }, 200ms);
        if (take_termination_signal(0ms)) break;
        in.update();
        if (in.mismatch()) rc = 1;
      }
    }
  }
  n.shutdown();
  return rc;
}

}  // namespace zipnet::apps
