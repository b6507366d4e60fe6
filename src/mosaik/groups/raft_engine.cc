#include "mosaik/groups/raft_engine.h"

// libraft 0.15 headers have no extern "C" guards (substrate.md §12 pitfall 1).
extern "C" {
#include <raft.h>
#include <raft/uv.h>
}
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "proto/blake3.h"

namespace mosaik::groups {

// `raft_apply`, `raft_barrier` and `raft_transfer` are both structs and functions (pitfall 2).
using RaftApplyReq = struct raft_apply;
using RaftBarrierReq = struct raft_barrier;
using RaftTransferReq = struct raft_transfer;
using RaftChangeReq = struct raft_change;

std::size_t RaftStatus::voters() const {
  std::size_t n = 0;
  for (const auto& s : configuration) n += s.role == RAFT_VOTER;
  return n;
}

std::uint64_t raft_id_for(ByteSpan peer_id) {
  auto h = zipnet::proto::blake3(peer_id);
  std::uint64_t id = zipnet::proto::get_le64(h.data());
  return id == 0 ? 1 : id;
}

std::string RaftEngine::error_name(int code) {
  return code == 0 ? "ok" : std::string(raft_strerror(code));
}

namespace {

// libraft's uv segment encoder assumes every entry payload is a multiple of 8 bytes (the
// assertion is compiled out of the packaged build, which then writes segments it cannot read
// back: "read preamble: short read"). Entries are therefore framed as
// LE64(length) ‖ command ‖ zero padding to 8 bytes.
struct raft_buffer frame_command(ByteSpan command) {
  std::size_t padded = 8 + (command.size() + 7) / 8 * 8;
  struct raft_buffer buf;
  buf.len = padded;
  buf.base = raft_calloc(1, padded);
  if (buf.base) {
    zipnet::proto::put_le64(static_cast<std::uint8_t*>(buf.base), command.size());
    if (!command.empty()) std::memcpy(static_cast<std::uint8_t*>(buf.base) + 8, command.data(), command.size());
  }
  return buf;
}

std::optional<ByteSpan> unframe(const struct raft_buffer* buf) {
  if (buf->len < 8) return std::nullopt;
  auto* p = static_cast<const std::uint8_t*>(buf->base);
  std::uint64_t n = zipnet::proto::get_le64(p);
  if (n > buf->len - 8) return std::nullopt;
  return ByteSpan(p + 8, n);
}

/// Tasks posted to the loop from any thread. Shared so that late callbacks (a link that
/// answers after stop) find a closed mailbox instead of a dangling engine.
struct Mailbox {
  std::mutex mu;
  std::deque<std::function<void()>> tasks;
  uv_async_t* async = nullptr;
  bool closed = false;

  bool post(std::function<void()> f) {
    std::lock_guard lk(mu);
    if (closed) return false;
    tasks.push_back(std::move(f));
    uv_async_send(async);
    return true;
  }
};

}  // namespace

struct RaftEngine::Impl {
  struct PendingConnect {
    raft_uv_connect* req;
    raft_uv_connect_cb cb;
    bool cancelled = false;
  };

  RaftEngineConfig cfg;
  std::shared_ptr<RaftStateMachine> sm;
  std::shared_ptr<RaftLinks> links;
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();

  uv_loop_t loop{};
  uv_async_t wake{};
  uv_timer_t poll{};
  struct raft_io io{};
  struct raft_uv_transport transport{};
  struct raft_fsm fsm{};
  struct raft raft{};
  bool raft_inited = false;
  std::string error;  // why start() failed, with libraft's own message
  int (*orig_random)(struct raft_io*, int, int) = nullptr;
  std::mt19937 rng{std::random_device{}()};

  raft_uv_accept_cb accept_cb = nullptr;
  bool transport_closing = false;
  bool raft_closing = false;  // begin_close() called: no new barriers
  // Shared: the link layer may drop a connect callback without calling it (its group stopped);
  // the PendingConnect is then freed with the callback instead of leaking (LSan, session 2).
  std::set<std::shared_ptr<PendingConnect>> pending;

