#include "mosaik/groups/loopback_links.h"

#include <sys/socket.h>
#include <unistd.h>

namespace mosaik::groups {
namespace {

class HubLinks : public RaftLinks {
 public:
  HubLinks(std::weak_ptr<LoopbackHub> hub, std::uint64_t id, std::string address)
      : hub_(std::move(hub)), id_(id), address_(std::move(address)) {}
  void connect(std::uint64_t raft_id, const std::string&, std::function<void(int)> done) override {
    if (auto hub = hub_.lock())
      hub->connect(id_, address_, raft_id, std::move(done));
    else
      done(-1);
  }

 private:
  std::weak_ptr<LoopbackHub> hub_;
  std::uint64_t id_;
  std::string address_;
};

}  // namespace

void LoopbackHub::attach(std::uint64_t id, RaftEngine* engine) {
  std::lock_guard lk(mu_);
  engines_[id] = engine;
}

void LoopbackHub::detach(std::uint64_t id) {
  cut(id);
  std::lock_guard lk(mu_);
  engines_.erase(id);
}

std::shared_ptr<RaftLinks> LoopbackHub::links_for(std::uint64_t id, const std::string& address) {
  return std::make_shared<HubLinks>(weak_from_this(), id, address);
}

bool LoopbackHub::blocked(std::uint64_t a, std::uint64_t b) const {
  return blocked_.count({a, b}) || blocked_.count({b, a});
}

void LoopbackHub::connect(std::uint64_t from, const std::string& from_address, std::uint64_t to,
                          std::function<void(int)> done) {
  int fds[2] = {-1, -1};
  {
    // accept() only posts to the target's loop; doing it under the lock guarantees that a
    // detach()ed engine (about to be destroyed) is never called.
    std::lock_guard lk(mu_);
    auto it = engines_.find(to);
    if (it == engines_.end() || blocked(from, to) ||
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      fds[0] = -1;
    } else {
      conns_.push_back(Conn{from, to, ::dup(fds[0])});
      it->second->accept(from, from_address, fds[1]);
    }
  }
  done(fds[0]);
}

void LoopbackHub::partition(const std::set<std::uint64_t>& a, const std::set<std::uint64_t>& b) {
  std::lock_guard lk(mu_);
  for (auto x : a)
    for (auto y : b) blocked_.insert({x, y});
  std::vector<Conn> keep;
  for (auto& c : conns_) {
    if (blocked(c.a, c.b)) {
      ::shutdown(c.dup_fd, SHUT_RDWR);
      ::close(c.dup_fd);
    } else {
      keep.push_back(c);
    }
  }
  conns_.swap(keep);
}

void LoopbackHub::heal() {
  std::lock_guard lk(mu_);
  blocked_.clear();
}

void LoopbackHub::cut(std::uint64_t id) {
  std::lock_guard lk(mu_);
  std::vector<Conn> keep;
  for (auto& c : conns_) {
    if (c.a == id || c.b == id) {
      ::shutdown(c.dup_fd, SHUT_RDWR);
      ::close(c.dup_fd);
    } else {
      keep.push_back(c);
    }
  }
  conns_.swap(keep);
}

}  // namespace mosaik::groups