  Bytes apply_result;
  // Commit notification: libraft tells followers a new commit index only with the next
  // AppendEntries (a heartbeat, 500 ms). A barrier after each committed command carries it
  // at once, so followers — and the collection followers they serve — see a round open or
  // finalize within one round trip instead of half a heartbeat. Coalesced: one in flight.
  bool commit_notify_inflight = false;
  bool commit_notify_dirty = false;
  void notify_commit() {
    // Never during raft_close: it fails pending barriers, and a barrier issued from that
    // callback touches a raft that is being torn down (SIGSEGV in raft_barrier, bench-group).
    if (raft_closing) return;
    if (commit_notify_inflight) {
      commit_notify_dirty = true;
      return;
    }
    if (raft.state != RAFT_LEADER) return;
    commit_notify_inflight = true;
    commit_notify_dirty = false;
    auto* req = new RaftBarrierReq{};
    req->data = this;
    int rv = raft_barrier(&raft, req, [](RaftBarrierReq* r, int status) {
      auto* self = static_cast<Impl*>(r->data);
      delete r;
      self->commit_notify_inflight = false;
      if (status == 0 && self->commit_notify_dirty) self->notify_commit();
    });
    if (rv != 0) {
      delete req;
      commit_notify_inflight = false;
    }
  }
  std::shared_ptr<const void> snap_ref;
  Bytes snap_bytes;
  struct raft_buffer snap_buf{};

  std::thread thread;
  bool running = false;
  mutable std::mutex status_mu;
  RaftStatus status;
  std::function<void(const RaftStatus&)> status_cb;

  static thread_local Impl* tls;

  void post(std::function<void()> f) { mailbox->post(std::move(f)); }

  uv_stream_t* make_stream(int fd) {
    // Handed to libraft, which overwrites ->data, closes and raft_free()s it (pitfall 20).
    auto* pipe = static_cast<uv_pipe_t*>(raft_malloc(sizeof(uv_pipe_t)));
    if (!pipe) {
      ::close(fd);
      return nullptr;
    }
    uv_pipe_init(&loop, pipe, 0);
    if (uv_pipe_open(pipe, fd) != 0) {  // also makes the fd non-blocking
      ::close(fd);
      uv_close(reinterpret_cast<uv_handle_t*>(pipe),
               [](uv_handle_t* h) { raft_free(h); });
      return nullptr;
    }
    return reinterpret_cast<uv_stream_t*>(pipe);
  }

  // ---------------------------------------------------------------- transport (raft side)
  static Impl* of(struct raft_uv_transport* t) { return static_cast<Impl*>(t->impl); }

  static int t_init(struct raft_uv_transport*, raft_id, const char*) { return 0; }
  static int t_listen(struct raft_uv_transport* t, raft_uv_accept_cb cb) {
    of(t)->accept_cb = cb;
    return 0;
  }
  static int t_connect(struct raft_uv_transport* t, struct raft_uv_connect* req, raft_id id,
                       const char* address, raft_uv_connect_cb cb) {
    Impl* self = of(t);
    auto pc = std::make_shared<PendingConnect>(PendingConnect{req, cb});
    self->pending.insert(pc);
    std::weak_ptr<Mailbox> mb = self->mailbox;
    self->links->connect(id, address, [self, pc, mb](int fd) {
      auto box = mb.lock();
      if (!box || !box->post([self, pc, fd] { self->finish_connect(pc, fd); })) {
        if (fd >= 0) ::close(fd);
      }
    });
    return 0;
  }
  void finish_connect(const std::shared_ptr<PendingConnect>& pc, int fd) {
    pending.erase(pc);
    if (pc->cancelled || transport_closing) {
      if (fd >= 0) ::close(fd);  // its callback already fired with RAFT_CANCELED
      return;
    }
    uv_stream_t* s = fd >= 0 ? make_stream(fd) : nullptr;
    pc->cb(pc->req, s, s ? 0 : RAFT_NOCONNECTION);
  }
  static void t_close(struct raft_uv_transport* t, raft_uv_transport_close_cb cb) {
    Impl* self = of(t);
    self->transport_closing = true;
    self->accept_cb = nullptr;
    // Every pending connect must fire RAFT_CANCELED before our own close callback, or
    // raft_close never completes (pitfall 21).
    // Swap first: a callback must not be able to modify the set while it is walked.
    std::set<std::shared_ptr<PendingConnect>> cancelled;
    cancelled.swap(self->pending);
    for (const auto& pc : cancelled) {
      pc->cancelled = true;
      pc->cb(pc->req, nullptr, RAFT_CANCELED);
    }  // freed when their link callbacks answer or are dropped
    self->post([t, cb] { cb(t); });
  }

  void accept_inbound(std::uint64_t id, const std::string& address, int fd) {
    if (!accept_cb || transport_closing) {
      ::close(fd);
      return;
    }
    if (uv_stream_t* s = make_stream(fd)) accept_cb(&transport, id, address.c_str(), s);
  }

  // ---------------------------------------------------------------- FSM (version 3)
  static Impl* of(struct raft_fsm* f) { return static_cast<Impl*>(f->data); }
  static int f_apply(struct raft_fsm* f, const struct raft_buffer* buf, void** result) {
    Impl* self = of(f);
    // libraft calls the proposer's callback synchronously after apply, so one member buffer
    // carries the result; followers have no callback and nothing leaks.
    auto cmd = unframe(buf);
    self->apply_result = cmd ? self->sm->apply(*cmd) : Bytes{};
    *result = &self->apply_result;
    return 0;
  }
  static int f_snapshot(struct raft_fsm* f, struct raft_buffer* bufs[], unsigned* n) {
    Impl* self = of(f);
    self->snap_ref = self->sm->snapshot_ref();  // cheap, on the loop
    *bufs = nullptr;
    *n = 0;
    return 0;
  }
  static int f_snapshot_async(struct raft_fsm* f, struct raft_buffer* bufs[], unsigned* n) {
    Impl* self = of(f);  // libuv thread pool: the expensive encoding happens here
    Bytes encoded = self->sm->encode_snapshot(self->snap_ref);
    // Same LE64 length framing and 8-byte padding as log entries.
    self->snap_bytes.assign(8 + (encoded.size() + 7) / 8 * 8, 0);
    zipnet::proto::put_le64(self->snap_bytes.data(), encoded.size());
    std::copy(encoded.begin(), encoded.end(), self->snap_bytes.begin() + 8);
    self->snap_buf.base = self->snap_bytes.data();
    self->snap_buf.len = self->snap_bytes.size();
    *bufs = &self->snap_buf;
    *n = 1;
    return 0;
  }
  static int f_snapshot_finalize(struct raft_fsm* f, struct raft_buffer* bufs[], unsigned* n) {
    Impl* self = of(f);
    self->snap_ref.reset();
    Bytes().swap(self->snap_bytes);
    *bufs = nullptr;
    *n = 0;
    return 0;
  }
  static int f_restore(struct raft_fsm* f, struct raft_buffer* buf) {
    Impl* self = of(f);
    auto data = unframe(buf);
    bool ok = data && self->sm->restore(*data);
    raft_free(buf->base);  // restore takes ownership
    return ok ? 0 : RAFT_CORRUPT;
  }

  // libraft draws election timeouts from [T, 2T); the spec wants T + U[0, jitter] (pitfall 6).
  static int wrapped_random(struct raft_io* io, int min, int max) {
    Impl* self = tls;
    if (self && static_cast<unsigned>(min) == self->cfg.election_timeout_ms &&
        static_cast<unsigned>(max) == 2 * self->cfg.election_timeout_ms) {
      std::uniform_int_distribution<int> d(0, static_cast<int>(self->cfg.election_jitter_ms));
      return min + d(self->rng);
    }
    return self && self->orig_random ? self->orig_random(io, min, max) : min;
  }

  // ---------------------------------------------------------------- lifecycle (loop thread)
  int init_and_start(bool bootstrap) {
    tls = this;
    transport.impl = this;  // raft_uv overwrites ->data (pitfall 19)
    transport.init = t_init;
    transport.listen = t_listen;
    transport.connect = t_connect;
    transport.close = t_close;
    fsm.version = 3;
    fsm.data = this;
    fsm.apply = f_apply;
    fsm.snapshot = f_snapshot;
    fsm.restore = f_restore;
    fsm.snapshot_finalize = f_snapshot_finalize;
    fsm.snapshot_async = f_snapshot_async;

    std::error_code ec;
    std::filesystem::create_directories(cfg.dir, ec);
    int rv = raft_uv_init(&io, &loop, cfg.dir.c_str(), &transport);
    if (rv != 0) {
      error = std::string("raft_uv_init: ") + io.errmsg;
      return rv;
    }
    raft_uv_set_connect_retry_delay(&io, cfg.connect_retry_ms);
    // bookworm's raft_uv_init fills in async_work (a version-2 field) but still reports
    // version 1, and raft_init refuses FSM version 3 (async snapshots) on a version-1 io.
    if (io.version < 2 && io.async_work != nullptr) io.version = 2;
    orig_random = io.random;
    io.random = wrapped_random;
    rv = raft_init(&raft, &io, &fsm, cfg.id, cfg.address.c_str());
    if (rv != 0) {
      error = std::string("raft_init: ") + raft_errmsg(&raft);
      raft_uv_close(&io);
      return rv;
    }
    raft_inited = true;
    raft_set_election_timeout(&raft, cfg.election_timeout_ms);
    raft_set_heartbeat_timeout(&raft, cfg.heartbeat_ms);
    raft_set_pre_vote(&raft, true);
    raft_set_snapshot_threshold(&raft, cfg.snapshot_threshold);
    raft_set_snapshot_trailing(&raft, cfg.snapshot_trailing);
    if (bootstrap) {
      struct raft_configuration conf;
      raft_configuration_init(&conf);
      raft_configuration_add(&conf, cfg.id, cfg.address.c_str(), RAFT_VOTER);
      rv = raft_bootstrap(&raft, &conf);
      raft_configuration_close(&conf);
      if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {  // CANTBOOTSTRAP: state exists, harmless
        error = std::string("raft_bootstrap: ") + raft_errmsg(&raft);
        return rv;
      }
    }
    rv = raft_start(&raft);
    if (rv != 0) {
      error = std::string("raft_start: ") + raft_errmsg(&raft);
      return rv;
    }
    uv_timer_start(&poll, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->poll_status(); }, 0, 50);
    return 0;
  }

  void poll_status() {
    RaftStatus s;
    switch (raft_state(&raft)) {
      case RAFT_FOLLOWER: s.role = RaftRole::follower; break;
      case RAFT_CANDIDATE: s.role = RaftRole::candidate; break;
      case RAFT_LEADER: s.role = RaftRole::leader; break;
      default: s.role = RaftRole::unavailable;
    }
    raft_id lid = 0;
    const char* laddr = nullptr;
    raft_leader(&raft, &lid, &laddr);
    s.leader_id = lid;
    if (laddr) s.leader_address = laddr;
    s.term = raft.current_term;
    s.last_index = raft_last_index(&raft);
    s.commit_index = raft.commit_index;
    s.applied_index = raft_last_applied(&raft);
    for (unsigned i = 0; i < raft.configuration.n; ++i) {
      const auto& srv = raft.configuration.servers[i];
      s.configuration.push_back({srv.id, srv.address ? srv.address : "", srv.role});
    }
    bool changed;
    {
      std::lock_guard lk(status_mu);
      changed = s.role != status.role || s.leader_id != status.leader_id || s.term != status.term ||
                s.last_index != status.last_index || s.commit_index != status.commit_index ||
                s.applied_index != status.applied_index ||
                s.configuration.size() != status.configuration.size();
      if (!changed)
        for (std::size_t i = 0; i < s.configuration.size(); ++i)
          changed |= s.configuration[i].id != status.configuration[i].id ||
                     s.configuration[i].role != status.configuration[i].role;
      status = s;
    }
    if (changed && status_cb) status_cb(s);
  }

  void drain() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard lk(mailbox->mu);
      tasks.swap(mailbox->tasks);
    }
    for (auto& t : tasks) t();
  }

  void begin_close() {
    uv_timer_stop(&poll);
    raft_closing = true;
    if (raft_inited) {
      raft.data = this;
      raft_close(&raft, [](struct raft* r) {
        auto* self = static_cast<Impl*>(r->data);
        raft_uv_close(&self->io);
        self->close_handles();
      });
    } else {
      close_handles();
    }
  }
  void close_handles() {
    {
      std::lock_guard lk(mailbox->mu);
      mailbox->closed = true;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
  }
};

thread_local RaftEngine::Impl* RaftEngine::Impl::tls = nullptr;

RaftEngine::RaftEngine(RaftEngineConfig config, std::shared_ptr<RaftStateMachine> sm,
                       std::shared_ptr<RaftLinks> links)
    : impl_(std::make_unique<Impl>()) {
  impl_->cfg = std::move(config);
  impl_->sm = std::move(sm);
  impl_->links = std::move(links);
}

RaftEngine::~RaftEngine() { stop(); }

int RaftEngine::start(bool bootstrap) {
  if (impl_->running) return RAFT_BUSY;
  // libuv writes to closed peers raise SIGPIPE: ignore it process-wide (pitfall 22).
  ::signal(SIGPIPE, SIG_IGN);
  Impl* self = impl_.get();
  std::promise<int> started;
  auto fut = started.get_future();
  self->thread = std::thread([self, bootstrap, &started] {
    uv_loop_init(&self->loop);
    uv_async_init(&self->loop, &self->wake, [](uv_async_t* a) { static_cast<Impl*>(a->data)->drain(); });
    self->wake.data = self;
    self->mailbox->async = &self->wake;
    uv_timer_init(&self->loop, &self->poll);
    self->poll.data = self;
    int rv = self->init_and_start(bootstrap);
    started.set_value(rv);
    if (rv != 0) self->begin_close();
    uv_run(&self->loop, UV_RUN_DEFAULT);
    uv_loop_close(&self->loop);
  });
  int rv = fut.get();
  impl_->running = true;  // the thread runs (and must be joined) even when start failed
  if (rv != 0) stop();
  return rv;
}

void RaftEngine::stop() {
  if (!impl_->running) return;
  Impl* self = impl_.get();
  self->post([self] { self->begin_close(); });
  if (self->thread.joinable()) self->thread.join();
  impl_->running = false;
}

void RaftEngine::accept(std::uint64_t raft_id, const std::string& address, int fd) {
  Impl* self = impl_.get();
  if (!self->mailbox->post([self, raft_id, address, fd] { self->accept_inbound(raft_id, address, fd); }))
    ::close(fd);
}

void RaftEngine::apply(Bytes command, ApplyDone done) {
  Impl* self = impl_.get();
  auto task = [self, command = std::move(command), done]() mutable {
    struct Req {
      RaftApplyReq req;
      ApplyDone done;
      Impl* self;
    };
    auto* r = new Req{};
    r->req.data = r;
    r->done = std::move(done);
    r->self = self;
    struct raft_buffer buf = frame_command(command);
    if (!buf.base) {
      r->done(RAFT_NOMEM, {});
      delete r;
      return;
    }
    int rv = raft_apply(&self->raft, &r->req, &buf, 1,
                        [](RaftApplyReq* req, int status, void* result) {
                          auto* rr = static_cast<Req*>(req->data);
                          Bytes out;
                          if (status == 0 && result) out = *static_cast<Bytes*>(result);
                          if (status == 0) rr->self->notify_commit();
                          rr->done(status, std::move(out));
                          delete rr;
                        });
    if (rv != 0) {
      raft_free(buf.base);  // ownership passes to raft only on success
      r->done(rv, {});
      delete r;
    }
  };
  if (!self->mailbox->post(std::move(task))) done(RAFT_SHUTDOWN, {});
}

void RaftEngine::barrier(Done done) {
  Impl* self = impl_.get();
  auto task = [self, done] {
    struct Req {
      RaftBarrierReq req;
      Done done;
    };
    auto* r = new Req{};
    r->req.data = r;
    r->done = done;
    int rv = raft_barrier(&self->raft, &r->req, [](RaftBarrierReq* req, int status) {
      auto* rr = static_cast<Req*>(req->data);
      rr->done(status);
      delete rr;
    });
    if (rv != 0) {
      r->done(rv);
      delete r;
    }
  };
  if (!self->mailbox->post(std::move(task))) done(RAFT_SHUTDOWN);
}

namespace {
struct ChangeReq {
  RaftChangeReq req;
  RaftEngine::Done done;
  std::string address;
};
void change_cb(RaftChangeReq* req, int status) {
  auto* rr = static_cast<ChangeReq*>(req->data);
  rr->done(status);
  delete rr;
}
}  // namespace

void RaftEngine::add(std::uint64_t id, const std::string& address, Done done) {
  Impl* self = impl_.get();
  auto task = [self, id, address, done] {
    auto* r = new ChangeReq{{}, done, address};
    r->req.data = r;
    int rv = raft_add(&self->raft, &r->req, id, r->address.c_str(), change_cb);
    if (rv != 0) {
      r->done(rv);
      delete r;
    }
  };
  if (!self->mailbox->post(std::move(task))) done(RAFT_SHUTDOWN);
}

void RaftEngine::assign(std::uint64_t id, int role, Done done) {
  Impl* self = impl_.get();
  auto task = [self, id, role, done] {
    auto* r = new ChangeReq{{}, done, {}};
    r->req.data = r;
    int rv = raft_assign(&self->raft, &r->req, id, role, change_cb);
    if (rv != 0) {
      r->done(rv);
      delete r;
    }
  };
  if (!self->mailbox->post(std::move(task))) done(RAFT_SHUTDOWN);
}

void RaftEngine::remove(std::uint64_t id, Done done) {
  Impl* self = impl_.get();
  auto task = [self, id, done] {
    auto* r = new ChangeReq{{}, done, {}};
    r->req.data = r;
    int rv = raft_remove(&self->raft, &r->req, id, change_cb);
    if (rv != 0) {
      r->done(rv);
      delete r;
    }
  };
  if (!self->mailbox->post(std::move(task))) done(RAFT_SHUTDOWN);
}

void RaftEngine::transfer(std::uint64_t id, Done done) {
  Impl* self = impl_.get();
  auto task = [self, id, done] {
    struct Req {
      RaftTransferReq req;
      Done done;
    };
    auto* r = new Req{};
    r->req.data = r;
    r->done = done;
    int rv = raft_transfer(&self->raft, &r->req, id, [](RaftTransferReq* req) {
      auto* rr = static_cast<Req*>(req->data);
      rr->done(0);
      delete rr;
    });
    if (rv != 0) {
      r->done(rv);
      delete r;
    }
  };
  if (!self->mailbox->post(std::move(task))) done(RAFT_SHUTDOWN);
}

RaftStatus RaftEngine::status() const {
  std::lock_guard lk(impl_->status_mu);
  return impl_->status;
}

void RaftEngine::on_status(std::function<void(const RaftStatus&)> cb) {
  Impl* self = impl_.get();
  if (!self->running) {
    self->status_cb = std::move(cb);
    return;
  }
  self->post([self, cb = std::move(cb)] { self->status_cb = cb; });
}

const RaftEngineConfig& RaftEngine::config() const { return impl_->cfg; }
const std::string& RaftEngine::last_error() const { return impl_->error; }

}  // namespace mosaik::groups
